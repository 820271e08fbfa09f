"""The load generator's process: its command line for a cell, started pinned, awaited, judged.

Locust runs as a subprocess (not in the runner's interpreter) because it must monkey-patch
with gevent, and so that its CPU is its own to measure and pin.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cachebench import results
from cachebench.load.workload import WARMUP_SEED_OFFSET
from cachebench.results import CellSpec
from cachebench.run.matrix import SCENARIOS_DIR
from cachebench.run.processes.children import free_port, terminate

#: Seconds Locust may take beyond its run time to spawn, stop and write its files.
LOCUST_GRACE_S = 45.0


class CellFailed(Exception):
    """The cell could not be measured; the reason goes into the manifest."""


def run_time_s(duration_s: float, lead_in_s: float = 0.0) -> int:
    """Locust's ``--run-time``: whole seconds, lead-in included."""
    return max(1, round(duration_s + lead_in_s))


def recorded_s(cell: CellSpec) -> float:
    """How long Locust's users run after the lead-in: the cell's duration, to whole seconds."""
    return run_time_s(cell.duration_s, cell.lead_in_s) - cell.lead_in_s


def locust_command(cell: CellSpec, url: str, duration_s: float, out_dir: Path | None) -> list[str]:
    seed = cell.seed if out_dir is not None else cell.seed + WARMUP_SEED_OFFSET
    # A measured phase's lead-in runs first, unrecorded (a warm-up records nothing anyway).
    lead_in_s = cell.lead_in_s if out_dir is not None else 0.0
    command = [
        sys.executable, "-m", "locust", "-f", str(SCENARIOS_DIR / f"{cell.scenario}.py"),
        "--headless", "--host", url, "--users", str(cell.users), "--spawn-rate", str(cell.users),
        "--run-time", f"{run_time_s(duration_s, lead_in_s)}s",
        "--loglevel", "WARNING", "--only-summary",
        "--seed", str(seed), "--rate", f"{cell.offered_rate_per_s:g}",
    ]  # fmt: skip
    if cell.locust_processes > 1:
        # The master waits only briefly for workers' last reports at the end of a headless run,
        # so users stop at once (--stop-timeout 0); and it listens on a private loopback port,
        # not 5557 on every interface, so two runs never swap workers.
        port = free_port()
        command += [
            "--processes", str(cell.locust_processes), "--stop-timeout", "0",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--master-port", str(port),
        ]  # fmt: skip
    else:
        command += ["--stop-timeout", "5"]
    if out_dir is not None:
        command += ["--csv", str(out_dir / results.LOCUST_CSV_PREFIX), "--csv-full-history"]
        command += ["--results-dir", str(out_dir)]
        if lead_in_s > 0:
            command += ["--lead-in-s", f"{lead_in_s:g}"]
        # Locust's CSVs are rewritten each second and not at the end; its JSON is final.
        command += ["--json-file", str(out_dir / results.LOCUST_FINAL_PREFIX)]
    for option, value in cell.scenario_options.items():
        command += [f"--{option}", str(value)]
    return command


def pin(cpus: list[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


@contextlib.contextmanager
def running_locust(
    command: list[str], cpus: list[int] | None, log_path: Path, env_extra: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    # Locust must monkey-patch with gevent; a caller that imported locust without it (tests) must
    # not pass that choice on.
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"} | (env_extra or {})
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=pin(cpus),
        )
    try:
        yield proc
    finally:
        terminate(proc, timeout_s=15)


def wait(proc: subprocess.Popen, timeout_s: float, on_tick: Callable[[], None]) -> int:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise CellFailed(f"locust did not finish within {timeout_s:.0f}s")
        on_tick()
        time.sleep(0.25)
    return proc.returncode


def check_exit(returncode: int, log_path: Path) -> None:
    # Locust exits 1 when some requests failed; that is a result, not a broken run.
    if returncode not in (0, 1):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise CellFailed(f"locust exited with {returncode}: {' | '.join(tail)}")
