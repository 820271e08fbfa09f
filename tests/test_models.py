"""The analytic models hold for the real L1 class driven by the real workload stream.

The same models check live steady state (tests/test_steady_state.py); here they are checked
where nothing but the cache and the key stream can differ, on a fake clock.
"""

from __future__ import annotations

import random

import pytest
from conftest import FakeClock

from analysis.analytic_hit_ratio import lru_hit_ratio, ttl_hit_ratio, zipf_popularity
from cachebench.load.workload import WorkloadSpec, operations
from cachebench.serve.backends.l1_backend import MeteredCache
from cachebench.settings import Settings

KEYS = 2_000
ALPHA = 0.99
#: The issue's bound on measured against analytic steady state.
TOLERANCE = 0.01


def _replay(
    cache: MeteredCache, clock: FakeClock, spec: WorkloadSpec, count: int, ttl_s: float, step
) -> float:
    hits = 0
    for _, item_id in operations(spec, count, stream_id="model"):
        clock.tick(step())
        key = str(item_id)
        try:
            cache[key]  # as L1Backend reads: a lookup that refreshes the entry's recency
            hits += 1
        except KeyError:
            cache.put(key, b"v", ttl_s)
    return hits / count


@pytest.mark.parametrize("capacity", [100, 400])
def test_lru_under_zipf_matches_ches_approximation(capacity: int) -> None:
    spec = WorkloadSpec(keys=KEYS, zipf_alpha=ALPHA, write_ratio=0.0, seed=7)
    clock = FakeClock()
    cache = MeteredCache(capacity, timer=clock)
    _replay(cache, clock, spec, 20_000, ttl_s=1e9, step=lambda: 0.001)  # fill and churn first
    measured = _replay(cache, clock, spec, 150_000, ttl_s=1e9, step=lambda: 0.001)
    expected = lru_hit_ratio(zipf_popularity(KEYS, ALPHA), capacity)
    assert measured == pytest.approx(expected, abs=TOLERANCE), (measured, expected)


def test_ttl_cache_under_poisson_arrivals_matches_the_renewal_formula() -> None:
    rate_per_s, ttl_s = 200.0, 2.0
    spec = WorkloadSpec(keys=KEYS, zipf_alpha=ALPHA, write_ratio=0.0, seed=11)
    clock = FakeClock()
    cache = MeteredCache(KEYS * 2, timer=clock)  # never full: only the TTL decides
    gaps = random.Random(3)

    def poisson_gap() -> float:
        return gaps.expovariate(rate_per_s)

    _replay(cache, clock, spec, int(rate_per_s * ttl_s * 10), ttl_s, poisson_gap)  # 10 TTLs of warm-up
    measured = _replay(cache, clock, spec, 150_000, ttl_s, poisson_gap)
    expected = ttl_hit_ratio(zipf_popularity(KEYS, ALPHA), rate_per_s, ttl_s)
    assert measured == pytest.approx(expected, abs=TOLERANCE), (measured, expected)


def test_ttl_cache_with_deleting_writes_matches_the_renewal_formula() -> None:
    """read_heavy's mix: 5% of operations write (same popularity) and delete the cached copy."""
    rate_per_s, ttl_s, write_ratio = 200.0, 4.0, 0.05
    spec = WorkloadSpec(keys=KEYS, zipf_alpha=ALPHA, write_ratio=write_ratio, seed=13)
    clock = FakeClock()
    cache = MeteredCache(KEYS * 2, timer=clock)
    gaps = random.Random(5)
    hits = reads = 0
    for index, (op, item_id) in enumerate(operations(spec, 200_000, stream_id="model")):
        clock.tick(gaps.expovariate(rate_per_s))
        key = str(item_id)
        if op == "write":
            cache.pop(key, None)  # as the l1 target's delete invalidation does
            continue
        measured_now = index >= int(rate_per_s * ttl_s * 10)  # after 10 TTLs of warm-up
        try:
            cache[key]
            hits += measured_now
        except KeyError:
            cache.put(key, b"v", ttl_s)
        reads += measured_now
    expected = ttl_hit_ratio(
        zipf_popularity(KEYS, ALPHA), rate_per_s * (1 - write_ratio), ttl_s, rate_per_s * write_ratio
    )
    assert hits / reads == pytest.approx(expected, abs=TOLERANCE), (hits / reads, expected)
    # Deleting writes cost hits: the same reads without them hit more.
    assert expected < ttl_hit_ratio(zipf_popularity(KEYS, ALPHA), rate_per_s * (1 - write_ratio), ttl_s)


def test_models_answer_the_edges() -> None:
    popularity = zipf_popularity(10, 1.0)
    assert popularity.sum() == pytest.approx(1.0)
    assert lru_hit_ratio(popularity, 10) == 1.0
    assert lru_hit_ratio(popularity, 1) < lru_hit_ratio(popularity, 5) < 1.0
    assert ttl_hit_ratio(popularity, 100.0, 1e-9) == pytest.approx(0.0, abs=1e-6)
    assert ttl_hit_ratio(popularity, 100.0, 1e6) == pytest.approx(1.0, abs=1e-3)


def test_the_reports_model_check_applies_where_the_ttl_model_holds_and_judges_three_ways() -> None:
    from analysis.run_report.analytic_check import expected_l1_hit_ratio, sentence

    options = {"keys": 2_000, "distribution": "zipf", "zipf_alpha": ALPHA, "write_ratio": 0.05}
    expected = expected_l1_hit_ratio(options, Settings(strategy="l1", l1_ttl_s=10, ttl_jitter=0.2), 200.0)
    assert expected == pytest.approx(ttl_hit_ratio(zipf_popularity(2_000, ALPHA), 190.0, 9.0, 10.0))
    assert expected_l1_hit_ratio({**options, "distribution": "uniform"}, Settings(), 200.0) is None
    assert expected_l1_hit_ratio(options, Settings(l1_max_entries=500), 200.0) is None  # size-bound too
    check = {"scenario": "read_heavy", "mode": "rate200", "n": 3, "low": 0.5, "high": 0.6, "expected": 0.56}
    assert "within 1 pp" in sentence({**check, "measured": 0.555, "stderr": 0.001})
    assert "own noise" in sentence({**check, "measured": 0.545, "stderr": 0.01})
    assert "pp off" in sentence({**check, "measured": 0.50, "stderr": 0.001})
