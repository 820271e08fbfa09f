"""Trace-driven simulator: a scenario's own request stream replayed through the real cache classes
on a virtual clock, with no HTTP, so that large TTL × size grids take seconds instead of hours.

The trace (``build_trace``) is what a live fixed-rate run sends: the same users (stream ids
``<locust process>-<user number>``), each drawing from ``stream_rng(seed, stream_id)`` exactly as
``scenarios._common.ItemUser`` does, at the intended send times of its pacer (a phase from the
user's ``aux-`` stream, then one request every ``users / rate`` seconds). The runner's warm-up
is a separate Locust run with the seed ``seed + WARMUP_SEED_OFFSET``; ``gap_s`` after it, the
measured phase starts the streams of ``seed``.

The model (``simulate``):

- one L1 (``cachebench.serve.backends.l1.L1Backend`` and its ``MeteredCache``) per target worker
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

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cachebench.load.workload import WARMUP_SEED_OFFSET, WRITE, Workload, WorkloadSpec, stream_rng
from cachebench.serve import codec
from cachebench.serve.origin import SEEDED_AT
from cachebench.serve.settings import Settings, load_settings
from cachebench.staleness import age_summary

#: Seconds between the end of the warm-up run and the start of the measured one (Locust exits,
#: /metrics is read, a new Locust starts); measured 0.7-1.1 s (median 0.88 s) on the 2-core dev machine.
DEFAULT_GAP_S = 0.9
ENGINES = ("fast", "layered")
ASSIGNMENTS = ("random", "round_robin")
SIMULATED_TARGETS = ("nocache", "l1", "redis", "hierarchical")
#: Redis holds every key until its TTL: a bound no sweep reaches.
REDIS_MAX_ENTRIES = 1 << 40
FILL_EVENT = 0
COMMIT_EVENT = 1


class SimulationError(ValueError):
    """A configuration the simulator cannot replay, with the reason."""


# -- the trace ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadModel:
    """How the live run sends: users, total rate, phase lengths (as a cell's settings say)."""

    users: int = 32
    rate_per_s: float = 200.0
    duration_s: float = 20.0
    warmup_s: float = 0.0
    gap_s: float = DEFAULT_GAP_S
    locust_processes: int = 1
    #: The warm-up's streams are those of ``seed + warmup_seed_offset`` (as the runner draws them).
    warmup_seed_offset: int = WARMUP_SEED_OFFSET

    def __post_init__(self) -> None:
        if self.users < 1 or self.locust_processes < 1:
            raise SimulationError("users and locust_processes must be >= 1")
        if not self.rate_per_s > 0:
            raise SimulationError(f"the simulator needs a request rate > 0, not {self.rate_per_s}")
        if not self.duration_s > 0 or self.warmup_s < 0 or self.gap_s < 0:
            raise SimulationError("duration_s must be > 0, warmup_s and gap_s >= 0")


@dataclass(frozen=True)
class Trace:
    """Requests in send order: time, write or read, item id, user index. Warm-up first."""

    spec: WorkloadSpec
    load: LoadModel
    times_s: list[float]
    is_write: list[bool]
    items: list[int]
    users: list[int]
    #: Index of the first request of the measured phase.
    measured_from: int

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def measured_requests(self) -> int:
        return len(self.times_s) - self.measured_from


def stream_id(user: int, locust_processes: int = 1) -> str:
    """The stream id a scenario user gets: ``<worker index>-<user number in its process>``
    (Locust hands users to its processes in turn)."""
    return f"{user % locust_processes}-{user // locust_processes}"


def _phase(spec: WorkloadSpec, load: LoadModel, start_s: float, length_s: float, out: Trace) -> None:
    interval_s = load.users / load.rate_per_s
    workload = Workload(spec)
    per_user: list[list[tuple[bool, int]]] = []
    firsts: list[float] = []
    for user in range(load.users):
        sid = stream_id(user, load.locust_processes)
        first_s = stream_rng(spec.seed, f"aux-{sid}").random() * interval_s  # the pacer's phase
        count = max(0, math.ceil((length_s - first_s) / interval_s))
        rng = stream_rng(spec.seed, sid)
        draws = []
        for k in range(count):
            op, item = workload.next_operation(rng, first_s + k * interval_s)
            draws.append((op == WRITE, item))
        per_user.append(draws)
        firsts.append(first_s)
    # Every user has the same interval and a phase below it, so ordering users by phase orders
    # each round, and rounds follow each other: a merge without sorting.
    order = sorted(range(load.users), key=firsts.__getitem__)
    rounds = max((len(d) for d in per_user), default=0)
    for k in range(rounds):
        base_s = start_s + k * interval_s
        for user in order:
            draws = per_user[user]
            if k < len(draws):
                write, item = draws[k]
                out.times_s.append(base_s + firsts[user])
                out.is_write.append(write)
                out.items.append(item)
                out.users.append(user)


def build_trace(spec: WorkloadSpec, load: LoadModel) -> Trace:
    """The warm-up (if any) and measured phases of a fixed-rate run, in send order."""
    trace = Trace(spec, load, [], [], [], [], 0)
    measured_start_s = 0.0
    if load.warmup_s > 0:
        _phase(replace(spec, seed=spec.seed + load.warmup_seed_offset), load, 0.0, load.warmup_s, trace)
        measured_start_s = load.warmup_s + load.gap_s
    measured_from = len(trace.times_s)
    _phase(spec, load, measured_start_s, load.duration_s, trace)
    object.__setattr__(trace, "measured_from", measured_from)
    return trace


# -- results -----------------------------------------------------------------------------------


@dataclass
class SimResult:
    """What the measured phase of one simulated configuration did."""

    target: str
    engine: str
    workers: int
    duration_s: float
    requests: int = 0
    reads: int = 0
    writes: int = 0
    layer_hits: dict[str, int] = field(default_factory=dict)
    layer_misses: dict[str, int] = field(default_factory=dict)
    #: Reads by the layer that answered them (``l1_hit``, ``redis_hit``) or ``miss``.
    outcomes: dict[str, int] = field(default_factory=dict)
    origin_reads: int = 0
    collapsed: int = 0
    stale_reads: int = 0
    stale_by_outcome: dict[str, int] = field(default_factory=dict)
    staleness_ages_s: list[float] = field(default_factory=list)
    #: Sums over worker processes of each one's high-water mark (RSS does not shrink either).
    l1_entries_peak: int = 0
    l1_bytes_peak: int = 0
    redis_entries_peak: int = 0
    redis_bytes_peak: int = 0
    wall_s: float = 0.0

    def metrics(self) -> dict[str, Any]:
        """Flat figures named as the live summaries name them."""
        figures: dict[str, Any] = {
            "requests": self.requests,
            "reads": self.reads,
            "writes": self.writes,
            "hit_ratio": _ratio(self.reads - self.outcomes.get("miss", 0), self.reads),
            "origin_reads": self.origin_reads,
            "origin_reads_per_s": self.origin_reads / self.duration_s,
            "collapsed": self.collapsed,
            "stale_reads": self.stale_reads,
            "stale_read_ratio": _ratio(self.stale_reads, self.reads),
            "l1_entries_peak": self.l1_entries_peak,
            "l1_bytes_peak": self.l1_bytes_peak,
            "redis_entries_peak": self.redis_entries_peak,
            "redis_bytes_peak": self.redis_bytes_peak,
        }
        for layer in self.layer_hits:
            lookups = self.layer_hits[layer] + self.layer_misses.get(layer, 0)
            figures[f"{layer}_hit_ratio"] = _ratio(self.layer_hits[layer], lookups)
        for outcome, count in sorted(self.outcomes.items()):
            figures[f"reads_{outcome}"] = count
        figures.update(age_summary(self.staleness_ages_s))
        return figures

    @property
    def simulated_requests_per_s(self) -> float:
        return self.requests / self.wall_s if self.wall_s else math.inf


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# -- shared model pieces -----------------------------------------------------------------------


class VirtualClock:
    """The time every cache in a simulation reads (``timer`` is what MeteredCache is given)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def timer(self) -> Callable[[], float]:
        def now() -> float:
            return self.now

        return now


class Body(bytes):
    """An encoded item body that also knows its version (so a hit needs no JSON parsing)."""

    version: int


class Origin:
    """Item versions, the commit time of each, and bodies encoded as the targets encode them."""

    def __init__(self, settings: Settings) -> None:
        self.versions: list[int] = [1] * (settings.origin_items + 1)
        self.commit_times: dict[int, list[float]] = {}
        self._payload = "x" * settings.payload_bytes
        self._bodies: dict[int, Body] = {}

    def item(self, item_id: int) -> codec.Item:
        return codec.Item(item_id, self.versions[item_id], SEEDED_AT, f"item-{item_id}", self._payload)

    def body(self, item_id: int) -> Body:
        body = self._bodies.get(item_id)
        version = self.versions[item_id]
        if body is None or body.version != version:
            body = Body(codec.encode(self.item(item_id)))
            body.version = version
            self._bodies[item_id] = body
        return body

    def commit(self, item_id: int, at_s: float) -> int:
        self.versions[item_id] += 1
        self.commit_times.setdefault(item_id, []).append(at_s)
        return self.versions[item_id]

    def obsoleted_at(self, item_id: int, version: int) -> float:
        """When ``version`` of the item stopped being current (the commit of ``version + 1``)."""
        return self.commit_times[item_id][version - 1]


class Latency:
    """Origin latency per operation, as ``cachebench.serve.origin`` draws it (uniform jitter)."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.base_s = settings.origin_latency_ms / 1000
        self.jitter_s = settings.origin_jitter_ms / 1000
        self._uniform = rng.uniform

    def draw_s(self) -> float:
        if not self.jitter_s:
            return max(0.0, self.base_s)
        return max(0.0, self.base_s + self._uniform(-self.jitter_s, self.jitter_s))


def layer_names(target: str) -> list[str]:
    return {"nocache": [], "l1": ["l1"], "redis": ["redis"], "hierarchical": ["l1", "redis"]}[target]


def _check(target: str, engine: str, workers: int, settings: Settings) -> None:
    if target not in SIMULATED_TARGETS:
        raise SimulationError(
            f"the simulator replays {', '.join(SIMULATED_TARGETS)}, not {target!r}"
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


def redis_ttl_s(ttl_s: float) -> float:
    """Redis keeps a TTL in whole milliseconds (``SET ... PX``), at least 1."""
    return max(1, int(ttl_s * 1000)) / 1000


def simulate(
    trace: Trace,
    target: str,
    settings: Mapping[str, object] | None = None,
    workers: int = 1,
    engine: str = "fast",
    seed: int = 0,
    assignment: str = "random",
) -> SimResult:
    """Replay ``trace`` against ``target`` with these settings (Settings field names, as a cell's).
    ``seed`` drives origin latency jitter, TTL jitter and the users' workers."""
    values = dict(settings or {})
    values.pop("strategy", None)
    resolved = load_settings(strategy=target, **values)
    _check(target, engine, workers, resolved)
    if assignment not in ASSIGNMENTS:
        raise SimulationError(f"assignment must be one of {', '.join(ASSIGNMENTS)}, not {assignment!r}")
    if max(trace.items, default=0) > resolved.origin_items:
        raise SimulationError(
            f"the workload touches items up to {max(trace.items)} but origin_items is {resolved.origin_items}"
        )
    started = time.perf_counter()
    routes = worker_routes(trace, workers, assignment, seed)
    # The engines import this module's model pieces, so they are imported here, when used.
    if engine == "fast":
        from cachebench.tuning.sim_fast import FastEngine

        result = FastEngine(trace, target, resolved, workers, routes, seed).run()
    else:
        from cachebench.tuning.sim_layered import LayeredEngine

        result = LayeredEngine(trace, target, resolved, workers, routes, seed).run()
    result.wall_s = time.perf_counter() - started
    return result


__all__ = [
    "DEFAULT_GAP_S",
    "ENGINES",
    "SIMULATED_TARGETS",
    "LoadModel",
    "SimResult",
    "SimulationError",
    "Trace",
    "build_trace",
    "simulate",
    "stream_id",
]
