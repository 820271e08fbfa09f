"""``python -m cachebench.perf`` end to end, smallest mode: it runs, checks its hits, prints its figures.

No thresholds: whether the ratios meet the requirements depends on the machine and its load
(``make perf`` is the measurement); this only proves the benchmark itself works, so it runs
beside other tests, not in ``make test``'s serial pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

PERF = [sys.executable, "-m", "cachebench.perf"]

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"),
]


def test_perf_prints_checked_ratios_the_l1_memory_figure_a_library_and_the_cpu_check() -> None:
    """One run for all of it: each perf run starts its targets, so one run is much cheaper than two."""
    done = subprocess.run(
        [*PERF, "--duration-s", "1", "--rounds", "1", "--targets", "l1,redis,cashews",
         "--memory-entries", "2000"],
        capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    output = done.stdout
    # 0: all requirements met; 1: a figure missed; 2: the machine was too busy to trust it.
    assert done.returncode in (0, 1, 2), f"exit {done.returncode}\n{output}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    for strategy, required in (("l1", "0.85"), ("redis", "0.6")):
        line = re.search(rf"^ratio {strategy} (\d+\.\d+) \(hit \d+ / constant \d+ req/s; "
                         rf"required >= {required}\) (PASS|MISS)$", output, re.MULTILINE)  # fmt: skip
        assert line, f"no ratio line for {strategy}:\n{output}"
        assert 0 < float(line.group(1)) < 5
    # The hits were checked as hits: by Cache-Status and by the target's own hit counter.
    for status in ("l1; hit", "redis; hit", "cashews; hit"):
        assert re.search(rf"^  hits checked: Cache-Status '{status}' before and after; .* misses: \d+$",
                         output, re.MULTILINE), output  # fmt: skip
    memory = re.search(r"^l1 memory 2000 entries: .* = (\d+\.\d+)x \(required <= 1\.3\) (PASS|MISS)$",
                       output, re.MULTILINE)  # fmt: skip
    assert memory, output
    assert float(memory.group(1)) > 0
    # A library in memory is held against our l1 hit: ours at least 1.5x its own.
    line = re.search(r"^library cashews (\d+\.\d+) of constant \(hit \d+ / constant \d+ req/s\); "
                     r"(\d+\.\d+) of our l1 hit \(required <= 0\.67: ours >= 1\.5x\) (PASS|MISS)$",
                     output, re.MULTILINE)  # fmt: skip
    assert line, output
    assert 0 < float(line.group(1)) < 5 and 0 < float(line.group(2)) < 5
    # CPU per hit two ways: wrk's and the runner's, on a single key that every read hits.
    cpu = re.search(r"^CPU per l1 hit: wrk at saturation (\d+) µs; runner at 2000 req/s, idle subtracted, "
                    r"(\d+)(?: ± \d+ µs| µs \(no interval\)) "
                    r"\(hit ratio (\d\.\d+).*\); runner ÷ wrk (\d+\.\d+) .* (PASS|MISS)$",
                    output, re.MULTILINE)  # fmt: skip
    assert cpu, output
    assert int(cpu.group(1)) > 0 and int(cpu.group(2)) > 0 and float(cpu.group(3)) > 0.99


def test_perf_rejects_an_unknown_target() -> None:
    done = subprocess.run(
        [*PERF, "--targets", "l1,nosuch"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2  # argparse usage error
    assert "unknown target(s) nosuch" in done.stderr
