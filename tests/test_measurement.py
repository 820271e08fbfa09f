"""Measurement listeners: outcome classification, HDR histograms merged across processes, the
coordinated-omission correction, and the files a run leaves (real Locust runs on 127.0.0.1)."""

from __future__ import annotations

import gzip
import os
import random
from collections import Counter

import pytest
from hdrh.histogram import HdrHistogram

# Importing locust would monkey-patch this test process with gevent (see test_scenarios).
SKIP_PATCH = "LOCUST_SKIP_MONKEY_PATCH"
_skip_patch_was_set = SKIP_PATCH in os.environ
os.environ[SKIP_PATCH] = "1"
from test_scenarios import FAST_ORIGIN, assert_counts_match_locust, fake_server, run_locust  # noqa: E402

from cachebench.load import histograms, records  # noqa: E402
from cachebench.load.histograms import Aggregate, Recorder  # noqa: E402
from cachebench.load.outcomes import classify_cache_status  # noqa: E402
from cachebench.load.records import READS_HEADER, RowLog  # noqa: E402
from cachebench.results import READS_PREFIX  # noqa: E402
from cachebench.run.processes.launcher import TargetProcess  # noqa: E402

if not _skip_patch_was_set:
    del os.environ[SKIP_PATCH]

GET = "GET /items/[id]"


@pytest.mark.parametrize(
    ("cache_status", "outcome"),
    [
        ("l1; hit", "l1_hit"),
        ("redis; hit", "redis_hit"),
        ("redis; hit, l1; fwd=miss; stored", "redis_hit"),
        ("redis; fwd=miss; stored, l1; fwd=miss; stored", "miss"),
        ("redis; fwd=miss; stored; collapsed, l1; fwd=miss; stored", "miss"),
        ("redis; fwd=bypass; detail=circuit-open, l1; hit", "l1_hit"),
        ("l1; fwd=bypass; detail=invalidation-gap", "miss"),
        ("redis; fwd=miss; detail=error", "miss"),
        (None, "miss"),
        ("", "miss"),
    ],
)
def test_cache_status_gives_the_layer_that_answered(cache_status, outcome):
    assert classify_cache_status(cache_status) == outcome


def test_versions_are_read_without_parsing_the_body():
    body = b'{"id":12,"version":345,"updated_at":"2026-01-01T00:00:00.000000Z","name":"x","payload":"y"}'
    assert records.body_version(body) == 345
    assert records.body_int(body, b'"id":') == 12
    assert records.body_version(b'{"id":1,"version":7}') == 7
    assert records.body_version(b'{"detail":"Not Found"}') is None
    assert records.body_version(None) is None
    assert records.etag_version('"item-12-v3"') == 3
    assert records.etag_version('W/"me-5-v10"') == 10
    assert records.etag_version(None) is None


def test_merged_histograms_equal_the_sum_of_their_parts():
    rng = random.Random(1)
    parts = [[rng.lognormvariate(7, 1.5) for _ in range(5_000)] for _ in range(2)]
    recorders = [Recorder(), Recorder()]
    reference = histograms.new_histogram()
    for recorder, values in zip(recorders, parts, strict=True):
        for value in values:
            recorder.record(GET, "l1_hit", value, value + 1_000)
            reference.record_value(int(value))
    aggregate = Aggregate()
    for index, recorder in enumerate(recorders):
        # Two reports per process, as a worker sends deltas every few seconds.
        half = {**recorder.drain(), "process": f"worker-{index}", "final": True}
        aggregate.merge(half)
        recorder.record(GET, "miss", 50_000.0)
        aggregate.merge({**recorder.drain(), "process": f"worker-{index}", "final": True})
    merged = aggregate.histograms[f"{GET}|l1_hit|service"]
    assert merged.get_total_count() == 10_000 == reference.get_total_count()
    for percentile in (1, 50, 90, 99, 99.9, 100):
        assert merged.get_value_at_percentile(percentile) == reference.get_value_at_percentile(percentile)
    assert (merged.get_min_value(), merged.get_max_value()) == (
        reference.get_min_value(),
        reference.get_max_value(),
    )
    assert aggregate.histograms[f"{GET}|all|service"].get_total_count() == 10_002
    assert aggregate.histograms[f"{GET}|l1_hit|corrected"].get_total_count() == 10_000
    assert dict(aggregate.per_process) == {"worker-0": 5_001, "worker-1": 5_001}
    report = aggregate.report(
        mode="capacity",
        offered_rate_per_s=None,
        start_s=None,
        full_load_s=None,
        stop_s=None,
        expect_final_reports=True,
        locustfile=None,
        host=None,
        options={},
        measured_from_unix_s=None,
        stopping_unix_s=None,
    )
    assert report.counts == {f"{GET}|all": 10_002, f"{GET}|l1_hit": 10_000, f"{GET}|miss": 2}
    assert report.incomplete_workers == []
    decoded = HdrHistogram.decode(report.histograms[f"{GET}|l1_hit|service"])
    assert decoded.get_value_at_percentile(99) == reference.get_value_at_percentile(99)


