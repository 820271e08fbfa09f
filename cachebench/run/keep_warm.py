"""Load between a session's measured phases, so a TTL cache is never left idle while the next
load generator starts.

Between two Locust runs there are about 2.5 s without load (one process stops, the next imports
Locust and spawns its users). Entries that expire in that pause are not refilled, and the reads
that would have refilled them all land in the next measured seconds: before each 5 s cell at
200 req/s that costs l1 about 4 points of hit ratio (simulated: 56.2% without pauses, 52.5%
with them; measured 52.9% against a model of 56.0%), though a service under continuous load
never sees those misses. So while the runner changes generators, this thread reads the
scenario's own key stream at the cell's rate.

Three details decide whether it works (each measured with l1, read_heavy, 3 × 5 s at 200 req/s
against the TTL model's 56.0%): the reads must go open loop (one client waiting for each answer
reached half the rate: -2.1 pp); it must start before the warm-up's Locust stops, not after
(the first repetition alone was 2 pp low); and it must stop when Locust's reads arrive, not after
a fixed wait. With all three: -0.2 and +0.1 pp in two runs.

Written here rather than with Locust because it must run in the runner's process across
Locust's restarts. Reads only (a pause's few writes do not move a hit ratio), paced open loop,
bounded in time and count, against the target's loopback URL.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from cachebench.arg_types import is_loopback_url
from cachebench.load.workload import WARMUP_SEED_OFFSET, WorkloadSpec, operations
from cachebench.metrics_text import metric_sum, parse_metrics
from cachebench.results import CellSpec
from cachebench.run.scenario_workload import workload_of_scenario
from targets import TARGETS

#: The hand-over stops the keep-warm once the target served this many requests not its own.
OVERTAKEN_AFTER = 3
POLL_S = 0.05
#: Locust takes 1-3 s to import and spawn; a generator that never sends is not waited for longer.
HANDOVER_MAX_S = 8.0
REQUESTS_METRIC = "cachebench_http_requests_total"
ITEM_ROUTE = "/items/{item_id}"
#: Reads awaiting an answer at once, at most; slots beyond it are skipped.
MAX_IN_FLIGHT = 64
#: A keep-warm stops by itself after this long, whatever the runner does.
MAX_S = 60.0
#: Stream id of the keep-warm reads: a stream no Locust user draws.
STREAM_ID = "keep-warm"


class KeepWarm:
    """Reads ``spec``'s keys at ``rate_per_s`` on a thread from ``start`` to ``stop``."""

    def __init__(self, url: str, spec: WorkloadSpec, rate_per_s: float) -> None:
        if not is_loopback_url(url):
            raise ValueError(f"keep-warm load goes to this machine only, not {url!r}")
        self.url = url.rstrip("/")
        self.spec = spec
        self.rate_per_s = rate_per_s
        #: Reads sent, and of those the ones answered so far.
        self.issued = 0
        self.answered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> KeepWarm:
        """Start reading; a keep-warm already reading goes on as it is."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cachebench-keep-warm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stop_once_overtaken(self, max_wait_s: float = HANDOVER_MAX_S) -> float:
        """Stop as soon as the target serves requests that are not ours (the next load generator
        sends), or after ``max_wait_s``; the seconds waited.

        A fixed wait either leaves a gap (entries expire unrefilled, and their misses land in the
        measured seconds: at 200 req/s each 0.1 s of gap costs a 5 s phase about a point of hit
        ratio) or overlaps Locust's own reads. The target's request counter, scraped every
        ``POLL_S``, tells when Locust's first requests arrive; it lags by one event-loop tick.
        """
        started = time.monotonic()
        others_before = None  # at most this many requests not ours had been served at the start
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() - started < max_wait_s and self._thread is not None:
                # Our reads in flight are served but not yet answered: counting the answered ones
                # before a scrape and the issued ones after it bounds the others from both sides.
                answered = self.answered
                served = self._items_served(client)
                if served is not None:
                    if others_before is None:
                        others_before = served - answered
                    elif served - self.issued - others_before >= OVERTAKEN_AFTER:
                        break
                time.sleep(POLL_S)
        self.stop()
        return time.monotonic() - started

    @staticmethod
    def _items_served(client: httpx.Client) -> float | None:
        try:
            text = client.get("/metrics").text
        except httpx.HTTPError:
            return None
        return metric_sum(parse_metrics(text), REQUESTS_METRIC, route=ITEM_ROUTE)

    def _run(self) -> None:
        asyncio.run(self._read_open_loop())

    async def _read_open_loop(self) -> None:
        # Open loop: each read leaves at its slot whether or not earlier ones have answered. A
        # client that waits for each answer reads at most 1 ÷ (miss ratio × origin latency),
        # about 100 req/s against l1 over a 20 ms origin: a cache kept warm at half the cell's
        # rate starts the measured phase below its steady state.
        interval_s = 1.0 / self.rate_per_s
        limit = int(MAX_S * self.rate_per_s)
        stream = operations(self.spec, limit, stream_id=f"{STREAM_ID}-{time.monotonic_ns()}")
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        pending: set[asyncio.Task] = set()
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT)
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0, limits=limits) as client:
            next_at = time.monotonic()
            for op, item_id in stream:
                await asyncio.sleep(max(next_at - time.monotonic(), 0.0))
                if self._stop.is_set():
                    break
                next_at += interval_s  # writes keep their slot: the reads come at the scenario's rate
                if op != "read" or in_flight.locked():  # a stalled target costs slots, not memory
                    continue
                await in_flight.acquire()
                task = asyncio.create_task(self._read(client, item_id, in_flight))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending, return_exceptions=True)

    async def _read(self, client: httpx.AsyncClient, item_id: int, in_flight: asyncio.Semaphore) -> None:
        self.issued += 1
        try:
            await client.get(f"/items/{item_id}")
            self.answered += 1
        except httpx.HTTPError:
            pass
        finally:
            in_flight.release()


def keeper_for(cell: CellSpec, url: str) -> KeepWarm | None:
    """A keep-warm for a caching target we started, at a fixed rate, on an item workload, warmed
    to steady state."""
    row = TARGETS.get(cell.target)
    if row is None or not row.caches or cell.offered_rate_per_s <= 0:
        return None
    if cell.warmup != "steady_state":
        # A fixed warm-up promises the phases exactly as configured (a sweep's simulator replays
        # them so): no load is added between them.
        return None
    try:
        spec = workload_of_scenario(cell.scenario, cell.scenario_options, cell.seed + WARMUP_SEED_OFFSET)
    except ValueError:
        return None  # not an item workload (per_user, browser_clients...): nothing to keep warm
    return KeepWarm(url, spec, cell.offered_rate_per_s)
