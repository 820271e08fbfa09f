"""Shared fixtures and helpers for the tests that drive real targets and a real Redis.

* ``redis_server`` (session): one private redis-server for every test that only *uses* Redis.
  Tests that break Redis (pause, kill) take ``private_redis`` instead: their own server.
* ``start_target`` / ``start_module_target``: ``start(strategy, workers=1, **settings)`` starts a
  ``TargetProcess`` and stops it at teardown, also when the test fails. Every target gets a
  unique ``namespace``, so targets sharing the session Redis never see each other's keys.
* Helpers imported by the test modules: ``http_client``, ``fresh_get`` (one request on a new
  connection, so a multi-worker target's kernel picks a worker per request), ``metric`` (one
  value from ``/metrics``), ``poll_until`` (bounded wait), ``cache_status``.
"""

from __future__ import annotations

import itertools
import os
import shutil

# Importing locust (the scenario and measurement tests do) would otherwise monkey-patch the whole
# test session with gevent; Locust subprocesses get the variable removed from their environment.
os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.processes.redis_server import RedisServer
from targets import TARGETS

T = TypeVar("T")

#: Small origin and fast origin reads: the tests check behaviour, not speed.
ORIGIN_ITEMS = 1000
ORIGIN_USERS = 20
PAYLOAD_BYTES = 64
DEFAULT_SETTINGS: dict[str, object] = {
    "origin_latency_ms": 1,
    "origin_jitter_ms": 0,
    "origin_items": ORIGIN_ITEMS,
    "origin_users": ORIGIN_USERS,
    "payload_bytes": PAYLOAD_BYTES,
}
HTTP_TIMEOUT_S = 10.0
CHANNEL_READY_TIMEOUT_S = 10.0

#: Modules whose tests judge time, rates or CPU shares: ``make test`` runs them on their own after
#: the others have run three at a time (pytest-xdist), so another test's load cannot skew them.
SERIAL_MODULES = {
    "test_steady_state", "test_capacity_live", "test_fault_run",
    "test_breaker_recovery", "test_faults", "test_simulator", "test_staleness", "test_sampling",
    "test_measurement", "test_trace_replay", "test_invalidation_gaps",
}  # fmt: skip

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each xdist worker gets its own temporary folder, inherited by the targets it starts: the
    # seeded origin file lives there, and fresh_item_id() counts per process, so two workers'
    # writes to one origin would bump each other's item versions.
    _worker_tmp = os.path.join(
        tempfile.gettempdir(), f"cachebench-{os.environ['PYTEST_XDIST_WORKER']}-{os.getpid()}"
    )
    os.makedirs(_worker_tmp, exist_ok=True)
    os.environ["TMPDIR"] = _worker_tmp
    tempfile.tempdir = None  # forget the cached default, so this process uses it too


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(os.environ["TMPDIR"], ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)


_namespaces = itertools.count(1)
_item_ids = itertools.count(1)


def unique_namespace() -> str:
    """A fresh namespace (``^[a-z0-9_-]{1,16}$``), unique across test processes too."""
    return f"t{os.getpid() % 100_000}-{next(_namespaces)}"


def fresh_item_id() -> int:
    """An item id no other test in this session has touched (writes bump versions), from the
    lower half: ``verify`` reads its fresh items from the upper half (``Checks.fresh_id``)."""
    ident = next(_item_ids)
    assert ident <= ORIGIN_ITEMS // 2, "tests used up the seeded items; raise ORIGIN_ITEMS"
    return ident


# -- HTTP helpers ----------------------------------------------------------------------------


def http_client(target: TargetProcess) -> httpx.Client:
    return httpx.Client(base_url=target.url, timeout=HTTP_TIMEOUT_S)


