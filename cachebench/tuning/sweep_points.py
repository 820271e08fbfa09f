"""A sweep's points as records (``SweepPoint``): live cells' figures from their files, simulated
points' from the simulator. Both carry the same fields, so the two sit in one table, one front and
one heatmap.

Live: hit ratio from the responses' Cache-Status (latency.json counts), per layer and origin reads
from /metrics, p50/p99 and the achieved rate from the summary, staleness from the records
(``cachebench.staleness``), memory = the most L1 entries /metrics counted (all workers) × bytes per
entry (``cachebench.tuning.entry_bytes``) plus the peak Redis ``used_memory``. Simulated: the same
figures from a ``SimResult`` of ``cachebench.tuning.simulator`` on a live cell's own horizon (each
phase as long as the live cells' records show it really was), or of ``cachebench.tuning.long_horizon``
at steady state; memory = the simulated caches' peak entries × bytes per entry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cachebench import staleness
from cachebench.results import (
    CLIENT_WRITE,
    LATENCY_FILE,
    READ,
    SAMPLE,
    SAMPLES_FILE,
    SUMMARY_FILE,
    CellSummary,
    LatencyRecord,
    RecordError,
    cell_dir,
    read_manifest,
    read_summary,
)
from cachebench.results.summaries import StaleFigures, Staleness
from cachebench.results.sweep_record import EntryBytes, GridPoint, PhaseTiming, SimulatedAs, SweepPoint
from cachebench.staleness import age_summary
from cachebench.tuning.entry_bytes import cache_memory_bytes, item_entries
from cachebench.tuning.sim_model import SimResult, SimulationError, simulated_targets
from cachebench.tuning.simulator import simulate
from cachebench.tuning.sweep_spec import SweepError, SweepSpec, scenario_workload
from cachebench.tuning.trace import DEFAULT_GAP_S, LoadModel, Trace, build_trace

#: The seed ``cachebench.run.matrix.expand`` gives a matrix's first repetition (a sweep runs one).
RUN_SEED = 42
#: A Locust run of ``--run-time T`` sends traffic for a little less than T (its users start a
#: moment after the run-time clock): measured, a 1 s warm-up ~0.65 s, a 6 s run ~5.78 s. Used
#: when a cell's own records cannot say (``calibrate_timing``).
LOCUST_START_LAG_S = 0.3

# -- figures both kinds of point share ---------------------------------------------------------


def _ages_known(figures: StaleFigures) -> StaleFigures:
    """When nothing was stale, no stale read was old at all: its ages are 0 s, not unknown."""
    if figures.stale_reads != 0:
        return figures
    ages = [name for name in StaleFigures.model_fields if name.startswith("staleness_age_")]
    return figures.model_copy(update=dict.fromkeys(ages, 0.0))


def simulated_staleness(reads: int, stale_reads: int, ages_s: Sequence[float]) -> StaleFigures:
    """Stale reads among ``reads`` and how old they were."""
    ratio = stale_reads / reads if reads else None
    return _ages_known(
        StaleFigures(reads=reads, stale_reads=stale_reads, stale_read_ratio=ratio, **age_summary(ages_s))
    )


def _live_staleness(reads: int | None, found: Staleness | None) -> StaleFigures:
    """A live cell's stale reads, from its records, among its ``reads`` item reads."""
    if found is None or not found.available:
        return StaleFigures(reads=reads)
    figures = found.model_dump(include=set(StaleFigures.model_fields) - {"reads"})
    return _ages_known(StaleFigures(reads=reads, **figures))


def _read_counts(directory: Path) -> tuple[int | None, int | None]:
    """(item reads, item reads a cache answered) from the scenario's latency.json."""
    try:
        counts = LatencyRecord.read(directory / LATENCY_FILE).counts
    except RecordError:
        return None, None
    reads = counts.get("GET /items/[id]|all")
    hits = sum(n for key, n in counts.items() if key.startswith("GET /items/[id]|") and key.endswith("_hit"))
    return reads, hits


def default_timing(spec: SweepSpec) -> PhaseTiming:
    """The phases as the sweep file gives them, less Locust's start lag."""
    warmup_s = max(0.0, spec.warmup_s - LOCUST_START_LAG_S) if spec.warmup_s > 0 else 0.0
    duration_s = max(0.1, spec.duration_s - LOCUST_START_LAG_S)
    return PhaseTiming(warmup_s=warmup_s, duration_s=duration_s, gap_s=DEFAULT_GAP_S, source="defaults")


def calibrate_timing(directory: Path, spec: SweepSpec, trace: Trace, latency_s: float) -> PhaseTiming | None:
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
    duration_s = min(spec.duration_s, (len(reads) + len(client)) / spec.offered_rate_per_s)
    default = default_timing(spec)
    acknowledged = set(
        zip(
            client[CLIENT_WRITE.item_id].astype(int),
            client[CLIENT_WRITE.new_version].astype(int),
            strict=True,
        )
    )
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
        return PhaseTiming(
            warmup_s=default.warmup_s,
            duration_s=duration_s,
            gap_s=default.gap_s,
            source="live records (measured phase only)",
        )
    warmup_s = (found[0] + missing_s) / 2 if missing_s is not None else spec.warmup_s
    first_read = next(i for i in range(trace.measured_from, len(trace)) if not trace.is_write[i])
    measured_start_s = trace.load.warmup_s + trace.load.gap_s if trace.load.warmup_s > 0 else 0.0
    measured_offset_s = trace.times_s[first_read] - measured_start_s  # the first read's pacer phase
    warm_start_wall = found[1] - found[0]
    measured_start_wall = float(reads[READ.t_unix_s].min()) - measured_offset_s
    gap_s = max(0.0, measured_start_wall - (warm_start_wall + warmup_s))
    return PhaseTiming(warmup_s=warmup_s, duration_s=duration_s, gap_s=gap_s, source="live records")


