"""Ratios of means over repetitions, with bootstrap confidence intervals.

A strategy is compared with a baseline (or run B with run A) as mean(strategy reps) /
mean(baseline reps). The 95% interval comes from a two-sample percentile bootstrap: both sets of
repetitions are resampled with replacement, independently, and the ratio recomputed each time.
A difference counts as real only when the whole interval lies on one side of 1; an interval
that touches or spans 1 — including [1, 1] from identical inputs — is "not significant".
With fewer than two repetitions on either side there is no interval: no confidence can be given.

Few repetitions make percentile-bootstrap intervals too narrow (with n = 2 the resampled mean
takes only three values); the report says how many repetitions each interval rests on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000
#: Fixed, so the same data always gives the same interval (reports are reproducible).
SEED = 20261126


@dataclass(frozen=True)
class RatioCI:
    """mean(numerator) / mean(denominator), with its bootstrap interval when one can be given."""

    ratio: float | None
    low: float | None
    high: float | None
    n_numerator: int
    n_denominator: int
    confidence: float = CONFIDENCE

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def significant(self) -> bool | None:
        """True when the interval excludes 1, False when it includes it, None without an interval."""
        if not self.has_interval:
            return None
        return self.low > 1.0 or self.high < 1.0

    @property
    def n(self) -> int:
        """Repetitions the interval rests on (the smaller side)."""
        return min(self.n_numerator, self.n_denominator)

    def verdict(self) -> str:
        """``significant``, ``not significant`` or ``no confidence (n repetition[s])``."""
        if self.ratio is None:
            return "no ratio"
        if self.significant is None:
            return f"no confidence can be given ({self.n} repetition{'s' if self.n != 1 else ''})"
        return "significant" if self.significant else "not significant"


def _clean(values: Sequence[float]) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], dtype=float)
    return array[np.isfinite(array)]


def bootstrap_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> RatioCI:
    """The ratio of means with a percentile-bootstrap interval (None bounds when n < 2 either side)."""
    num, den = _clean(numerator), _clean(denominator)
    if num.size == 0 or den.size == 0 or den.mean() == 0:
        return RatioCI(None, None, None, int(num.size), int(den.size), confidence)
    ratio = float(num.mean() / den.mean())
    if num.size < 2 or den.size < 2:
        return RatioCI(ratio, None, None, int(num.size), int(den.size), confidence)
    rng = np.random.default_rng(seed)
    num_means = num[rng.integers(0, num.size, size=(resamples, num.size))].mean(axis=1)
    den_means = den[rng.integers(0, den.size, size=(resamples, den.size))].mean(axis=1)
    valid = den_means != 0
    ratios = num_means[valid] / den_means[valid]
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    # Rounding noise must not turn identical inputs ([1, 1]) into a "significant" 0.9999999.
    low, high = float(low), float(high)
    if math.isclose(low, 1.0, rel_tol=1e-12):
        low = 1.0
    if math.isclose(high, 1.0, rel_tol=1e-12):
        high = 1.0
    return RatioCI(ratio, low, high, int(num.size), int(den.size), confidence)
