"""Child processes the suite starts: free loopback ports, and stopping what we started by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess

import psutil

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 5.0


def plan_cpus() -> tuple[list[int] | None, list[int] | None]:
    """Disjoint CPUs for the target side (target + Redis) and the load generator, when there are ≥ 2."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return cpus[:half], cpus[half:]


def free_port() -> int:
    """A loopback port free right now; the caller retries if another process grabs it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def terminate(proc: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop ``proc`` and the children it started (SIGTERM, then SIGKILL after ``timeout_s``).

    The children are looked up by PID before the parent goes, so a worker that outlives its
    supervisor is still ended, and nothing we did not start is touched.
    """
    if proc.poll() is not None:
        return
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
        # A paused (SIGSTOPped) process only acts on SIGTERM once it runs again.
        proc.send_signal(signal.SIGCONT)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _, alive = psutil.wait_procs(children, timeout=timeout_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