def test_the_mean_is_hdrhs_own_from_a_loop_over_the_counts():
    rng = random.Random(7)
    for n in (1, 10, 1000):
        histogram = histograms.new_histogram()
        for _ in range(n):
            histogram.record_value(int(rng.lognormvariate(9, 1.5)))
        summary = histograms.summarize(histogram)
        assert summary.mean_us == pytest.approx(histogram.get_mean_value(), rel=1e-4, abs=0.1)


def test_values_beyond_the_range_are_clamped_not_dropped():
    recorder = Recorder()
    recorder.record(GET, "miss", 90_000_000.0)
    recorder.record(GET, "miss", -5.0)
    histogram = recorder.histograms[(GET, "miss", "service")]
    assert histogram.get_total_count() == 2
    assert histogram.get_max_value() >= histograms.HIGHEST_US


def test_rates_cover_the_full_seconds_after_ramp_up():
    aggregate = Aggregate()
    timeline = []
    for second, (completed, intended) in enumerate([(5, 10), (100, 100), (80, 100), (120, 100), (30, 40)]):
        timeline += [[1_000 + second, "completed", completed], [1_000 + second, "intended", intended]]
    aggregate.merge({"process": "p", "histograms": {}, "timeline": timeline, "browser": {}})
    report = aggregate.report(
        mode="fixed_rate",
        offered_rate_per_s=100.0,
        start_s=1_000.2,
        full_load_s=1_000.9,
        stop_s=1_004.5,
        expect_final_reports=False,
        locustfile=None,
        host=None,
        options={},
        measured_from_unix_s=None,
        stopping_unix_s=None,
    )
    assert (report.window.from_unix_s, report.window.to_unix_s, report.window.seconds) == (1_001, 1_004, 3)
    assert report.intended_rate_per_s == 100.0
    assert report.achieved_rate_per_s == 100.0
    assert report.timeline.per_s["completed"] == [5, 100, 80, 120, 30]


def test_row_logs_appear_only_when_complete(tmp_path):
    rows = RowLog(tmp_path, READS_PREFIX, READS_HEADER)
    rows.write("1.000000,5,1,miss\n")
    rows.flush()
    assert not rows.path.exists()
    rows.close()
    with gzip.open(rows.path, "rt") as file:
        assert file.read() == READS_HEADER + "1.000000,5,1,miss\n"
    assert [p.name for p in tmp_path.iterdir()] == [rows.path.name]


def test_two_worker_processes_merge_into_locusts_own_totals(tmp_path):
    with TargetProcess("l1", FAST_ORIGIN) as target:
        # A graceful stop (the last --stop-timeout wins over run_locust's 0): each closed-loop user
        # finishes the request it has in flight, so answers surely come after Locust began to stop.
        # With an immediate stop they come only if the loop yields before the users are killed.
        stop = ("--stop-timeout", "2")
        run = run_locust("read_heavy", target.url, tmp_path, "--processes", "2", *stop, run_time="3s")
    assert run.returncode == 0, run.output[-3000:]
    latency = run.latency
    assert_counts_match_locust(run)  # merged total == Locust's request count, per route too
    # Locust counts the answers that came as it stopped; we leave them out (their wait includes
    # Locust's own stop), and say how many.
    assert sum(latency.after_stop.values()) > 0
    per_worker = latency.per_worker_counts
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values())
    assert sum(per_worker.values()) == latency.requests
    outcomes = [key for key in latency.histograms if key.startswith(f"{GET}|") and key.endswith("|service")]
    parts = sum(run.histogram(key).get_total_count() for key in outcomes if "|all|" not in key)
    assert parts == run.histogram(f"{GET}|all|service").get_total_count()
    # Every worker logged its own reads and writes; together they are every successful request.
    assert len(list(tmp_path.glob("reads-*.csv.gz"))) == 2
    assert len(run.rows("reads")) == latency.counts[f"{GET}|all"]
    assert len(run.rows("writes")) == latency.counts["PUT /items/[id]|all"]
    assert latency.mode == "capacity" and latency.achieved_rate_per_s > 0


