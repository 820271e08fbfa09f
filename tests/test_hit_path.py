"""The hit path's short cuts: counters written once per loop tick, in-process hits without a coroutine."""

from __future__ import annotations

import asyncio

from conftest import FakeClock

from cachebench.serve import codec
from cachebench.serve.backends.l1_backend import L1Backend
from cachebench.settings import load_settings

# -- counters written once per loop tick ---------------------------------------------------------


def test_tick_counter_writes_once_per_tick_and_before_rendering() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from cachebench.serve import metrics

    registry = CollectorRegistry()
    counter = metrics.TickCounter(Counter("tick_test", "test", ["result"], registry=registry).labels("hit"))

    def written() -> float | None:
        return registry.get_sample_value("tick_test_total", {"result": "hit"})

    async def scenario() -> list[float | None]:
        seen = []
        for _ in range(3):
            counter.inc()
        seen.append(written())  # not written yet: same tick
        await asyncio.sleep(0)
        seen.append(written())  # the next tick wrote all three
        counter.inc()
        metrics.render()  # a scrape writes what is pending first
        seen.append(written())
        await asyncio.sleep(0)
        seen.append(written())  # and nothing is written twice
        return seen

    assert asyncio.run(scenario()) == [0, 3, 4, 4]
    counter.inc()  # no running loop: written at once
    assert written() == 5


# -- LayeredCache: the short path for in-process hits --------------------------------------------


class _Channel:
    healthy = True

    async def publish(self, key: str) -> None:
        pass


def test_read_nowait_serves_in_process_hits_only_when_read_would(clock: FakeClock) -> None:
    from cachebench.serve.layered import LayeredCache

    settings = load_settings(strategy="l1")
    l1 = L1Backend(max_entries=10, timer=clock)
    channel = _Channel()
    cache = LayeredCache([(l1, 60.0)], settings, channel=channel)
    layer = cache.layers[0]
    item = codec.Item(7, 1, "2026-01-01T00:00:00Z", "seven", "x")
    loads = []

    async def load() -> codec.Item:
        loads.append(1)
        return item

    async def serve() -> tuple[str | None, bool]:
        """What the app does: the short path first, else the whole read."""
        short = cache.read_nowait("item", 7)
        outcome = short or await cache.read("item", 7, load)
        return outcome.cache_status, short is not None

    async def scenario() -> list[tuple[str | None, bool]]:
        seen = [await serve()]  # a miss: the whole path stores it
        seen.append(await serve())  # a hit, short
        layer.breaker.record_failure()  # not clean: the whole path, whose success cleans it
        seen.append(await serve())
        seen.append(await serve())
        channel.healthy = False  # invalidations may have been missed: L1 must not answer
        seen.append(await serve())
        return seen

    from prometheus_client import REGISTRY

    def hits_written() -> float:
        labels = {"layer": "l1", "result": "hit"}
        return REGISTRY.get_sample_value("cachebench_cache_operations_total", labels) or 0.0

    from cachebench.serve import metrics

    metrics.write_pending_counts()  # nothing counted before this test lands in its figures
    hits_before = hits_written()
    assert asyncio.run(scenario()) == [
        ("l1; fwd=miss; stored", False),
        ("l1; hit", True),
        ("l1; hit", False),
        ("l1; hit", True),
        ("l1; fwd=bypass; detail=invalidation-gap", False),
    ]
    assert len(loads) == 2
    assert hits_written() - hits_before == 3  # every hit counted, short or not
    channel.healthy = True
    outcome = cache.read_nowait("item", 7)
    assert outcome is not None and outcome.body == codec.encode(item)
    assert outcome.server_timing.startswith("l1;dur=")
