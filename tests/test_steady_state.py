"""When a warm-up may end (windows of /metrics counts, their agreement, the bound that acted), and
that a cell measured after it sits at the analytic steady state."""

from __future__ import annotations

import pytest

from analysis.analytic_hit_ratio import lru_hit_ratio, ttl_hit_ratio, zipf_popularity
from cachebench.results import CellSummary
from cachebench.run.matrix import clients_keep_caches
from cachebench.run.warmup_settle import TTL_PASSES, SettleWatch, Window, agree, ttl_by_layer, window_between
from cachebench.settings import load_settings

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


def test_settled_needs_agreement_twice_in_a_row_and_the_ttl_passed():
    watch = SettleWatch(ttl_s_by_layer={"l1": 6.0 / TTL_PASSES})
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
    # windows 4-5 and 5-6 agree at t=5 (two agreements), but two passes of the 3 s TTL hold it to t=6
    assert settled_at == [False, False, False, False, False, False, True, True]
    record = watch.record("steady_state", 6.0, True)
    assert record.settled is True and len(record.hit_ratio_by_window) == len(ratios)


def test_an_evicting_layer_needs_no_ttl_to_pass():
    watch = SettleWatch(ttl_s_by_layer={"l1": 3600.0, "redis": 3600.0})
    steady = [_scrape(l1_hit=8_000 * i, l1_miss=2_000 * i, l1_eviction=100 * i) for i in range(5)]
    for scrape in steady:
        watch.observe(scrape)
    assert not watch.settled(10.0)  # l1 evicts, but redis has neither evicted nor expired
    watch.ttl_s_by_layer = {"l1": 3600.0}
    assert watch.settled(10.0)


def test_a_target_without_cache_is_settled_after_one_window_and_ttls_come_from_settings():
    assert not SettleWatch(caches=False).settled(0.0)
    assert SettleWatch(caches=False).settled(2.0)
    settings = load_settings(l1_ttl_s=5, redis_ttl_s=40)
    assert ttl_by_layer(("l1", "redis"), settings) == {"l1": 5, "redis": 40}
    assert ttl_by_layer((), settings) == {}
    assert ttl_by_layer(("cashews",), settings) == {"cashews": 5}
    assert ttl_by_layer(("cashews-redis",), settings, library_redis=True) == {"cashews-redis": 40}


def test_browsers_that_keep_caches_are_given_two_max_ages_and_only_where_they_cache():
    watch = SettleWatch(caches=False, client_ttl_s=10.0)
    assert not watch.settled(19.0) and watch.settled(20.0)
    assert watch.record("steady_state", 20.0, True).client_ttl_s == 10.0
    assert clients_keep_caches("browser_clients")
    assert not clients_keep_caches("read_heavy") and not clients_keep_caches("no_such_scenario")


# -- live: a fixed-rate cell measured at steady state agrees with the analytic models -----------

KEYS, ALPHA = 10_000, 0.99
RATE_PER_S = 1200.0
#: The issue's bound on measured against analytic steady state; ~12k reads give ~0.45 pp of noise.
TOLERANCE = 0.01


def _steady_cell(tmp_path, settings: dict[str, object]) -> CellSummary:
    from cachebench.results import SUMMARY_FILE, cell_dir, read_manifest, read_summary
    from cachebench.run.driver import run_bench
    from cachebench.run.matrix import load_matrix

    matrix = load_matrix(
        None,
        {
            "label": "steady", "targets": ["l1"], "scenarios": ["read_only"], "duration_s": 10,
            "warmup_s": 40, "settings": {"model": {"origin_latency_ms": 2, **settings}},
            "modes": [{"kind": "fixed_rate", "users": 24, "offered_rate_per_s": RATE_PER_S}],
        },
    )  # fmt: skip
    run_dir = run_bench(matrix, results_root=tmp_path)
    cell = read_manifest(run_dir).cells[0]
    assert cell.status == "complete", cell.reason
    return read_summary(cell_dir(run_dir, cell.name) / SUMMARY_FILE)


def test_a_ttl_bound_l1_settles_after_its_ttl_and_matches_the_renewal_formula(tmp_path):
    ttl_s = 4.0
    summary = _steady_cell(tmp_path, {"l1_ttl_s": ttl_s})
    warmup, headline = summary.warmup, summary.headline
    assert warmup.kind == "steady_state" and warmup.settled, warmup
    assert TTL_PASSES * ttl_s <= warmup.seconds < 40
    expected = ttl_hit_ratio(zipf_popularity(KEYS, ALPHA), headline.achieved_rate_per_s, ttl_s)
    assert headline.hit_ratio_by_layer["l1"] == pytest.approx(expected, abs=TOLERANCE)
    # The keep-warm read again only once Locust stopped its users (the loads never overlap), and
    # the summary says when, from Locust's own stop time.
    after = summary.after_recorded_s
    assert after.keep_warm_resumed_s > 0 and after.generator_exited_s > 0, after


def test_a_size_bound_l1_settles_once_it_evicts_and_matches_ches_approximation(tmp_path):
    capacity = 500
    summary = _steady_cell(tmp_path, {"l1_ttl_s": 3600, "l1_max_entries": capacity})
    warmup, headline = summary.warmup, summary.headline
    assert warmup.settled and warmup.evicting == ["l1"], warmup
    expected = lru_hit_ratio(zipf_popularity(KEYS, ALPHA), capacity)
    assert headline.hit_ratio_by_layer["l1"] == pytest.approx(expected, abs=TOLERANCE)
