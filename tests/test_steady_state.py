"""When a warm-up may end: windows of /metrics counts, their agreement, and the TTL floor."""

from __future__ import annotations

import pytest

from cachebench.run.steady_state import SettleWatch, Window, agree, ttl_floor_s, window_between
from cachebench.serve.settings import load_settings

OPS = "cachebench_cache_operations_total"


def _scrape(**counts: float) -> dict[tuple[str, tuple], float]:
    """``l1_hit=5, redis_miss=2`` as parsed /metrics samples."""
    samples = {}
    for name, value in counts.items():
        layer, result = name.split("_")
        samples[(OPS, (("layer", layer), ("result", result)))] = value
    return samples


def test_a_window_counts_reads_at_the_nearest_layer_and_hits_at_every_layer():
    before = _scrape(l1_hit=10, l1_miss=10, redis_hit=2, redis_miss=8)
    after = _scrape(l1_hit=70, l1_miss=30, redis_hit=12, redis_miss=18)
    window = window_between(before, after)
    assert (window.reads, window.answered) == (80, 70)  # l1 saw 80 reads; l1 60 + redis 10 hits
    assert window.hit_ratio == pytest.approx(70 / 80)
    assert window_between(before, before).hit_ratio is None


def test_windows_agree_within_the_tolerance_or_their_noise():
    assert agree(Window(100_000, 86_000), Window(100_000, 86_400))  # 0.4 pp, noise 0.3 pp
    assert not agree(Window(100_000, 86_000), Window(100_000, 87_000))  # 1 pp: still moving
    assert agree(Window(400, 340), Window(400, 348))  # 2 pp, but noise at 400 reads is ~5 pp
    assert not agree(Window(400, 200), Window(400, 340))
    assert not agree(Window(0, 0), Window(400, 340))


def test_settled_needs_agreement_twice_in_a_row_and_the_ttl_floor():
    watch = SettleWatch(floor_s=6.0)
    ratios = [0.30, 0.60, 0.80, 0.86, 0.86, 0.86, 0.86]
    scrapes = [_scrape(l1_hit=0, l1_miss=0)]
    hits = misses = 0.0
    for ratio in ratios:
        hits, misses = hits + 10_000 * ratio, misses + 10_000 * (1 - ratio)
        scrapes.append(_scrape(l1_hit=hits, l1_miss=misses))
    settled_at = []
    for elapsed_s, scrape in enumerate(scrapes):
        watch.observe(scrape)
        settled_at.append(watch.settled(float(elapsed_s)))
    # windows 4-5 and 5-6 agree at t=5 (two agreements), but the 6 s floor holds it to t=6
    assert settled_at == [False, False, False, False, False, False, True, True]
    record = watch.record(6.0, True)
    assert record["settled"] is True and len(record["hit_ratio_by_window"]) == len(ratios)


def test_a_target_without_cache_is_settled_at_once_and_the_floor_is_the_largest_ttl():
    assert SettleWatch(floor_s=0.0, caches=False).settled(0.0)
    settings = load_settings(l1_ttl_s=5, redis_ttl_s=40)
    assert ttl_floor_s(("l1", "redis"), settings) == 40
    assert ttl_floor_s(("l1",), settings) == 5
    assert ttl_floor_s((), settings) == 0
