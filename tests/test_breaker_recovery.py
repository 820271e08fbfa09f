"""Redis paused under concurrent load: the breaker closes again one cool-down after the pause.

A single client recovered within a second, but several concurrent ones could keep a resumed
Redis bypassed for many cool-downs: the one call the open breaker lets through after a cool-down
was often a cache write (the store after an origin read), and a write's success was not reported
to the breaker, so it stayed open for another cool-down. Both tests fail without that report.

A probe may still fail after the resume, as the breaker allows: on a loaded machine a call can
outlast the 0.1 s timeout. Each failed probe costs one more cool-down (CI once saw no hit 2 s
after the resume), so the live test's deadline grows by a cool-down per Redis error counted
after the resume. The bug made no errors: the probe succeeded, unreported.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
from conftest import FakeClock, TargetStarter, http_client, metric, poll_until, unique_namespace

from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.processes.redis_server import RedisServer
from cachebench.serve import codec
from cachebench.serve.backends.redis_backend import RedisBackend, connect
from cachebench.serve.breaker import CircuitBreaker
from cachebench.serve.layered import LayeredCache
from cachebench.settings import load_settings

pytestmark = pytest.mark.timeout(90)

FAILURES_BEFORE_OPEN = 3
COOLDOWN_S = 1.0
TIMEOUT_S = 0.1
#: The origin's default latency: while Redis is bypassed, every read waits this long before its
#: store, so the stores of some requests interleave with the lookups of others, as in service.
SETTINGS = {
    "redis_timeout_s": TIMEOUT_S,
    "redis_failures_before_cooldown": FAILURES_BEFORE_OPEN,
    "redis_cooldown_s": COOLDOWN_S,
    "origin_latency_ms": 20,
}
LOAD_THREADS = 4  # modest: the machine's two cores are shared
ITEMS = 200
#: Fewer L1 entries than items, and every thread walks the items in order: the LRU L1 of
#: ``hierarchical`` always misses, so every request asks its Redis layer too.
L1_MAX_ENTRIES = 20
WARM_UP_S = 10.0  # the first pass over the items fills Redis
PAUSE_S = 5.0
RECOVERY_S = COOLDOWN_S + 1.0
REDIS_HIT = "redis; hit"


@dataclass
class Load:
    """``LOAD_THREADS`` keep-alive clients reading items 1..``ITEMS`` in a loop until stopped."""

    url: str
    responses: list[tuple[float, int, str]] = field(default_factory=list)  # (when, status, Cache-Status)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for first in range(LOAD_THREADS):
            thread = threading.Thread(target=self._read_items, args=(first,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _read_items(self, first: int) -> None:
        ident = first
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                ident = ident % ITEMS + 1
                try:
                    response = client.get(f"/items/{ident}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                status = response.headers.get("cache-status", "")
                self.responses.append((time.monotonic(), response.status_code, status))

    def statuses_after(self, since: float) -> str:
        """Each (HTTP status, Cache-Status) seen after ``since``: how often, first and last second."""
        seen: dict[tuple[int, str], list[float]] = {}
        for at, code, status in list(self.responses):
            if at >= since:
                seen.setdefault((code, status), []).append(at - since)
        return "; ".join(f"{c} [{s}] x{len(t)} {t[0]:.2f}-{t[-1]:.2f} s" for (c, s), t in seen.items())

    def first_redis_hit_after(self, since: float) -> float | None:
        hits = (at for at, _, status in list(self.responses) if at >= since and REDIS_HIT in status)
        return next(hits, None)


def redis_errors(target: TargetProcess) -> float:
    return metric(target, "cachebench_cache_operations_total", layer="redis", result="error")


@pytest.mark.parametrize("strategy", ["redis", "hierarchical"])
def test_redis_hits_resume_one_cooldown_after_a_pause_under_load(
    start_target: TargetStarter, private_redis: RedisServer, strategy: str
) -> None:
    target = start_target(strategy, redis_url=private_redis.url, l1_max_entries=L1_MAX_ENTRIES, **SETTINGS)
    with Load(target.url) as load:
        poll_until(lambda: load.first_redis_hit_after(0.0), WARM_UP_S, what="Redis hits before the pause")
        errors_before = redis_errors(target)
        private_redis.pause()
        try:
            time.sleep(PAUSE_S)
        finally:
            private_redis.resume()
        resumed = time.monotonic()
        errors = redis_errors(target)
        failed_probes = 0
        hit = load.first_redis_hit_after(resumed)
        while hit is None and time.monotonic() < resumed + RECOVERY_S + failed_probes * COOLDOWN_S:
            time.sleep(0.05)
            failed_probes = int(redis_errors(target) - errors)
            hit = load.first_redis_hit_after(resumed)
        with http_client(target) as client:
            health = client.get("/healthz").json()["redis"]
    allowed_s = RECOVERY_S + failed_probes * COOLDOWN_S
    recovery = "none" if hit is None else f"{hit - resumed:.2f} s"
    assert hit is not None and hit - resumed <= allowed_s, (
        f"first Redis hit after the pause: {recovery}, allowed {allowed_s:.1f} s "
        f"({failed_probes} failed probes); replies after the resume: {load.statuses_after(resumed)}"
    )
    assert health["circuit_open"] is False
    # The breaker's promise: a dead layer costs one timeout per cool-down. Before it opens, each
    # request in flight may pay two (its get and its store).
    most_timeouts = 2 * LOAD_THREADS + PAUSE_S / COOLDOWN_S + 1
    assert errors - errors_before <= most_timeouts
    assert load.errors == []
    assert [status for _, status, _ in load.responses if status != 200] == []
    assert len(load.responses) > ITEMS


def test_a_store_let_through_after_the_cooldown_closes_the_breaker(
    redis_server: RedisServer, clock: FakeClock
) -> None:
    """The deterministic core of the test above: the probe goes to a store, which succeeds."""
    settings = load_settings(strategy="redis", redis_url=redis_server.url, namespace=unique_namespace())
    item = codec.Item(1, 1, "2026-01-01T00:00:00Z", "one", "x")

    async def scenario() -> tuple[str | None, bool, str | None]:
        client = connect(settings)
        try:
            cache = LayeredCache([(RedisBackend(client), 60.0)], settings)
            layer = cache.layers[0]
            layer.breaker = CircuitBreaker(FAILURES_BEFORE_OPEN, COOLDOWN_S, timer=clock)
            for _ in range(FAILURES_BEFORE_OPEN):  # as a pause leaves it
                layer.breaker.record_failure()
            origin_answers = asyncio.Event()

            async def slow_origin() -> codec.Item:
                await origin_answers.wait()
                return item

            # A read skips Redis while the breaker is open and waits on the origin; the
            # cool-down ends meanwhile, so its store is the call the breaker lets through.
            reading = asyncio.create_task(cache.read("item", 1, slow_origin))
            await asyncio.sleep(0)
            clock.tick(COOLDOWN_S)
            origin_answers.set()
            first = await reading
            second = await cache.read("item", 1, slow_origin)
            return first.cache_status, layer.breaker.is_open, second.cache_status
        finally:
            await client.aclose()

    first, still_open, second = asyncio.run(scenario())
    assert first == "redis; fwd=bypass; detail=circuit-open"
    assert not still_open, "the store succeeded, yet the breaker stayed open for another cool-down"
    assert second == REDIS_HIT
