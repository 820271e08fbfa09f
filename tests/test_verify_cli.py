"""``cachebench verify`` and ``cachebench serve`` against real targets, redis-server and uvicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from cachebench.run.processes.children import free_port, terminate
from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.processes.redis_server import RedisServer
from cachebench.run.verify.verification import CLIENT_HEADER_CHECKS, FAIL, PASS, verify
from targets import TARGETS, default_targets

pytestmark = pytest.mark.timeout(60)

CLI = [sys.executable, "-m", "cachebench.cli"]
FAST_ORIGIN = {"origin_latency_ms": 1, "origin_jitter_ms": 0}
CORE_CHECKS = {
    "/healthz",
    "GET item 200",
    "GET unknown id 404",
    "GET bad ids 422",
    "PUT bad bodies 422",
    "PUT oversized 413",
    "PUT unknown id 404",
    "/me 401",
    "Server-Timing",
    "cache transition",
    "write visibility",
    "per-user isolation",
    "metrics exposition",
    "origin reads counted",
}
CLIENT_HEADER_NAMES = {
    "ETag and Cache-Control",
    "If-None-Match 304",
    "If-None-Match mismatch 200",
    "ETag changes after PUT",
    "/me private, Vary",
}
CROSS_PROCESS = "cross-process invalidation"


@pytest.fixture(scope="module")
def verify_redis() -> Iterator[RedisServer]:
    """Our own server (not the session one in conftest): these tests flush it between targets."""
    with RedisServer() as server:
        yield server


def _settings(strategy: str, verify_redis: RedisServer) -> dict[str, object]:
    settings: dict[str, object] = dict(FAST_ORIGIN)
    if TARGETS[strategy].needs_redis:
        settings["redis_url"] = verify_redis.url
    return settings


def _cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout_s, env=env)


@pytest.mark.parametrize("strategy", default_targets())
def test_verify_passes_every_target(strategy: str, verify_redis: RedisServer) -> None:
    verify_redis.flushall()
    workers = TARGETS[strategy].verify_workers
    with TargetProcess(strategy, _settings(strategy, verify_redis), workers=workers) as target:
        results = verify(target.url, strategy, workers=workers)
    names = {r.name for r in results}
    assert names >= CORE_CHECKS
    assert [r for r in results if r.status == FAIL] == []
    # Everything but the cross-process check (whose worker spread is up to the kernel) must pass outright.
    assert [r for r in results if r.status != PASS and r.name != CROSS_PROCESS] == []
    assert (CROSS_PROCESS in names) == (strategy == "hierarchical")
    assert (names >= CLIENT_HEADER_NAMES) == (strategy == "client-headers")
    if strategy != "client-headers":
        assert not names & CLIENT_HEADER_NAMES


def test_verify_fails_a_service_that_is_not_what_it_claims(verify_redis: RedisServer) -> None:
    with TargetProcess("l1", dict(FAST_ORIGIN)) as target:
        # l1 sends no ETag and no Cache-Control: the client-header checks must catch that.
        header_results = {r.name: r for r in verify(target.url, "l1", checks=CLIENT_HEADER_CHECKS)}
        # Called "nocache", the l1 target is caught serving cache hits.
        claimed = _cli("verify", "nocache", "--url", target.url)
    assert header_results["ETag and Cache-Control"].status == FAIL
    assert "no ETag" in header_results["ETag and Cache-Control"].reason
    assert header_results["If-None-Match 304"].status == FAIL
    assert header_results["ETag changes after PUT"].status == FAIL
    assert header_results["/me private, Vary"].status == FAIL
    assert claimed.returncode == 1, claimed.stdout + claimed.stderr
    lines = claimed.stdout.splitlines()
    assert any(line.startswith("FAIL  nocache") and "cache transition" in line for line in lines)
    assert any(line.startswith("FAIL  nocache") and "/healthz" in line for line in lines)
    assert "failed" in lines[-1] and "Traceback" not in claimed.stdout + claimed.stderr


def test_unknown_strategy_lists_the_valid_ones() -> None:
    done = _cli("verify", "nosuchstrategy")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert all(name in done.stderr for name in TARGETS)
    assert "Traceback" not in done.stdout + done.stderr


def test_serve_rejects_bad_settings_before_starting() -> None:
    negative = _cli("serve", "l1", "--set", "l1_ttl_s=-1")
    assert negative.returncode == 2
    assert "CACHEBENCH_L1_TTL_S" in negative.stderr
    unknown = _cli("serve", "l1", "--set", "nosuch=1")
    assert unknown.returncode == 2
    assert "'nosuch'" in unknown.stderr and "l1_ttl_s" in unknown.stderr
    for done in (negative, unknown):
        assert len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stdout + done.stderr


def _wait_until_served(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 40) -> dict:
    """/healthz with Redis reachable, and serve has printed its URL (so it is done starting)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            health = httpx.get(f"{url}/healthz", timeout=1).json()
            if health["redis"]["reachable"] is True and f"serving on {url}" in log.read_text():
                return health
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not come up:\n{log.read_text()}")


def test_serve_stops_everything_it_started_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHEBENCH_REDIS_URL")}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        command = [*CLI, "serve", "hierarchical", "--port", str(port)]
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        health = _wait_until_served(f"http://127.0.0.1:{port}", proc, log)
        assert health["strategy"] == "hierarchical"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any(child.name().startswith("redis-server") for child in children)
        assert any("uvicorn" in child.cmdline() for child in children)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, log.read_text()
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
        assert "stopping" in log.read_text()
    finally:
        terminate(proc)
