"""The sampler's account of CPU taken by processes that are not the benchmark's own.

A real process outside the benchmark's process tree burns one core for a bounded time; the sampler
must see it as other load and not as idle time. Whether that makes the machine busy is decided
from those figures (the last test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import psutil
import pytest

from cachebench.metrics_text import metric_changes
from cachebench.results import SAMPLE, Cpus, Window
from cachebench.run.sampling import Sampler, tree
from cachebench.run.summary import BUSY_MACHINE_OTHER_CORES, cpu_per_request, saturation, window_rows

BURN_S = 4.0
# Bounded in time; writes its PID so the test can stop it. ``sh`` exits at once, so the burner is
# re-parented away from this process: it is not part of the benchmark's process tree.
BURNER = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "end = time.monotonic() + float(sys.argv[2])\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)


def _sample(seconds: float) -> list[dict]:
    sampler = Sampler(
        "http://127.0.0.1:9",  # nothing listens: scrapes fail and are skipped
        target_processes=lambda: [],
        generator_processes=lambda: [],
        all_ours=tree(os.getpid()),
    ).start()
    time.sleep(seconds)
    return sampler.stop()


def test_cpu_of_processes_outside_the_benchmark_is_counted_as_other(tmp_path: Path) -> None:
    pid_file = tmp_path / "burner.pid"
    subprocess.run(
        [
            "sh",
            "-c",
            f'"{sys.executable}" -c "$0" "$1" "$2" >/dev/null 2>&1 &',
            BURNER,
            str(pid_file),
            str(BURN_S),
        ],
        check=True,
    )
    deadline = time.monotonic() + 5
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the burner did not start"
        time.sleep(0.05)
    burner = int(pid_file.read_text())
    try:
        assert burner not in {p.pid for p in tree(os.getpid())()}
        rows = _sample(BURN_S - 1.5)
    finally:
        with suppress(ProcessLookupError):
            os.kill(burner, signal.SIGTERM)
        with suppress(psutil.NoSuchProcess):
            psutil.Process(burner).wait(timeout=5)
    other = [row[SAMPLE.other_cpu_percent] for row in rows]
    assert other and all(value is not None for value in other)
    assert max(other) >= 50, other  # one core spinning, seen as another process's load
    verdict = saturation(rows, Cpus())
    assert verdict.other_cpu_cores >= BUSY_MACHINE_OTHER_CORES
    # The spinning core was not idle: at most the machine's other cores were.
    assert verdict.idle_cpu_cores <= (psutil.cpu_count() or 1) - 0.5


@pytest.mark.parametrize(
    ("other_percent", "idle_percent", "busy"),
    [
        (40, 20, True),  # others took CPU the benchmark had no spare for
        (40, 150, False),  # others ran on cores the benchmark did not need
        (10, 0, False),  # a saturated machine, but not by others
        (40, None, True),  # idle unknown: others' load alone decides
    ],
)
def test_a_machine_is_busy_when_others_take_cpu_it_had_no_spare_for(
    other_percent: float, idle_percent: float | None, busy: bool
) -> None:
    rows = [{"other_cpu_percent": other_percent, "idle_cpu_percent": idle_percent} for _ in range(5)]
    assert saturation(rows, Cpus()).machine_busy is busy


def test_cpu_of_the_benchmark_itself_is_not_other() -> None:
    """Work in this process tree is the benchmark's own: a child spinning counts as ours."""
    child = subprocess.Popen([sys.executable, "-c", BURNER, os.devnull, "2.5"])
    try:
        rows = _sample(2.2)
    finally:
        child.terminate()
        child.wait(timeout=5)
    assert rows
    # Counted as other, the spinning child alone would make this about 1 core; the margin below
    # that leaves room for unrelated load on a shared machine.
    assert saturation(rows, Cpus()).other_cpu_cores < 0.5


def test_the_target_side_is_the_target_and_the_redis_pinned_beside_it() -> None:
    """A redis or hierarchical cell: the target at 89% plus its Redis at 6% of the same CPU."""
    cpus = Cpus(target=[0], generator=[1])
    rows = [{"target_cpu_percent": 89, "redis_cpu_percent": 6, "generator_cpu_percent": 69}] * 5
    verdict = saturation(rows, cpus)
    assert verdict.verdict == "target-bound"
    assert round(verdict.target_cpu_share, 2) == 0.89 and round(verdict.target_side_cpu_share, 2) == 0.95
    without_redis = [{**row, "redis_cpu_percent": None} for row in rows]
    assert saturation(without_redis, cpus).verdict == "neither"


