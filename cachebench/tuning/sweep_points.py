"""A sweep's points: live cells' figures from their files, simulated points' from the simulator.

Both carry the same names, so the two can sit in one table, one front and one heatmap.

Live: hit ratio from the responses' Cache-Status (latency.json counts), per layer and origin reads
from /metrics, p50/p99 and throughput from the summary, staleness from the records
(``cachebench.staleness``), memory = the most L1 entries /metrics counted (all workers) × bytes per
entry (``cachebench.tuning.entry_bytes``) plus the peak Redis ``used_memory``. Simulated: the same
figures from ``cachebench.tuning.simulator`` on a live cell's own horizon (each phase as long as the
live cells' records show it really was), or from ``cachebench.tuning.long_horizon`` at steady state;
memory = the simulated caches' peak entries × bytes per entry.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cachebench import staleness
from cachebench.results import LATENCY_FILE, SAMPLES_FILE, SUMMARY_FILE, cell_dir, read_manifest
from cachebench.settings import Settings, load_settings
from cachebench.tuning.entry_bytes import cache_memory_bytes, with_item_entries
from cachebench.tuning.sim_model import SimulationError, simulated_targets
from cachebench.tuning.simulator import simulate
from cachebench.tuning.sweep_spec import REPORTED_SETTINGS, SweepError, SweepSpec, point_id, scenario_workload
from cachebench.tuning.trace import DEFAULT_GAP_S, LoadModel, Trace, build_trace

#: The seed ``cachebench.run.matrix.expand`` gives a matrix's first repetition (a sweep runs one).
RUN_SEED = 42
#: A Locust run of ``--run-time T`` sends traffic for a little less than T (its users start a
#: moment after the run-time clock): measured, a 1 s warm-up ~0.65 s, a 6 s run ~5.78 s. Used
#: when a cell's own records cannot say (``calibrate_timing``).
LOCUST_START_LAG_S = 0.3

# -- points ------------------------------------------------------------------------------------


def _reported_settings(resolved: Settings, point: dict[str, Any]) -> dict[str, Any]:
    values = {name: getattr(resolved, name) for name in REPORTED_SETTINGS}
    values.update(point)
    return values


def _staleness_fields(found: dict[str, Any]) -> dict[str, Any]:
    if not found.get("available", True):
        return {
            "stale_read_ratio": None,
            "stale_reads": None,
            "staleness_age_p50_s": None,
            "staleness_age_p99_s": None,
            "staleness_age_max_s": None,
        }
    fields = {
        name: found.get(name)
        for name in (
            "stale_read_ratio",
            "stale_reads",
            "staleness_age_p50_s",
            "staleness_age_p99_s",
            "staleness_age_max_s",
        )
    }
    if found.get("stale_reads") == 0:  # nothing was stale: no stale read was old at all
        for name in ("staleness_age_p50_s", "staleness_age_p99_s", "staleness_age_max_s"):
            fields[name] = 0.0
    return fields


def _read_counts(directory: Path) -> tuple[int | None, int | None]:
    """(item reads, item reads a cache answered) from the scenario's latency.json."""
    try:
        counts = json.loads((directory / LATENCY_FILE).read_text())["counts"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None, None
    reads = counts.get("GET /items/[id]|all")
    hits = sum(n for key, n in counts.items() if key.startswith("GET /items/[id]|") and key.endswith("_hit"))
    return reads, hits


@dataclass(frozen=True)
class Timing:
    """How much traffic a live cell's phases delivered, in stream seconds, and the pause between."""

    warmup_s: float
    duration_s: float
    gap_s: float
    source: str


def default_timing(spec: SweepSpec) -> Timing:
    warmup_s = max(0.0, spec.warmup_s - LOCUST_START_LAG_S) if spec.warmup_s > 0 else 0.0
    return Timing(warmup_s, max(0.1, spec.duration_s - LOCUST_START_LAG_S), DEFAULT_GAP_S, "defaults")


def calibrate_timing(directory: Path, spec: SweepSpec, trace: Trace, latency_s: float) -> Timing | None:
    """The phases a live cell really ran, from its records: the measured phase from how many
    requests were logged; the warm-up from which of the trace's warm-up writes reached the
    origin's log (warm-up writes are those no measured client acknowledged), in order; the gap
    from the wall times of the last warm-up write and of the first measured read."""
    try:
        origin = staleness.load_origin_writes(directory)
        reads = staleness.load_reads(directory)
        client = staleness.load_client_writes(directory)
    except OSError:
        return None
    if reads.empty:
        return None
    duration_s = min(spec.duration_s, (len(reads) + len(client)) / spec.rate_per_s)
    default = default_timing(spec)
    acknowledged = set(zip(client["item_id"].astype(int), client["new_version"].astype(int), strict=True))
    warm_walls: dict[int, list[float]] = {}
    for item, version, at in sorted(origin.itertuples(index=False), key=lambda row: row[2]):
        if (int(item), int(version)) not in acknowledged:
            warm_walls.setdefault(int(item), []).append(float(at))
    intended = [(trace.times_s[i], trace.items[i]) for i in range(trace.measured_from) if trace.is_write[i]]
    found: tuple[float, float] | None = None  # (trace time, wall time) of the last warm-up write seen
    missing_s = None
    for at_s, item in intended:
        walls = warm_walls.get(item)
        if not walls:
            missing_s = at_s
            break
        found = (at_s, walls.pop(0) - latency_s)
    if found is None:
        return Timing(default.warmup_s, duration_s, default.gap_s, "live records (measured phase only)")
    warmup_s = (found[0] + missing_s) / 2 if missing_s is not None else spec.warmup_s
    first_read = next(i for i in range(trace.measured_from, len(trace)) if not trace.is_write[i])
    measured_start_s = trace.load.warmup_s + trace.load.gap_s if trace.load.warmup_s > 0 else 0.0
    measured_offset_s = trace.times_s[first_read] - measured_start_s  # the first read's pacer phase
    warm_start_wall = found[1] - found[0]
    measured_start_wall = float(reads["t_unix_s"].min()) - measured_offset_s
    gap_s = max(0.0, measured_start_wall - (warm_start_wall + warmup_s))
    return Timing(warmup_s, duration_s, gap_s, "live records")


def _live_l1_entries(directory: Path) -> float | None:
    """The most L1 entries the target held (all workers), from the cell's per-second samples."""
    try:
        samples = pd.read_csv(directory / SAMPLES_FILE, usecols=["l1_entries"])
    except (OSError, ValueError):
        return None
    entries = pd.to_numeric(samples["l1_entries"], errors="coerce").max()
    return None if pd.isna(entries) else float(entries)


def live_points(
    run_dir: Path, spec: SweepSpec, grid: list[dict[str, Any]], per_entry: dict[str, Any]
) -> list[dict[str, Any]]:
    """One point per live cell, from its summary, latency counts, samples and staleness records."""
    by_id = {point_id(p): p for p in grid}
    points = []
    for cell in read_manifest(run_dir).cells:
        directory = cell_dir(run_dir, cell.name)
        point = by_id.get(cell.variant, {})
        resolved = load_settings(strategy=spec.target, **{**spec.settings, **point})
        row: dict[str, Any] = {
            "id": cell.variant,
            "source": "live",
            "cell": cell.name,
            "status": cell.status,
            "target": spec.target,
            "scenario": spec.scenario,
            "workers": spec.workers,
            **_reported_settings(resolved, point),
        }
        summary: dict[str, Any] = {}
        with contextlib.suppress(OSError, json.JSONDecodeError):
            summary = json.loads((directory / SUMMARY_FILE).read_text())
        headline = summary.get("headline", {})
        reads, hits = _read_counts(directory)
        entries = _live_l1_entries(directory)
        l1_memory = None if entries is None else entries * per_entry["l1_entry_bytes"]
        redis_memory = headline.get("redis_used_memory_bytes_max")
        memory = None
        if l1_memory is not None or redis_memory is not None:
            memory = (l1_memory or 0) + (redis_memory or 0)
        row.update(
            {
                "hit_ratio": hits / reads if reads else None,
                "l1_hit_ratio": headline.get("l1_hit_ratio"),
                "redis_hit_ratio": headline.get("redis_hit_ratio"),
                "origin_reads_per_s": headline.get("origin_reads_per_s"),
                "requests_per_s": headline.get("requests_per_s"),
                "p50_ms": headline.get("p50_ms"),
                "p99_ms": headline.get("p99_ms"),
                "memory_bytes": memory,
                "l1_memory_bytes": l1_memory,
                "redis_memory_bytes": redis_memory,
                "l1_entries_peak": entries,
                "memory_source": "L1 entries measured × bytes per entry + Redis used_memory",
                "reads": reads,
            }
        )
        found = summary.get("staleness")
        if found is None and cell.status in ("complete", "incomplete"):
            found = staleness.summarize_cell(directory)
        row.update(_staleness_fields(found or {"available": False}))
        points.append(row)
    return points


def simulated_row(
    spec: SweepSpec, point: dict[str, Any], figures: dict[str, Any], per_entry: dict[str, Any], horizon: str
) -> dict[str, Any]:
    """A simulated point's row from the simulator's figures (``SimResult.metrics`` names)."""
    resolved = load_settings(strategy=spec.target, **{**spec.settings, **point})
    row = {
        "id": point_id(point),
        "source": "simulated",
        "horizon": horizon,
        "cell": None,
        "status": "simulated",
        "target": spec.target,
        "scenario": spec.scenario,
        "workers": spec.workers,
        **_reported_settings(resolved, point),
        "hit_ratio": figures["hit_ratio"],
        "l1_hit_ratio": figures.get("l1_hit_ratio"),
        "redis_hit_ratio": figures.get("redis_hit_ratio"),
        "origin_reads_per_s": figures["origin_reads_per_s"],
        "requests_per_s": None,
        "p50_ms": None,
        "p99_ms": None,
        **cache_memory_bytes(figures, per_entry),
        "l1_entries_peak": figures.get("l1_items_peak", 0) + figures.get("l1_generation_keys_peak", 0),
        "memory_source": "simulated entries × bytes per entry",
        "reads": figures["reads"],
        "simulated_requests": figures["requests"],
    }
    row.update(_staleness_fields({"available": True, **figures}))
    return row


def simulated_point(
    spec: SweepSpec, point: dict[str, Any], trace: Trace, per_entry: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """One point by the simulator on a live cell's horizon; also the CPU seconds it took."""
    values = {**spec.settings, **point}
    started = time.process_time()
    result = simulate(trace, spec.target, values, workers=spec.workers, engine=spec.engine)
    cpu_s = time.process_time() - started
    figures = with_item_entries(result.metrics(), load_settings(strategy=spec.target, **values).invalidation)
    return simulated_row(spec, point, figures, per_entry, "live"), cpu_s


def trace_for(spec: SweepSpec, timing: Timing | None = None) -> Trace:
    """The scenario's requests for the phases ``timing`` says (default: as configured)."""
    if spec.rate_per_s <= 0:
        raise SweepError("the simulator replays a fixed rate: set rate_per_s (or --rate) above 0")
    if spec.target not in simulated_targets():
        raise SweepError(f"the simulator replays {', '.join(simulated_targets())}, not {spec.target!r}")
    workload = scenario_workload(spec.scenario, spec.scenario_options, seed=RUN_SEED)
    warmup_s, duration_s, gap_s = (
        (spec.warmup_s, spec.duration_s, DEFAULT_GAP_S)
        if timing is None
        else (timing.warmup_s, timing.duration_s, timing.gap_s)
    )
    load = LoadModel(spec.users, spec.rate_per_s, duration_s, warmup_s, gap_s, spec.locust_processes)
    try:
        return build_trace(workload, load)
    except SimulationError as exc:
        raise SweepError(str(exc)) from None
