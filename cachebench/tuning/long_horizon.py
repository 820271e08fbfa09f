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
horizon: exact, but ~5–20 CPU-s per point per million requests. ``check_point`` replays a point
through the fast engine so that the report can state how far the one pass is from it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cachebench.load.workload import WorkloadSpec
from cachebench.settings import Settings, load_settings
from cachebench.staleness import age_summary
from cachebench.tuning.entry_bytes import with_item_entries
from cachebench.tuning.simulator import simulate, worker_routes
from cachebench.tuning.stack_distance import lru_distances
from cachebench.tuning.sweep_points import RUN_SEED, simulated_row
from cachebench.tuning.sweep_spec import SweepSpec, scenario_workload
from cachebench.tuning.trace import LoadModel, Trace, build_trace
from cachebench.tuning.ttl_curve import ttl_hits
from targets import TARGETS

#: The settings a one-pass point varies; any other must be the same over the points of one pass.
ONE_PASS_AXES = ("l1_ttl_s", "l1_max_entries", "invalidation")


@dataclass(frozen=True)
class Horizon:
    """The steady state's virtual phases: a warm-up of one largest TTL, then ``duration_s``."""

    warmup_s: float
    duration_s: float
    largest_ttl_s: float
    ttls: float
    min_requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, requests: int | None = None) -> str:
        counted = f", {requests:,} requests" if requests else ""
        return (
            f"steady state: {self.duration_s:,.0f} s of virtual time{counted} after {self.warmup_s:g} s of "
            f"warm-up (≥ {self.ttls:g} × the largest TTL, {self.largest_ttl_s:g} s, and ≥ "
            f"{self.min_requests:,} requests)"
        )


def horizon_for(rate_per_s: float, largest_ttl_s: float, ttls: float, min_requests: int) -> Horizon:
    """At least ``ttls`` largest TTLs and ``min_requests`` requests at ``rate_per_s``."""
    duration_s = max(ttls * largest_ttl_s, min_requests / rate_per_s)
    return Horizon(largest_ttl_s, duration_s, largest_ttl_s, ttls, min_requests)


def build_steady_trace(workload: WorkloadSpec, load: LoadModel, horizon: Horizon) -> Trace:
    """``load`` stretched over the horizon (no pause between the warm-up and the measured phase)."""
    stretched = LoadModel(
        load.users, load.rate_per_s, horizon.duration_s, horizon.warmup_s, 0.0, load.locust_processes
    )
    return build_trace(workload, stretched)


def one_pass_supported(target: str, settings: Settings) -> bool:
    return (
        target == "l1" and not settings.ttl_jitter and not settings.coalesce and settings.l1_max_bytes is None
    )


class _WorkerPass:
    """One worker's reads grouped by key (time order kept), with their LRU depths, TTL hits and
    the time of the first commit of the key after a fill at each read."""

    def __init__(
        self,
        trace_arrays: dict[str, np.ndarray],
        worker_mask: np.ndarray,
        ttls_s: list[float],
        invalidate: bool,
        latency_s: float,
        commits: tuple[np.ndarray, np.ndarray, float],
    ) -> None:
        times, keys, writes, measured = (trace_arrays[n] for n in ("times", "keys", "writes", "measured"))
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
        hit = self.ttl_mask[:, ttl_index] & (self.depths >= 1) & (self.depths <= size)
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


