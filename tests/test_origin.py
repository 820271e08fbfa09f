"""The origin queues beyond its pool, as a database does: it saturates near concurrency ÷ latency."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from cachebench.serve.origin import Origin
from cachebench.settings import load_settings

LATENCY_MS = 20.0
POOL = 4
READS = 40
#: asyncio may wake a timer up to a clock tick early; the bounds below allow for it.
EARLY_WAKE_FRACTION = 0.9


def _counted(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_reads_beyond_the_pool_queue_and_their_wait_is_counted(tmp_path):
    settings = load_settings(
        origin_path=tmp_path / "origin.sqlite3", origin_items=100, origin_latency_ms=LATENCY_MS,
        origin_jitter_ms=0, origin_concurrency=POOL,
    )  # fmt: skip
    origin = Origin(settings)
    queued_before = _counted("cachebench_origin_queued_operations_total")
    waited_before = _counted("cachebench_origin_queue_seconds_total")

    async def burst() -> float:
        started = time.perf_counter()
        items = await asyncio.gather(*(origin.read_item(1 + i % 100) for i in range(READS)))
        assert all(item is not None for item in items)
        return time.perf_counter() - started

    try:
        elapsed_s = asyncio.run(burst())
    finally:
        origin.close()

    rounds = READS // POOL
    assert elapsed_s >= EARLY_WAKE_FRACTION * rounds * LATENCY_MS / 1000
    assert _counted("cachebench_origin_queued_operations_total") - queued_before == READS - POOL
    # Round k (k = 1..rounds-1) waits at least k latencies for each of its POOL reads.
    least_wait_s = POOL * sum(range(rounds)) * LATENCY_MS / 1000
    assert (
        _counted("cachebench_origin_queue_seconds_total") - waited_before
        >= EARLY_WAKE_FRACTION * least_wait_s
    )


def test_reads_within_the_pool_do_not_queue(tmp_path):
    settings = load_settings(
        origin_path=tmp_path / "origin.sqlite3", origin_items=10, origin_latency_ms=1,
        origin_jitter_ms=0, origin_concurrency=POOL,
    )  # fmt: skip
    origin = Origin(settings)
    queued_before = _counted("cachebench_origin_queued_operations_total")

    async def within_pool() -> None:
        await asyncio.gather(*(origin.read_item(i) for i in range(1, POOL + 1)))

    try:
        asyncio.run(within_pool())
    finally:
        origin.close()
    assert _counted("cachebench_origin_queued_operations_total") == queued_before


def test_server_timing_shows_the_wait_for_a_pool_connection(tmp_path):
    from cachebench.serve.backends.l1_backend import L1Backend
    from cachebench.serve.layered import LayeredCache

    settings = load_settings(
        strategy="l1", origin_path=tmp_path / "origin.sqlite3", origin_items=10, origin_latency_ms=LATENCY_MS,
        origin_jitter_ms=0, origin_concurrency=1,
    )  # fmt: skip
    origin = Origin(settings)
    cache = LayeredCache([(L1Backend(100), 60.0)], settings)

    async def two_misses():
        return await asyncio.gather(
            cache.read("item", 1, lambda: origin.read_item(1)),
            cache.read("item", 2, lambda: origin.read_item(2)),
        )

    try:
        first, second = asyncio.run(two_misses())
    finally:
        origin.close()
    assert "origin-queue" not in first.server_timing
    queued = dict(member.split(";dur=") for member in second.server_timing.split(", "))
    # The second read waited for the first's connection: about one origin latency, inside its origin time.
    assert float(queued["origin-queue"]) >= EARLY_WAKE_FRACTION * LATENCY_MS
    assert float(queued["origin"]) >= float(queued["origin-queue"])