def count_at_or_above(histogram: HdrHistogram, value_us: int) -> int:
    return sum(
        item.count_added_in_this_iter_step
        for item in histogram.get_recorded_iterator()
        if item.value_iterated_to >= value_us
    )


def test_fixed_rate_latency_shows_a_stall_that_service_time_hides(tmp_path):
    users, rate, stall_s = 10, 100, 1.0
    # The server blocks for a second on its 150th request (~1.5 s into the run). Each user was
    # to send every 0.1 s: during the stall it has one request in flight and ~10 that it sends
    # late, back to back, when the server answers again.
    with fake_server(stall_after=150, stall_s=stall_s) as url:
        run = run_locust("read_heavy", url, tmp_path, "--rate", str(rate), users=users, run_time="5s")
    assert run.returncode == 0, run.output[-3000:]
    latency = run.latency
    assert latency.mode == "fixed_rate" and latency.offered_rate_per_s == rate
    corrected = run.histogram(f"{GET}|all|corrected")
    service = run.histogram(f"{GET}|all|service")
    assert corrected.get_total_count() == service.get_total_count() > 200
    half_stall_us = int(stall_s * 1e6 / 2)
    stalled_in_flight = count_at_or_above(service, half_stall_us)
    stalled_corrected = count_at_or_above(corrected, half_stall_us)
    # Only requests in flight during the stall took long to serve (at most one per user) ...
    assert stalled_in_flight <= users
    # ... but many more were answered half a stall or more after they were due.
    assert stalled_corrected >= 3 * max(stalled_in_flight, 1)
    assert corrected.get_max_value() >= 0.9 * stall_s * 1e6
    assert corrected.get_value_at_percentile(95) >= half_stall_us
    assert service.get_value_at_percentile(90) < 100_000  # the delayed requests were served fast
    # The schedule, not the server, sets the offered rate; late requests were still sent.
    assert 0.8 * rate <= latency.intended_rate_per_s <= 1.2 * rate
    assert latency.achieved_rate_per_s > 0
    outcomes = Counter(row[3] for row in run.rows("reads"))
    assert outcomes == {"miss": latency.counts[f"{GET}|all"]}


def test_a_lead_in_is_run_but_not_recorded(tmp_path):
    users, rate, lead_in_s = 10, 100, 3.0
    # The same stall, ~1.5 s in: inside the lead-in, so no recorded request waited for it.
    with fake_server(stall_after=150, stall_s=1.0) as url:
        run = run_locust(
            "read_heavy", url, tmp_path, "--rate", str(rate), "--lead-in-s", str(lead_in_s),
            users=users, run_time="5s",
        )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    latency = run.latency
    measured_from = latency.measured_from_unix_s
    assert latency.options["lead_in_s"] == lead_in_s
    assert latency.window.from_unix_s >= int(measured_from)  # the second it ends in, or later
    assert latency.timeline.t0_unix_s >= int(measured_from)
    corrected = run.histogram(f"{GET}|all|corrected")
    assert corrected.get_max_value() < 500_000
    # The two seconds after the lead-in were recorded, not the five Locust ran; nor 0.5 s less, as
    # when Locust timed its run from the clock gevent's hub had cached before the imports.
    assert latency.stopping_unix_s - measured_from >= 5 - lead_in_s - 0.1
    assert 100 <= corrected.get_total_count() <= 2.6 * rate
    assert all(float(row[0]) >= measured_from for row in run.rows("reads"))
    # Writes are logged throughout: a later read is judged stale against them.
    assert len(run.rows("writes")) > latency.counts.get("PUT /items/[id]|all", 0)


def test_latency_buckets_say_their_resolution_and_older_files_still_read():
    from cachebench.load.histograms import latency_bucket, percentile_from_buckets

    # 100 requests at 47 ms and one at 60 ms: the p99 is within one 2.2% bucket of 47 ms.
    counts = {latency_bucket(47_000): 100, latency_bucket(60_000): 1}
    assert 47_000 <= percentile_from_buckets(counts, 99) <= 47_000 * 2 ** (1 / 32)
    # A timeline written at 8 buckets per doubling ("lat_<index>") reads as it was written.
    assert percentile_from_buckets({"lat_124": 5}, 99) == 2 ** (125 / 8)