def test_cpu_per_request_divides_the_phase_cpu_time_by_its_requests() -> None:
    rows = [
        {"target_cpu_percent": 40.0, "redis_cpu_percent": 5.0},
        {"target_cpu_percent": 60.0, "redis_cpu_percent": None},
        {"target_cpu_percent": 50.0, "redis_cpu_percent": 15.0},
    ]
    costs = cpu_per_request(rows, requests=10_000, duration_s=20.0)
    # 0.5 cores for 20 s is 10 CPU-seconds: 1,000 µs per request; Redis 0.1 cores: 200 µs.
    assert costs["target_cpu_us_per_request"] == pytest.approx(1000.0)
    assert costs["redis_cpu_us_per_request"] == pytest.approx(200.0)
    assert cpu_per_request([], requests=10, duration_s=1.0)["target_cpu_us_per_request"] is None
    assert cpu_per_request(rows, requests=0, duration_s=1.0)["target_cpu_us_per_request"] is None


def test_full_rate_rows_are_the_seconds_inside_locusts_window() -> None:
    # Rows stamped at the end of the second they cover; the window runs from second 101 to 104.
    rows = [
        {"unix_s": 100.0 + i, "requests_per_s": rate} for i, rate in enumerate([50, 200, 200, 200, 200, 90])
    ]
    window = Window(from_unix_s=101, to_unix_s=104, seconds=3)
    assert [r["unix_s"] for r in window_rows(rows, window)] == [102.0, 103.0, 104.0]
    assert window_rows(rows, None) == rows
    assert window_rows(rows, Window(from_unix_s=500, to_unix_s=504, seconds=4)) == rows  # nothing inside: all


def test_the_cpu_interval_leaves_out_the_seconds_outside_the_window() -> None:
    steady = [
        {"unix_s": 101.0 + i, "requests_per_s": 100.0, "target_cpu_percent": 10.0 + i % 2} for i in range(4)
    ]
    stop = {"unix_s": 105.0, "requests_per_s": 60.0, "target_cpu_percent": 40.0}  # Locust stopping
    window = Window(from_unix_s=100, to_unix_s=104, seconds=4)
    with_stop = cpu_per_request([*steady, stop], requests=460, duration_s=5.0, window=window)
    alone = cpu_per_request(steady, requests=400, duration_s=4.0, window=window)
    assert with_stop["target_cpu_us_per_request_ci95"] == pytest.approx(
        alone["target_cpu_us_per_request_ci95"]
    )
    unwindowed = cpu_per_request([*steady, stop], requests=460, duration_s=5.0)
    assert unwindowed["target_cpu_us_per_request_ci95"] > 3 * alone["target_cpu_us_per_request_ci95"]


def test_origin_queueing_per_origin_operation_comes_from_the_counters() -> None:
    def scrape(reads: float, writes: float, queue_s: float) -> dict:
        return {
            ("cachebench_origin_operations_total", (("op", "read"),)): reads,
            ("cachebench_origin_operations_total", (("op", "write"),)): writes,
            ("cachebench_origin_queue_seconds_total", ()): queue_s,
        }

    changes = metric_changes(scrape(100, 0, 1.0), scrape(1_000, 100, 12.0), elapsed_s=10.0)
    assert changes.origin_reads_per_s == pytest.approx(90.0)
    assert changes.origin_queue_ms_mean == pytest.approx(11.0)  # 11 s over 1,000 operations
    assert metric_changes(scrape(5, 0, 0), scrape(5, 0, 0), 1.0).origin_queue_ms_mean is None


def test_the_seconds_after_the_last_whole_one_get_a_row_when_stopped():
    # Locust exits 0.1 s after its users stop: without this a 3 s phase had two rows, and its
    # cell was marked incomplete for too few samples.
    rows = _sample(2.75)
    assert [round(row[SAMPLE.t_s]) for row in rows] == [1, 2, 3], rows
    assert 2.5 < rows[-1][SAMPLE.t_s] < 3.0
