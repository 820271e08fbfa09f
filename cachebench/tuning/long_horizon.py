"""The sweep's steady state: every grid point over a long virtual horizon, in one pass per worker.

A live point runs for seconds; a service runs for days, and a TTL longer than the run looks no
different from a shorter one. So the recommendation comes from here: the scenario's own requests
(``cachebench.tuning.trace``, same users, rate and seed) over a horizon of at least
``steady_state_ttls`` × the grid's largest TTL and at least ``steady_state_requests`` requests,
after a warm-up of one largest TTL.

For the ``l1`` target (ttl or delete invalidation, or version, no TTL jitter, coalescing or byte
bound) every point comes from one pass per worker and invalidation kind:

- a user keeps one worker per phase (``simulator.worker_routes``, the fast engine's draw), so each
  worker's L1 sees its users' reads; a write commits at the origin ``origin_latency_ms`` after it
  is sent, and under ``delete`` the writer's worker deletes the key then (the others keep theirs
  until their TTL: that is the staleness); ``ttl`` deletes nothing; ``version`` makes the writer's
  worker read a new key, as ``delete`` does, but every read also touches the item's generation key,
  so the LRU holds half as many items (modelled as ``delete`` at half the size);
- hit or miss: LRU stack distances (``stack_distance``) and TTL fill chains with the origin's
  latency (``ttl_curve``), a read hitting when it hits both ways (``curves``, approximate where both
  bounds bind); a miss fills ``origin_latency_ms`` later with the version current then;
- stale: a hit whose fill (its key's last miss in that worker) is older than a commit made at or
  before the read; age: the read's time minus that commit;
- entries: per worker at most min(size, the most fills alive within one TTL), × workers.

Other targets and settings run the fast engine (``cachebench.tuning.simulator``) over the same
horizon: exact, but ~5–20 CPU-s per point per million requests. Both give a ``SimResult`` per point
(``cachebench.tuning.sweep_points`` makes the sweep's points of them). ``check_point`` replays a
point through the fast engine so that the report can state how far the one pass is from it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cachebench.load.workload import WorkloadSpec
from cachebench.results.sweep_record import EngineCheck, GridPoint, Horizon, SteadyState, SweepPoint
from cachebench.settings import Settings
from cachebench.tuning.curves import Requests
from cachebench.tuning.sim_model import SimResult
from cachebench.tuning.simulator import simulate, worker_routes
from cachebench.tuning.stack_distance import lru_distances, lru_hits
from cachebench.tuning.sweep_points import RUN_SEED
from cachebench.tuning.sweep_spec import SweepSpec, scenario_workload
from cachebench.tuning.trace import LoadModel, Trace, build_trace
from cachebench.tuning.ttl_curve import ttl_hits
from targets import TARGETS


def horizon_for(rate_per_s: float, largest_ttl_s: float, ttls: float, min_requests: int) -> Horizon:
    """At least ``ttls`` largest TTLs and ``min_requests`` requests at ``rate_per_s``."""
    duration_s = max(ttls * largest_ttl_s, min_requests / rate_per_s)
    return Horizon(
        warmup_s=largest_ttl_s,
        duration_s=duration_s,
        largest_ttl_s=largest_ttl_s,
        ttls=ttls,
        min_requests=min_requests,
    )


def build_steady_trace(workload: WorkloadSpec, load: LoadModel, horizon: Horizon) -> Trace:
    """``load`` stretched over the horizon (no pause between the warm-up and the measured phase)."""
    stretched = LoadModel(
        load.users, load.rate_per_s, horizon.duration_s, horizon.warmup_s, 0.0, load.locust_processes
    )
    return build_trace(workload, stretched)


def one_pass_supported(settings: Settings) -> bool:
    """The one pass models the l1 target with fill-time TTLs and an entry bound only."""
    return (
        settings.strategy == "l1"
        and not settings.ttl_jitter
        and not settings.coalesce
        and settings.l1_max_bytes is None
    )


class _WorkerPass:
    """One worker's reads grouped by key (time order kept), with their LRU depths, TTL hits and
    the time of the first commit of the key after a fill at each read."""

    def __init__(
        self,
        requests: Requests,
        worker_mask: np.ndarray,
        ttls_s: list[float],
        invalidate: bool,
        latency_s: float,
        commits: tuple[np.ndarray, np.ndarray, float],
    ) -> None:
        times, keys, writes, measured = (
            requests.times_s,
            requests.keys,
            requests.is_write,
            _measured(requests),
        )
        reads = worker_mask & ~writes
        own_writes = worker_mask & writes
        # The worker's stream: its reads when sent, its writes when they commit (and invalidate).
        stream_times = np.r_[times[reads], times[own_writes] + latency_s]
        stream_keys = np.r_[keys[reads], keys[own_writes]]
        stream_writes = np.r_[np.zeros(int(reads.sum()), bool), np.ones(int(own_writes.sum()), bool)]
        stream_measured = np.r_[measured[reads], np.zeros(int(own_writes.sum()), bool)]
        order = np.argsort(stream_times, kind="stable")
        times, keys, writes = stream_times[order], stream_keys[order], stream_writes[order]
        depths = lru_distances(keys, writes, invalidate)
        ttl_mask = ttl_hits(times, keys, writes, ttls_s, invalidate, latency_s)
        read_index = np.flatnonzero(~writes)
        grouped = read_index[np.argsort(keys[read_index], kind="stable")]
        self.times = times[grouped]
        self.keys = keys[grouped]
        self.depths = depths[grouped]
        self.ttl_mask = ttl_mask[grouped]
        self.measured = stream_measured[order][grouped]
        self.positions = np.arange(len(grouped))
        self._alive: dict[int, int] = {}
        commit_keys, commit_times, stride = commits
        wanted = self.keys * stride + self.times + latency_s
        found = np.searchsorted(commit_keys * stride + commit_times, wanted, side="right")
        inside = found < len(commit_keys)
        same_key = np.zeros(len(grouped), dtype=bool)
        same_key[inside] = commit_keys[found[inside]] == self.keys[inside]
        self.next_commit_s = np.full(len(grouped), np.inf)
        self.next_commit_s[same_key] = commit_times[found[same_key]]

    def alive_peak(self, ttl_index: int, ttl_s: float) -> int:
        """The most entries alive at once without a size bound: fills within one TTL of each other
        (an entry a write deleted still counts, so it is an upper bound)."""
        if ttl_index not in self._alive:
            fills_s = np.sort(self.times[~self.ttl_mask[:, ttl_index]])
            alive = np.arange(len(fills_s)) - np.searchsorted(fills_s, fills_s - ttl_s, side="right") + 1
            self._alive[ttl_index] = int(alive.max()) if len(alive) else 0
        return self._alive[ttl_index]

    def point(self, ttl_index: int, size: int, ttl_s: float) -> dict[str, Any]:
        hit = self.ttl_mask[:, ttl_index] & lru_hits(self.depths, size)
        # A key's first read is a miss (depth COLD), so the running maximum stays within the key.
        fill = np.maximum.accumulate(np.where(hit, 0, self.positions))
        obsolete_s = self.next_commit_s[fill]
        stale = hit & self.measured & (obsolete_s <= self.times)
        return {
            "reads": int(self.measured.sum()),
            "hits": int((hit & self.measured).sum()),
            "stale": int(stale.sum()),
            "ages_s": (self.times[stale] - obsolete_s[stale]).tolist(),
            "alive_peak": self.alive_peak(ttl_index, ttl_s),
        }


def _measured(requests: Requests) -> np.ndarray:
    """Which requests are in the measured phase."""
    return np.arange(len(requests)) >= requests.measured_from


def _workers(trace: Trace, requests: Requests, workers: int, seed: int = 0) -> np.ndarray:
    """Each request's worker (the fast engine's draw, per phase)."""
    warmup_route, measured_route = (
        np.asarray(r, dtype=np.int64) for r in worker_routes(trace, workers, "random", seed)
    )
    users = np.asarray(trace.users, dtype=np.int64)
    return np.where(_measured(requests), measured_route[users], warmup_route[users])


def one_pass_points(trace: Trace, workers: int, points: list[Settings]) -> list[SimResult]:
    """What the fast engine would find for each of these l1 settings, in one pass per worker and
    invalidation kind: they may differ in ``l1_ttl_s``, ``l1_max_entries`` and ``invalidation``, and
    share ``origin_latency_ms`` (the fill delay; nothing else the one pass reads)."""
    requests = Requests.from_trace(trace)
    worker = _workers(trace, requests, workers)
    latency_s = points[0].origin_latency_ms / 1000
    ttls_s = sorted({float(s.l1_ttl_s) for s in points})
    writes = requests.is_write
    commit_order = np.lexsort((requests.times_s[writes], requests.keys[writes]))
    commit_keys = requests.keys[writes][commit_order]
    commit_times = requests.times_s[writes][commit_order] + latency_s
    stride = 2.0 * (float(requests.times_s.max(initial=0.0)) + latency_s + 1.0)
    passes: dict[bool, list[_WorkerPass]] = {}
    for invalidate in sorted({s.invalidation != "ttl" for s in points}):
        passes[invalidate] = [
            _WorkerPass(
                requests, worker == w, ttls_s, invalidate, latency_s, (commit_keys, commit_times, stride)
            )
            for w in range(workers)
        ]
    measured = _measured(requests)
    results = []
    for settings in points:
        mode = settings.invalidation
        items_held = max(1, settings.l1_max_entries // 2) if mode == "version" else settings.l1_max_entries
        ttl_s = float(settings.l1_ttl_s)
        per_worker = [p.point(ttls_s.index(ttl_s), items_held, ttl_s) for p in passes[mode != "ttl"]]
        reads = sum(w["reads"] for w in per_worker)
        hits = sum(w["hits"] for w in per_worker)
        items_peak = sum(min(items_held, w["alive_peak"]) for w in per_worker)
        results.append(
            SimResult(
                target=settings.strategy,
                engine="one-pass",
                workers=workers,
                duration_s=trace.load.duration_s,
                requests=int(measured.sum()),
                reads=reads,
                writes=int((measured & writes).sum()),
                layer_hits={"l1": hits},
                layer_misses={"l1": reads - hits},
                outcomes={"l1_hit": hits, "miss": reads - hits},
                origin_reads=reads - hits,
                stale_reads=sum(w["stale"] for w in per_worker),
                staleness_ages_s=[age for w in per_worker for age in w["ages_s"]],
                # Under version each held item has its generation key beside it.
                l1_entries_peak=2 * items_peak if mode == "version" else items_peak,
            )
        )
    return results


def check_point(
    trace: Trace, workers: int, settings: Settings, one_pass: SweepPoint | None = None
) -> EngineCheck:
    """One point by the one pass (unless its point is given) and by the fast engine over the
    same trace, and the CPU time of each."""
    started = time.process_time()
    figures = one_pass or one_pass_points(trace, workers, [settings])[0]
    one_pass_s = time.process_time() - started
    started = time.process_time()
    engine = simulate(trace, settings, workers=workers)
    engine_s = time.process_time() - started
    return EngineCheck(
        l1_ttl_s=settings.l1_ttl_s,
        l1_max_entries=settings.l1_max_entries,
        invalidation=settings.invalidation,
        one_pass_hit_ratio=figures.hit_ratio,
        engine_hit_ratio=engine.hit_ratio,
        hit_error_pp=(figures.hit_ratio - engine.hit_ratio) * 100,
        one_pass_stale_read_ratio=figures.stale_read_ratio,
        engine_stale_read_ratio=engine.stale_read_ratio,
        stale_error_pp=(figures.stale_read_ratio - engine.stale_read_ratio) * 100,
        one_pass_cpu_s=one_pass_s,  # ~0 when the figures were given
        engine_cpu_s=engine_s,
    )


def steady_state(spec: SweepSpec, points: list[GridPoint]) -> tuple[list[SimResult], SteadyState, Trace]:
    """Every point of the sweep at steady state, by the one pass where it models the point and
    by the fast engine elsewhere; what was done (for the report); and the trace (for ``check_point``)."""
    resolved = [point.settings for point in points]
    ttls_s = [s.l1_ttl_s for s in resolved]
    if TARGETS[spec.target].needs_redis:
        ttls_s += [s.redis_ttl_s for s in resolved]
    horizon = horizon_for(
        spec.offered_rate_per_s, max(ttls_s), spec.steady_state_ttls, spec.steady_state_requests
    )
    started = time.process_time()
    workload = scenario_workload(spec.scenario, spec.scenario_options, seed=RUN_SEED)
    load = LoadModel(spec.users, spec.offered_rate_per_s, locust_processes=spec.locust_processes)
    trace = build_steady_trace(workload, load, horizon)
    results: dict[int, SimResult] = {}
    by_latency: dict[float, list[int]] = {}
    for index, settings in enumerate(resolved):
        if one_pass_supported(settings):
            by_latency.setdefault(settings.origin_latency_ms, []).append(index)
    for members in by_latency.values():
        found = one_pass_points(trace, spec.workers, [resolved[i] for i in members])
        results.update(zip(members, found, strict=True))
    engine = [i for i in range(len(points)) if i not in results]
    for index in engine:
        results[index] = simulate(trace, resolved[index], workers=spec.workers)
    cpu_s = time.process_time() - started
    info = SteadyState(
        horizon=horizon,
        horizon_text=horizon.describe(trace.measured_requests),
        trace_requests=len(trace),
        measured_requests=trace.measured_requests,
        points=len(points),
        one_pass_points=len(points) - len(engine),
        engine_points=len(engine),
        cpu_s=cpu_s,
    )
    return [results[i] for i in range(len(points))], info, trace
