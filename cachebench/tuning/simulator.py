"""Trace-driven simulator: a scenario's own requests replayed through the real cache classes.

On a virtual clock, with no HTTP, so that large TTL × size grids take seconds instead of hours.
The trace (``cachebench.tuning.trace``) is what a live fixed-rate run sends; the pieces of the
model both engines share are in ``cachebench.tuning.sim_model``.

The model (``simulate``, given a target's resolved ``Settings``):

- one L1 (``cachebench.serve.backends.l1_backend.L1Backend`` and its ``MeteredCache``) per target worker
  process; a user keeps its connection, so it talks to one worker for a whole phase, the one
  the kernel handed its connection to: a seeded random draw per user and phase (warm-up and
  measurement are separate Locust runs with new connections; measured on a 2-worker target,
  32 connections split 20/12, 14/18, 11/21, 17/15), or ``u % workers`` with ``assignment =
  "round_robin"``;
- one shared Redis layer, modelled by a ``MeteredCache`` with no practical bound (Redis runs
  without ``maxmemory``) and Redis' millisecond TTLs;
- the origin: one version per item, bumped when a write commits ``origin_latency_ms`` (± jitter)
  after it was sent; an origin read returns the version current when it completes, and only then
  fills the caches — so concurrent misses on one key each read the origin, as live, unless
  ``coalesce`` is on;
- the read and write paths of ``cachebench.serve.layered.LayeredCache``: layers nearest first, copy-up
  on a lower-layer hit, ``ttl``/``delete``/``version`` invalidation, TTL jitter, and for
  ``hierarchical`` the pub/sub invalidation of every other worker's L1 (delivered at once).

Not modelled: network and event-loop delays (so the sub-millisecond invalidation races a live
``hierarchical`` or ``redis`` target shows are absent), the few items ``verify`` touches before
the warm-up, the names writes give items (a few bytes of body size), latency and throughput.

Two engines give the same answers (``tests/test_simulator.py`` checks it on many configurations):

- ``layered`` (``cachebench.tuning.sim_layered``) runs the project's ``LayeredCache`` itself, its
  coroutines driven by hand on the virtual clock (an origin read suspends the request until its
  completion time). Slow (tens of thousands of requests/s); it is the reference.
- ``fast`` (``cachebench.tuning.sim_fast``, the default) mirrors ``LayeredCache``'s paths in one loop
  over the same ``L1Backend`` / ``MeteredCache`` instances: every change of cache state (fill,
  delete, eviction, expiry) goes through ``MeteredCache``'s own methods; only a hit is read
  straight from its tables (what ``TLRUCache.__getitem__`` does, without its three Python-level
  calls).
"""

from __future__ import annotations

import random
import time

from cachebench.settings import Settings
from cachebench.tuning.sim_fast import FastEngine
from cachebench.tuning.sim_layered import LayeredEngine
from cachebench.tuning.sim_model import SimResult, SimulationError, simulated_targets
from cachebench.tuning.trace import Trace
from targets import TARGETS

ENGINES = ("fast", "layered")
ASSIGNMENTS = ("random", "round_robin")


def _check(target: str, engine: str, workers: int, settings: Settings) -> None:
    row = TARGETS.get(target)
    if row is None or not row.simulated:
        raise SimulationError(
            f"the simulator replays {', '.join(simulated_targets())}, not {target!r}"
            " (client caches and custom backends are not modelled)"
        )
    if engine not in ENGINES:
        raise SimulationError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if workers < 1:
        raise SimulationError("workers must be >= 1")
    if engine == "layered" and settings.coalesce:
        raise SimulationError("the layered engine cannot coalesce (it needs a running event loop)")


def worker_routes(trace: Trace, workers: int, assignment: str = "random", seed: int = 0) -> list[list[int]]:
    """The worker of each user, for the warm-up and for the measured phase."""
    users = trace.load.users
    if assignment == "round_robin" or workers == 1:
        same = [user % workers for user in range(users)]
        return [same, same]
    rng = random.Random(f"cachebench-sim-workers:{seed}")
    return [[rng.randrange(workers) for _ in range(users)] for _phase in range(2)]


def simulate(
    trace: Trace,
    settings: Settings,
    workers: int = 1,
    engine: str = "fast",
    seed: int = 0,
    assignment: str = "random",
) -> SimResult:
    """Replay ``trace`` against the target ``settings.strategy`` names, with those settings
    (resolved once, by the caller). ``seed`` drives origin latency jitter, TTL jitter and the
    users' workers."""
    target = settings.strategy
    _check(target, engine, workers, settings)
    if assignment not in ASSIGNMENTS:
        raise SimulationError(f"assignment must be one of {', '.join(ASSIGNMENTS)}, not {assignment!r}")
    if max(trace.items, default=0) > settings.origin_items:
        raise SimulationError(
            f"the workload touches items up to {max(trace.items)} but origin_items is {settings.origin_items}"
        )
    started = time.perf_counter()
    routes = worker_routes(trace, workers, assignment, seed)
    engine_class = FastEngine if engine == "fast" else LayeredEngine
    result = engine_class(trace, target, settings, workers, routes, seed).run()
    result.wall_s = time.perf_counter() - started
    return result


__all__ = ["ASSIGNMENTS", "ENGINES", "simulate", "worker_routes"]
