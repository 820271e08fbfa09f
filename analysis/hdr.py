"""Latency from latency.json's HDR histograms: merged per cache outcome, read at many percentiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

from cachebench.results import LatencyRecord


def _spectrum_grid() -> np.ndarray:
    """Percentiles evenly spaced on the 1/(1-q) axis of an HDR spectrum, from 0 to 99.999."""
    nines = np.linspace(0.0, 5.0, 61)
    return np.unique(np.round(100.0 * (1.0 - 10.0**-nines), 6))


SPECTRUM_PERCENTILES = _spectrum_grid()


def percentiles_us(histogram: HdrHistogram, percentiles: Sequence[float]) -> np.ndarray:
    """``histogram.get_value_at_percentile`` for many percentiles in one vectorised pass.

    hdrh walks its ~17,000 counters in Python once per percentile; this gives the same values
    (highest equivalent value of the bucket where the cumulative count reaches the target).
    """
    total = histogram.get_total_count()
    if not total:
        return np.full(len(percentiles), np.nan)
    size = min(histogram.counts_len, histogram.encoder.payload.counts_len)
    counts = np.ctypeslib.as_array(histogram.counts)[:size]
    cumulative = np.cumsum(counts, dtype=np.int64)
    values = []
    for pct in percentiles:
        target = max(int(min(pct, 100.0) * total / 100 + 0.5), 1)
        index = int(np.searchsorted(cumulative, target, side="left"))
        value = histogram.get_value_from_index(index)
        values.append(histogram.get_highest_equivalent_value(value) if pct else value)
    return np.asarray(values, dtype=float)


def add_by_outcome(into: dict[str, HdrHistogram], outcome: str, histogram: HdrHistogram) -> None:
    """Add ``histogram`` to the one ``into`` holds for ``outcome`` (or keep it as that one)."""
    if outcome in into:
        into[outcome].add(histogram)
    else:
        into[outcome] = histogram


def merged_histograms(latency: LatencyRecord, kind: str) -> dict[str, HdrHistogram]:
    """Per cache outcome (and ``all``), every request name's histogram of one kind added up."""
    merged: dict[str, HdrHistogram] = {}
    for key, encoded in latency.histograms.items():
        _, outcome, hist_kind = key.rsplit("|", 2)
        if hist_kind == kind:
            add_by_outcome(merged, outcome, HdrHistogram.decode(encoded))
    return merged
