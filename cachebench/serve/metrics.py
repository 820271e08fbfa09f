"""Prometheus metrics shared by every target, and the ``/metrics`` exposition.

With several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` must name an empty directory shared
by the workers before they start (``cachebench serve`` does this); ``/metrics`` then sums every
worker through prometheus_client's multiprocess collector.
"""

from __future__ import annotations

import asyncio
import os

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

# The *_created series double the exposition and nothing here reads them.
disable_created_metrics()

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "cachebench_http_requests", "HTTP requests served, by route template and status", ["route", "status"]
)
CACHE_OPERATIONS = Counter(
    "cachebench_cache_operations",
    "Cache operations by layer and result (hit, miss, set, delete, error, eviction, expired,"
    " undecodable, bypass)",
    ["layer", "result"],
)
CACHE_TIMEOUTS = Counter(
    "cachebench_cache_timeouts",
    "Cache calls made for a request that waited their whole timeout, by layer and by the breaker's"
    " state when the call began (open: the one probe a cool-down lets through)",
    ["layer", "breaker"],
)
_ORIGIN = Counter("cachebench_origin_operations", "Reads and writes that reached the origin", ["op"])
ORIGIN_READS = _ORIGIN.labels("read")
ORIGIN_WRITES = _ORIGIN.labels("write")
ORIGIN_QUEUED = Counter(
    "cachebench_origin_queued_operations", "Origin reads and writes that waited for a free pool connection"
)
ORIGIN_QUEUE_SECONDS = Counter(
    "cachebench_origin_queue_seconds", "Time origin reads and writes spent waiting for a pool connection"
)
# Connection-seconds the pool was held: over a window, divided by its length and the pool size
# (per worker), the origin's utilisation, which tells an origin-bound capacity from the others.
ORIGIN_HELD_SECONDS = Counter(
    "cachebench_origin_held_seconds", "Time origin reads and writes held a pool connection"
)
INVALIDATION_MESSAGES = Counter(
    "cachebench_invalidation_messages",
    "Cross-process invalidation messages (published, received, gap = channel interrupted)",
    ["event"],
)
L1_ENTRIES = Gauge("cachebench_l1_entries", "Entries held in L1", multiprocess_mode="livesum")
L1_BYTES = Gauge("cachebench_l1_bytes", "Value bytes held in L1", multiprocess_mode="livesum")
CIRCUIT_OPEN = Gauge(
    "cachebench_circuit_open", "Workers whose circuit breaker for the layer is open", ["layer"],
    multiprocess_mode="livesum",
)  # fmt: skip
PROCESS_RSS = Gauge(
    "cachebench_process_resident_memory_bytes", "RSS of each worker", multiprocess_mode="liveall"
)

_process = psutil.Process()


class TickCounter:
    """A counter child whose increments reach the shared value once per event-loop tick.

    In multiprocess mode every ``inc`` takes a lock and writes an mmap'd file: about 2 µs
    inside a request, where an L1 hit's whole cache work is ~10 µs. Counts
    made during one tick are summed here and written together in the next tick (or at once when
    no loop runs, and before ``/metrics`` renders), so a scrape lags by at most one tick.
    """

    __slots__ = ("child", "pending")

    def __init__(self, child: Counter) -> None:
        self.child = child
        self.pending = 0

    def inc(self) -> None:
        if not self.pending:
            _unwritten.append(self)
            if len(_unwritten) == 1:
                try:
                    asyncio.get_running_loop().call_soon(write_pending_counts)
                except RuntimeError:  # no loop: nothing would run it later
                    self.pending += 1
                    write_pending_counts()
                    return
        self.pending += 1


_unwritten: list[TickCounter] = []


def write_pending_counts() -> None:
    """Write every TickCounter's pending count to its shared value."""
    while _unwritten:
        counter = _unwritten.pop()
        pending, counter.pending = counter.pending, 0
        counter.child.inc(pending)


def sample_process_memory() -> None:
    PROCESS_RSS.set(_process.memory_info().rss)


def render() -> tuple[bytes, str]:
    """The exposition text for every worker (multiprocess mode) or for this process."""
    write_pending_counts()
    sample_process_memory()
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_exited() -> None:
    """Write what is counted and drop this worker's live gauges when it shuts down."""
    write_pending_counts()
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())
