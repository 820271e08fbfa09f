"""wrk, the load tool of the hit-path benchmark: found (or installed), run pinned to its CPU, read back."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from cachebench.perf.console import console

SERVER_CPU = 0
LOAD_CPU = 1
#: Nice value for the processes measured, when allowed (root): other work on the machine then
#: takes less of the worker's core, and fewer pairs are lost to it.
MEASURED_NICE = -10

# wrk's own summary, as one JSON line: its text report rounds and mixes units.
WRK_REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nCACHEBENCH_WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def find_wrk() -> str:
    """Path of ``wrk``; installs the Debian package when running as root with apt, else exits."""
    found = shutil.which("wrk")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if os.geteuid() == 0 and apt_get:
        console.print("wrk not found: installing the Debian package (apt-get install -y wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        policy = subprocess.run(["apt-cache", "policy", "wrk"], capture_output=True, text=True).stdout
        updated = "Candidate: (none)" in policy or "Candidate:" not in policy
        if updated:
            subprocess.run([apt_get, "update", "-qq"], env=env, check=False)
        install = [apt_get, "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=env).returncode != 0 and not updated:
            subprocess.run([apt_get, "update", "-qq"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    # No fallback on purpose: Locust (or any Python client) saturates its core before one
    # uvicorn worker does, so it would measure itself rather than the target.
    sys.exit(
        "error: the HTTP load tool wrk is not installed; install it (`sudo apt-get install wrk`, "
        "`brew install wrk`) and run again (Locust is too slow to load one worker to its limit)"
    )


@dataclass
class WrkRun:
    requests: int
    duration_s: float
    errors: int
    p50_ms: float
    wrk_cpu: float  # share of one core, user + system
    worker_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def per_cpu_s(self) -> float:
        """Requests per second of worker CPU: a cross-check that other load skews less."""
        return self.rps / max(self.worker_cpu, 1e-9)

    def describe(self) -> str:
        return (
            f"{self.rps:6.0f} req/s (p50 {self.p50_ms:.2f} ms, wrk CPU {self.wrk_cpu:.0%}, "
            f"worker CPU {self.worker_cpu:.0%})"
        )


def raise_priority(pid: int) -> None:
    """Lower the nice value of a process we started, when permitted; else leave it."""
    with suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, pid, MEASURED_NICE)


def _prepare_wrk() -> None:  # runs in the wrk child before exec
    os.sched_setaffinity(0, {LOAD_CPU})
    raise_priority(0)


def run_wrk(
    wrk: str, url: str, duration_s: float, connections: int, script: Path, worker: psutil.Process
) -> WrkRun:
    """One wrk run (1 thread, pinned to the load CPU), with its CPU share and the worker's."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration_s:g}s", "-s", str(script), url]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_before = worker.cpu_times()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=_prepare_wrk)
    wall_s = time.perf_counter() - started
    worker_after = worker.cpu_times()
    # wrk is the only child reaped while it runs (targets and Redis outlive every run), so the
    # growth of the reaped-children rusage is exactly wrk's own CPU time.
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"CACHEBENCH_WRK (\{.*\})", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    report = json.loads(match.group(1))
    wrk_cpu_s = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    worker_cpu_s = (worker_after.user - worker_before.user) + (worker_after.system - worker_before.system)
    return WrkRun(
        requests=report["requests"],
        duration_s=report["duration_us"] / 1e6,
        errors=sum(report[name] for name in ("connect", "read", "write", "status", "timeout")),
        p50_ms=report["p50_us"] / 1000,
        wrk_cpu=wrk_cpu_s / wall_s,
        worker_cpu=worker_cpu_s / wall_s,
    )
