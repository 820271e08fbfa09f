"""Load between a session's measured phases, so a TTL cache is never left idle while the next
load generator starts.

Between two Locust runs there are about 2.5 s without load (one process stops, the next imports
Locust and spawns its users). Entries that expire in that pause are not refilled, and the reads
that would have refilled them all land in the next measured seconds: before each 5 s cell at
200 req/s that costs l1 about 4 points of hit ratio (simulated: 56.2% without pauses, 52.5%
with them; measured 52.9% against a model of 56.0%), though a service under continuous load
never sees those misses. So while the runner changes generators, this thread reads the
scenario's own key stream at the cell's rate.

Written here rather than with Locust because it must run in the runner's process across
Locust's restarts. Reads only (a pause's few writes do not move a hit ratio), paced open loop,
bounded in time and count, against the target's loopback URL.
"""

from __future__ import annotations

import threading
import time

import httpx

from cachebench.arg_types import is_loopback_url
from cachebench.load.workload import WARMUP_SEED_OFFSET, WorkloadSpec, operations
from cachebench.run.benchfile import Cell
from cachebench.run.scenario_workload import workload_of_scenario
from targets import TARGETS

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
        self.sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> KeepWarm:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cachebench-keep-warm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        interval_s = 1.0 / self.rate_per_s
        limit = int(MAX_S * self.rate_per_s)
        stream = operations(self.spec, limit, stream_id=f"{STREAM_ID}-{time.monotonic_ns()}")
        next_at = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            for op, item_id in stream:
                delay_s = next_at - time.monotonic()
                if self._stop.wait(max(delay_s, 0.0)):
                    return
                next_at += interval_s  # writes keep their slot: the reads come at the scenario's rate
                if op != "read":
                    continue
                try:
                    client.get(f"/items/{item_id}")
                except httpx.HTTPError:
                    continue
                self.sent += 1


#: Seconds from starting a load generator to its users sending: Locust's import and first spawns.
HANDOVER_S = 1.2


def keeper_for(cell: Cell, url: str) -> KeepWarm | None:
    """A keep-warm for a caching target we started, at a fixed rate, on an item workload, warmed
    to steady state."""
    row = TARGETS.get(cell.target)
    if row is None or not row.caches or cell.rate_per_s <= 0:
        return None
    if cell.warmup != "steady_state":
        # A fixed warm-up promises the phases exactly as configured (a sweep's simulator replays
        # them so): no load is added between them.
        return None
    try:
        spec = workload_of_scenario(cell.scenario, cell.scenario_options, cell.seed + WARMUP_SEED_OFFSET)
    except ValueError:
        return None  # not an item workload (per_user, browser_clients...): nothing to keep warm
    return KeepWarm(url, spec, cell.rate_per_s)