def fresh_get(target: TargetProcess, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET on a new connection that is closed afterwards: with several workers, each request
    may land on either worker (the kernel hands the new connection to whichever accepts it)."""
    return httpx.get(
        f"{target.url}{path}", headers={"Connection": "close", **(headers or {})}, timeout=HTTP_TIMEOUT_S
    )


def cache_status(response: httpx.Response) -> str | None:
    return response.headers.get("cache-status")


def metric(target: TargetProcess, name: str, **labels: str) -> float:
    """Sum of the ``/metrics`` samples called ``name`` whose labels include ``labels``."""
    text = httpx.get(f"{target.url}/metrics", timeout=HTTP_TIMEOUT_S).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def origin_reads(target: TargetProcess) -> float:
    return metric(target, "cachebench_origin_operations_total", op="read")


def poll_until(check: Callable[[], T], timeout_s: float, interval_s: float = 0.05, what: str = "") -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {what or check}; last value {last!r}")
        time.sleep(interval_s)
        last = check()
    return last


def wait_channel_ready(target: TargetProcess, redis_url: str) -> None:
    """Wait until every worker of a hierarchical target has subscribed to its invalidation
    channel and reports it healthy: until then L1 is bypassed (by design), which would make
    the first Cache-Status of a test depend on start-up timing."""
    channel = f"{target.settings['namespace']}:invalidate"
    with redis.Redis.from_url(redis_url, socket_timeout=2) as client:
        poll_until(
            lambda: dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= target.workers,
            CHANNEL_READY_TIMEOUT_S,
            what=f"{target.workers} subscribers on {channel}",
        )

    def healthy_everywhere() -> bool:
        # Fresh connections, so several workers get asked; the subscribe confirmation is
        # read a moment after Redis counts the subscriber.
        return all(
            fresh_get(target, "/healthz").json()["redis"]["invalidation_channel_healthy"]
            for _ in range(4 * target.workers)
        )

    poll_until(healthy_everywhere, CHANNEL_READY_TIMEOUT_S, what="invalidation channel healthy")


# -- fixtures --------------------------------------------------------------------------------


class SharedRedis:
    """The session's Redis, started the first time a test needs it and stopped at the end."""

    def __init__(self) -> None:
        self._server: RedisServer | None = None

    def get(self) -> RedisServer:
        if self._server is None:
            self._server = RedisServer().start()
        return self._server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture(scope="session")
def shared_redis() -> Iterator[SharedRedis]:
    shared = SharedRedis()
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture(scope="session")
def redis_server(shared_redis: SharedRedis) -> RedisServer:
    """One Redis for every test that does not break it; keys are kept apart by namespace."""
    return shared_redis.get()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, for tests that pause, kill or restart it."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()  # also resumes a paused server before stopping it


class TargetStarter:
    """``start(strategy, workers=1, **settings)``; remembers every target to stop it later."""

    def __init__(self, redis_url: Callable[[], str]) -> None:
        self._redis_url = redis_url
        self._started: list[TargetProcess] = []

    def __call__(self, strategy: str, workers: int = 1, **settings: Any) -> TargetProcess:
        merged: dict[str, object] = {**DEFAULT_SETTINGS, "namespace": unique_namespace()}
        if TARGETS[strategy].needs_redis and "redis_url" not in settings:
            merged["redis_url"] = self._redis_url()  # start the session Redis only when needed
        merged.update(settings)
        target = TargetProcess(strategy, merged, workers=workers)
        self._started.append(target)  # before start(): a half-started target is stopped too
        target.start()
        if strategy == "hierarchical":
            wait_channel_ready(target, str(merged["redis_url"]))
        return target

    def stop_all(self) -> None:
        while self._started:
            self._started.pop().stop()


@pytest.fixture
def start_target(shared_redis: SharedRedis) -> Iterator[TargetStarter]:
    """Targets for this test only."""
    starter = TargetStarter(lambda: shared_redis.get().url)
    try:
        yield starter
    finally:
        starter.stop_all()


@pytest.fixture(scope="module")
def start_module_target(shared_redis: SharedRedis) -> Iterator[TargetStarter]:
    """Targets shared by a module's tests (each test then uses its own item ids)."""
    starter = TargetStarter(lambda: shared_redis.get().url)
    try:
        yield starter
    finally:
        starter.stop_all()


@pytest.fixture
def item_id() -> int:
    return fresh_item_id()


# -- a fake clock for the pure parts (as cachetools' own tests tick one) ------------------------


class FakeClock:
    """A timer for the cache and the breaker; ``tick`` moves time forward."""

    def __init__(self, now_s: float = 1000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def tick(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