def _live_l1_entries(directory: Path) -> float | None:
    """The most L1 entries the target held (all workers), from the cell's per-second samples."""
    try:
        samples = pd.read_csv(directory / SAMPLES_FILE, usecols=[SAMPLE.l1_entries])
    except (OSError, ValueError):
        return None
    entries = pd.to_numeric(samples[SAMPLE.l1_entries], errors="coerce").max()
    return None if pd.isna(entries) else float(entries)


def _measured(directory: Path) -> CellSummary | None:
    """The cell's summary (None when it wrote none, or one that cannot be read)."""
    try:
        summary = read_summary(directory / SUMMARY_FILE)
    except RecordError:
        return None
    return summary if isinstance(summary, CellSummary) else None


def live_points(run_dir: Path, grid: list[GridPoint], per_entry: EntryBytes) -> list[SweepPoint]:
    """One point per live cell, from its summary, latency counts, samples and staleness records."""
    by_id = {point.id: point for point in grid}
    points = []
    for cell in read_manifest(run_dir).cells:
        directory = cell_dir(run_dir, cell.name)
        measured = _measured(directory)
        headline = measured.headline if measured else None
        reads, hits = _read_counts(directory)
        entries = _live_l1_entries(directory)
        l1_memory = None if entries is None else entries * per_entry.l1_entry_bytes
        redis_memory = headline.redis_used_memory_bytes_max if headline else None
        memory = None
        if l1_memory is not None or redis_memory is not None:
            memory = (l1_memory or 0) + (redis_memory or 0)
        found = measured.staleness if measured else None
        if found is None and cell.status in ("complete", "incomplete"):
            found = staleness.summarize_cell(directory)
        points.append(
            SweepPoint(
                **dict(by_id[cell.variant]),
                **dict(_live_staleness(reads, found)),
                source="live",
                horizon="live",
                cell=cell.name,
                status=cell.status,
                hit_ratio=hits / reads if reads else None,
                hit_ratio_by_layer=dict(headline.hit_ratio_by_layer) if headline else {},
                origin_reads_per_s=headline.origin_reads_per_s if headline else None,
                achieved_rate_per_s=headline.achieved_rate_per_s if headline else None,
                p50_ms=headline.p50_ms if headline else None,
                p99_ms=headline.p99_ms if headline else None,
                memory_bytes=memory,
                l1_memory_bytes=l1_memory,
                redis_memory_bytes=redis_memory,
                l1_entries_peak=entries,
                memory_source="L1 entries measured × bytes per entry + Redis used_memory",
            )
        )
    return points


def simulated_point(
    grid: GridPoint, result: SimResult, per_entry: EntryBytes, horizon: str = "steady"
) -> SweepPoint:
    """A point from the simulator's figures for it (the fast engine's or the one pass's)."""
    items, generation_keys = item_entries(result.l1_entries_peak, grid.settings.invalidation)
    l1_memory, redis_memory, memory = cache_memory_bytes(
        items, generation_keys, result.redis_entries_peak, per_entry
    )
    return SweepPoint(
        **dict(grid),
        **dict(simulated_staleness(result.reads, result.stale_reads, result.staleness_ages_s)),
        source="simulated",
        horizon=horizon,
        status="simulated",
        hit_ratio=result.hit_ratio,
        hit_ratio_by_layer=result.hit_ratio_by_layer(),
        origin_reads_per_s=result.origin_reads_per_s,
        memory_bytes=memory,
        l1_memory_bytes=l1_memory,
        redis_memory_bytes=redis_memory,
        l1_entries_peak=items + generation_keys,
        memory_source="simulated entries × bytes per entry",
        simulated_requests=result.requests,
    )


def simulated_as(spec: SweepSpec, grid: GridPoint, timing: PhaseTiming) -> tuple[SimulatedAs, int, float]:
    """A live point simulated on its own horizon (the phases its cell ran); also the requests
    replayed and the CPU seconds it took."""
    trace = trace_for(spec, timing)
    started = time.process_time()
    result = simulate(trace, grid.settings, workers=spec.workers, engine=spec.engine)
    cpu_s = time.process_time() - started
    simulated = SimulatedAs(
        timing=timing,
        hit_ratio=result.hit_ratio,
        hit_ratio_by_layer=result.hit_ratio_by_layer(),
        stale_read_ratio=result.stale_read_ratio,
    )
    return simulated, len(trace), cpu_s


def trace_for(spec: SweepSpec, timing: PhaseTiming | None = None) -> Trace:
    """The scenario's requests for the phases ``timing`` says (default: as configured)."""
    if spec.offered_rate_per_s <= 0:
        raise SweepError("the simulator replays a fixed rate: set rate_per_s (or --rate) above 0")
    if spec.target not in simulated_targets():
        raise SweepError(f"the simulator replays {', '.join(simulated_targets())}, not {spec.target!r}")
    workload = scenario_workload(spec.scenario, spec.scenario_options, seed=RUN_SEED)
    warmup_s, duration_s, gap_s = (
        (spec.warmup_s, spec.duration_s, DEFAULT_GAP_S)
        if timing is None
        else (timing.warmup_s, timing.duration_s, timing.gap_s)
    )
    load = LoadModel(spec.users, spec.offered_rate_per_s, duration_s, warmup_s, gap_s, spec.locust_processes)
    try:
        return build_trace(workload, load)
    except SimulationError as exc:
        raise SweepError(str(exc)) from None
