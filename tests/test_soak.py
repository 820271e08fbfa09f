"""Soak analysis on synthetic samples: a known slope is recovered; growth beyond the cache is flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.run_report.soak import MB, beyond_bound, cell_slopes, slope

SECONDS = 600


def _samples(rss_mb_per_min: float, l1_mb_per_min: float, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(1, SECONDS + 1, dtype=float)
    noise = rng.normal(0, 0.5 * MB, len(t))
    return pd.DataFrame(
        {
            "t_s": t,
            "target_processes": 1,
            "target_rss_max_process_bytes": 80 * MB + rss_mb_per_min * MB * t / 60 + noise,
            "l1_bytes": 5 * MB + l1_mb_per_min * MB * t / 60,
            "redis_used_memory_bytes": 3 * MB + rng.normal(0, 0.01 * MB, len(t)),
            "redis_keys": 2000.0,
        }
    )


@pytest.mark.parametrize("true_mb_per_min", [0.0, 0.4, -0.2, 2.0])
def test_a_known_slope_is_recovered_within_its_interval(true_mb_per_min: float) -> None:
    samples = _samples(true_mb_per_min, 0.0)
    found = slope(samples["t_s"], samples["target_rss_max_process_bytes"])
    assert found is not None and found.samples == SECONDS
    assert found.low <= true_mb_per_min <= found.high
    assert found.mb_per_min == pytest.approx(true_mb_per_min, abs=0.05)
    assert found.high - found.low < 0.2  # 600 noisy samples pin it down


def test_growth_with_the_cache_at_its_bound_is_flagged() -> None:
    rows = {r["series"]: r for r in cell_slopes(_samples(rss_mb_per_min=1.0, l1_mb_per_min=0.0))}
    assert rows["worker RSS"]["flagged"] is True
    assert rows["Redis used_memory"]["flagged"] is False  # flat


def test_growth_the_filling_cache_explains_is_not_flagged() -> None:
    rows = {r["series"]: r for r in cell_slopes(_samples(rss_mb_per_min=1.0, l1_mb_per_min=1.2))}
    assert rows["worker RSS"]["flagged"] is False
    assert rows["L1 bytes"]["slope"].mb_per_min == pytest.approx(1.2, abs=0.01)


def test_flat_memory_is_not_flagged_and_short_cells_are_left_out() -> None:
    assert not any(r["flagged"] for r in cell_slopes(_samples(0.0, 0.0)))
    assert cell_slopes(_samples(5.0, 0.0).head(10)) == []


def test_the_flag_needs_the_whole_interval_above_the_cache() -> None:
    minutes = np.arange(10.0)
    # Symmetric noise is orthogonal to time: the fit is exactly 0.5 MB/min, with a wide interval.
    noise_mb = np.array([3, -3, 3, -3, 0, 0, -3, 3, -3, 3])
    memory = slope(minutes * 60, (minutes * 0.5 + noise_mb) * MB)
    assert memory is not None and memory.mb_per_min == pytest.approx(0.5)
    assert memory.low < 0 < memory.high
    assert beyond_bound(memory, None) is False