def _trace_arrays(trace: Trace, workers: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The trace as arrays, and each request's worker (the fast engine's draw, per phase)."""
    warmup_route, measured_route = (
        np.asarray(r, dtype=np.int64) for r in worker_routes(trace, workers, "random", seed)
    )
    users = np.asarray(trace.users, dtype=np.int64)
    measured = np.arange(len(users)) >= trace.measured_from
    worker = np.where(measured, measured_route[users], warmup_route[users])
    arrays = {
        "times": np.asarray(trace.times_s, dtype=float),
        "keys": np.asarray(trace.items, dtype=np.int64),
        "writes": np.asarray(trace.is_write, dtype=bool),
        "measured": measured,
    }
    return arrays, worker


def one_pass_points(
    trace: Trace,
    workers: int,
    settings: Settings,
    configs: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The figures of every config (``l1_ttl_s``, ``l1_max_entries``, ``invalidation``) of the l1
    target, as ``SimResult.metrics`` names them plus ``l1_entries_peak`` (what the workers hold)."""
    arrays, worker = _trace_arrays(trace, workers)
    latency_s = settings.origin_latency_ms / 1000
    ttls_s = sorted({float(c["l1_ttl_s"]) for c in configs})
    writes = arrays["writes"]
    commit_order = np.lexsort((arrays["times"][writes], arrays["keys"][writes]))
    commit_keys = arrays["keys"][writes][commit_order]
    commit_times = arrays["times"][writes][commit_order] + latency_s
    stride = 2.0 * (float(arrays["times"].max(initial=0.0)) + latency_s + 1.0)
    passes: dict[bool, list[_WorkerPass]] = {}
    for invalidate in sorted({c["invalidation"] != "ttl" for c in configs}):
        passes[invalidate] = [
            _WorkerPass(
                arrays, worker == w, ttls_s, invalidate, latency_s, (commit_keys, commit_times, stride)
            )
            for w in range(workers)
        ]
    duration_s = trace.load.duration_s
    rows = []
    for config in configs:
        mode = config["invalidation"]
        size = int(config["l1_max_entries"])
        items_held = max(1, size // 2) if mode == "version" else size
        ttl_s = float(config["l1_ttl_s"])
        per_worker = [p.point(ttls_s.index(ttl_s), items_held, ttl_s) for p in passes[mode != "ttl"]]
        reads = sum(w["reads"] for w in per_worker)
        hits = sum(w["hits"] for w in per_worker)
        stale = sum(w["stale"] for w in per_worker)
        ages = [age for w in per_worker for age in w["ages_s"]]
        items_peak = sum(min(items_held, w["alive_peak"]) for w in per_worker)
        figures = {
            "requests": int(arrays["measured"].sum()),
            "reads": reads,
            "hit_ratio": hits / reads if reads else None,
            "l1_hit_ratio": hits / reads if reads else None,
            "origin_reads_per_s": (reads - hits) / duration_s,
            "stale_reads": stale,
            "stale_read_ratio": stale / reads if reads else None,
            "l1_items_peak": items_peak,
            # Under version each held item has its generation key beside it.
            "l1_generation_keys_peak": items_peak if mode == "version" else 0,
            **age_summary(ages),
        }
        rows.append(figures)
    return rows


def engine_points(
    trace: Trace, target: str, workers: int, values_of: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The same figures by the fast engine (any target; slow over a long horizon)."""
    rows = []
    for values in values_of:
        invalidation = load_settings(strategy=target, **values).invalidation
        figures = simulate(trace, target, values, workers=workers).metrics()
        rows.append(with_item_entries(figures, invalidation))
    return rows


def check_point(
    trace: Trace, target: str, workers: int, values: dict[str, Any], one_pass: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One point by the one pass (unless its figures are given) and by the fast engine over the
    same trace, and the CPU time of each."""
    settings = load_settings(strategy=target, **values)
    config = {k: getattr(settings, k) for k in ONE_PASS_AXES}
    started = time.process_time()
    one_pass = one_pass or one_pass_points(trace, workers, settings, [config])[0]
    one_pass_s = time.process_time() - started
    started = time.process_time()
    engine = simulate(trace, target, values, workers=workers).metrics()
    engine_s = time.process_time() - started
    return {
        **config,
        "one_pass_hit_ratio": one_pass["hit_ratio"],
        "engine_hit_ratio": engine["hit_ratio"],
        "hit_error_pp": (one_pass["hit_ratio"] - engine["hit_ratio"]) * 100,
        "one_pass_stale_read_ratio": one_pass["stale_read_ratio"],
        "engine_stale_read_ratio": engine["stale_read_ratio"],
        "stale_error_pp": (one_pass["stale_read_ratio"] - engine["stale_read_ratio"]) * 100,
        "one_pass_cpu_s": one_pass_s,  # 0 when the figures were given
        "engine_cpu_s": engine_s,
    }


def sweep_points(
    spec: SweepSpec, configs: list[dict[str, Any]], per_entry: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any], Trace]:
    """Every config of the sweep at steady state as sweep rows; what was done (for the report);
    and the trace (for ``check_point``)."""
    values_of = [{**spec.settings, **c} for c in configs]
    resolved = [load_settings(strategy=spec.target, **v) for v in values_of]
    ttls_s = [s.l1_ttl_s for s in resolved]
    if TARGETS[spec.target].needs_redis:
        ttls_s += [s.redis_ttl_s for s in resolved]
    horizon = horizon_for(spec.rate_per_s, max(ttls_s), spec.steady_state_ttls, spec.steady_state_requests)
    started = time.process_time()
    workload = scenario_workload(spec.scenario, spec.scenario_options, seed=RUN_SEED)
    load = LoadModel(spec.users, spec.rate_per_s, locust_processes=spec.locust_processes)
    trace = build_steady_trace(workload, load, horizon)
    figures: dict[int, dict[str, Any]] = {}
    by_latency: dict[float, list[int]] = {}
    for index, settings in enumerate(resolved):
        if one_pass_supported(spec.target, settings):
            by_latency.setdefault(settings.origin_latency_ms, []).append(index)
    for members in by_latency.values():
        chosen = [{k: getattr(resolved[i], k) for k in ONE_PASS_AXES} for i in members]
        rows = one_pass_points(trace, spec.workers, resolved[members[0]], chosen)
        figures.update(zip(members, rows, strict=True))
    engine = [i for i in range(len(configs)) if i not in figures]
    rows = engine_points(trace, spec.target, spec.workers, [values_of[i] for i in engine])
    figures.update(zip(engine, rows, strict=True))
    cpu_s = time.process_time() - started
    points = [simulated_row(spec, c, figures[i], per_entry, "steady") for i, c in enumerate(configs)]
    info = {
        "horizon": horizon.as_dict(),
        "horizon_text": horizon.describe(trace.measured_requests),
        "trace_requests": len(trace),
        "measured_requests": trace.measured_requests,
        "points": len(configs),
        "one_pass_points": len(configs) - len(engine),
        "engine_points": len(engine),
        "cpu_s": cpu_s,
    }
    return points, info, trace
