"""The runner end to end: real targets, Redis and Locust, into a results folder that validates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cachebench.results import read_manifest, read_summary
from cachebench.results.schema import check_folder
from cachebench.run.driver import run_bench
from cachebench.run.matrix import BenchFileError, expand, load_matrix

TINY = {"duration_s": 3, "warmup_s": 0.5, "label": "test"}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cachebench.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_quick_run_writes_a_complete_valid_results_folder(tmp_path):
    matrix = load_matrix(
        None, {**TINY, "targets": ["nocache", "hierarchical"], "settings": {"fast": {"origin_latency_ms": 2}}}
    )
    run_dir = run_bench(matrix, results_root=tmp_path)

    manifest = read_manifest(run_dir)
    assert manifest.status == "complete"
    assert [c.target for c in manifest.cells] == ["nocache", "hierarchical"]
    assert manifest.code_sha256 and manifest.machine.logical_cores >= 1
    assert manifest.redis_version
    for cell in manifest.cells:
        assert cell.status == "complete", cell.reason
        cell_dir = run_dir / "cells" / cell.name
        for name in ("summary.json", "latency.json", "samples.csv", "locust_stats.csv", "verify.json",
                     "metrics_before.txt", "metrics_after.txt", "cell.json"):  # fmt: skip
            assert (cell_dir / name).is_file(), name
        headline = read_summary(cell_dir / "summary.json").headline
        assert headline.requests > 0
        assert 0 < headline.p50_ms <= headline.p99_ms
        assert headline.saturation in ("generator-bound", "target-bound", "neither")
        assert list(run_dir.glob(f"cells/{cell.name}/reads-*.csv.gz"))
    hierarchical = read_summary(run_dir / "cells" / manifest.cells[1].name / "summary.json").headline
    assert hierarchical.hit_ratio_by_layer["l1"] > 0
    assert hierarchical.redis_used_memory_bytes_max > 0
    assert check_folder(run_dir)[1] == []  # every file as its model says
    no_temp_files = [p for p in run_dir.rglob(".*") if p.is_file()]
    assert no_temp_files == []


def test_a_cell_that_fails_does_not_end_the_run(tmp_path):
    matrix = load_matrix(
        None,
        {**TINY, "targets": ["l1", "nocache"], "settings": {"broken": {"origin_path": "/proc/nope/x.db"}}},
    )
    run_dir = run_bench(matrix, results_root=tmp_path)
    manifest = read_manifest(run_dir)
    assert manifest.status == "complete_with_failures"
    assert [c.status for c in manifest.cells] == ["failed", "failed"]
    assert all("target" in (c.reason or "") or "exited" in (c.reason or "") for c in manifest.cells)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_keeps_finished_cells_and_marks_the_run_incomplete(tmp_path, signum):
    bench = tmp_path / "two.toml"
    bench.write_text(
        'label = "interrupt"\ntargets = ["nocache", "l1"]\nduration_s = 5\nwarmup_s = 0\n'
        '[settings.fast]\norigin_latency_ms = 1\n[[modes]]\nkind = "fixed_rate"\nusers = 4\nrate_per_s = 50\n'
    )  # a light fixed rate: a closed loop would take both cores from the tests beside this one
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results_root = tmp_path / "results"
    script = (
        # Ctrl-C as a terminal sends it, whatever the test's own parent did with SIGINT (a shell
        # running it in the background without job control ignores it, and children inherit that).
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        # SIGTERM as the command line takes it (cachebench.cli.main.main).
        "from cachebench.cli.main import raise_stopped; signal.signal(signal.SIGTERM, raise_stopped); "
        "import sys; from pathlib import Path; from cachebench.run.driver import run_bench; "
        "from cachebench.run.matrix import load_matrix; "
        f"m = load_matrix(Path({str(bench)!r}), {{}}); "
        f"run_bench(m, results_root=Path({str(results_root)!r}))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        manifest_path = None
        while time.monotonic() < deadline:
            found = list(results_root.glob("*/manifest.json"))
            if found:
                manifest_path = found[0]
                cells = read_manifest(manifest_path.parent).cells
                measuring = manifest_path.parent / "cells" / cells[1].name / "locust.log"
                if cells[0].status == "complete" and measuring.exists():
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the second cell's measured phase never started")
        time.sleep(1.5)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    manifest = read_manifest(manifest_path.parent)
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert manifest.status == "incomplete", output[-3000:]
    assert manifest.cells[0].status == "complete"
    assert manifest.cells[1].status == "incomplete", output[-3000:]
    second = manifest_path.parent / "cells" / manifest.cells[1].name
    assert read_summary(second / "summary.json").complete is False


def test_bench_file_errors_name_the_bad_value(tmp_path):
    with pytest.raises(BenchFileError, match="nosuch.*choose from"):
        load_matrix(None, {"targets": ["nosuch"]})
    with pytest.raises(BenchFileError, match="does not exist"):
        load_matrix(tmp_path / "missing.toml", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("targets = [")
    with pytest.raises(BenchFileError, match="not valid TOML"):
        load_matrix(bad, {})
    with pytest.raises(BenchFileError, match="l1_ttl_s"):
        load_matrix(None, {"settings": {"x": {"l1_ttl_s": -1}}})
    with pytest.raises(BenchFileError, match="127.0.0.1"):
        load_matrix(None, {}, external_url="http://10.1.2.3:8000")


def test_matrix_expands_repetitions_outermost():
    matrix = load_matrix(None, {"targets": ["nocache", "l1"], "repeat": 2})
    cells = expand(matrix)
    assert [(c.repetition, c.target) for c in cells] == [(1, "nocache"), (1, "l1"), (2, "nocache"), (2, "l1")]
    assert len({c.name for c in cells}) == 4


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--targets", "nosuch"], "choose from nocache, l1, redis, hierarchical, client-headers"),
        (["run", "--scenario", "nosuch"], "unknown scenario 'nosuch'"),
        (["run", "--duration", "-1"], "expected a number above 0"),
        (["run", "--bench", "missing.toml"], "does not exist"),
        (["run", "--url", "http://192.168.1.1:80"], "127.0.0.1"),
    ],
)
def test_run_cli_rejects_bad_input_without_a_traceback(args, expected):
    result = _cli(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
