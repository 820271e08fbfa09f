"""``cachebench sweep``: what TTL and cache size to run, from a grid measured live and simulated.

A sweep file (``bench/sweep.toml``, ``cachebench.tuning.sweep_spec``) names one target, one scenario and
one load, fixed settings, a ``[grid]`` measured live (an ordinary matrix run by the ordinary runner
into an ordinary results folder) and a ``[simulate]`` grid evaluated by ``cachebench.tuning.simulator``
only. Each point is made once with its settings resolved (``sweep_spec.make_points``); the engines
take those. Two horizons: every live point is simulated on its own short horizon, so the report shows
how far the simulator is from the measurement; and every point of both grids is simulated at
steady state (``cachebench.tuning.long_horizon``: a virtual horizon of ≥ 10× the largest TTL and
≥ 1M requests), which is what the recommendation is for. Per point (``cachebench.tuning.sweep_points``):
hit ratio and per layer, p50/p99 and the achieved rate (live only), origin reads/s, the memory the
caches hold (``cachebench.tuning.entry_bytes``), stale-read ratio and staleness age. Then the Pareto
front and a recommendation under the user's constraints (``analysis.sweep_report.sweep_verdict``),
written next to the cells as ``sweep.json`` (``SweepResults``), ``sweep.csv``, figures,
``sweep_report.html`` and ``sweep_summary.md`` (``analysis.sweep_report.sweep_page``).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from rich.console import Console

from analysis.sweep_report.constraints import Constraint, parse_constraints
from analysis.sweep_report.point_rows import points_csv
from analysis.sweep_report.sweep_verdict import recommend_points
from cachebench.results import (
    RESULTS_ROOT,
    SWEEP_FILE,
    SWEEP_POINTS_FILE,
    SWEEP_REPORT_FILE,
    Manifest,
    cell_dir,
    new_run_dir,
    write_atomic,
)
from cachebench.results.sweep_record import (
    LiveHorizon,
    PhaseTiming,
    SweepDefinition,
    SweepPoint,
    SweepResults,
    SweepSimulator,
    TraceSimulator,
    TraceSweepResults,
)
from cachebench.tuning import entry_bytes, long_horizon
from cachebench.tuning.sweep_points import (
    calibrate_timing,
    default_timing,
    live_points,
    simulated_as,
    simulated_point,
    trace_for,
)
from cachebench.tuning.sweep_spec import (
    SweepError,
    SweepSpec,
    grid_points,
    load_sweep,
    make_points,
    ordered_axes,
    point_id,
    resolve,
    scenario_workload,
    sweep_matrix,
)
from targets import TARGETS


def _live_horizon(spec: SweepSpec, run_dir: Path, points: list[SweepPoint]) -> LiveHorizon:
    """Each complete live point simulated as its cell really ran (its own short horizon)."""
    nominal = trace_for(spec)
    cpu_s, requests, timings = 0.0, 0, []
    complete = [p for p in points if p.status == "complete"]
    for point in complete:
        latency_s = point.settings.origin_latency_ms / 1000
        timing = calibrate_timing(cell_dir(run_dir, point.cell), spec, nominal, latency_s)
        timing = timing or default_timing(spec)
        timings.append(timing)
        point.simulated_as, replayed, spent = simulated_as(spec, point, timing)
        cpu_s += spent
        requests += replayed
    median = None
    if timings:
        median = PhaseTiming(
            warmup_s=statistics.median(t.warmup_s for t in timings),
            duration_s=statistics.median(t.duration_s for t in timings),
            gap_s=statistics.median(t.gap_s for t in timings),
            source=f"{timings[0].source} (median over cells)",
        )
    return LiveHorizon(points=len(complete), cpu_s=cpu_s, trace_requests=requests, timing=median)


def run_sweep(
    spec: SweepSpec,
    simulate_only: bool = False,
    results_root: Path = RESULTS_ROOT,
    console: Console | None = None,
) -> Path:
    """Run the sweep into a new results folder and write its report there; returns the folder."""
    console = console or Console()
    axes = ordered_axes([*spec.grid, *spec.simulate])
    live_kind = "simulated" if simulate_only else "live"
    live_grid = make_points(spec, grid_points(spec.grid), axes, live_kind) if spec.grid else []
    sim_grid = make_points(spec, grid_points(spec.simulate), axes, "simulated", made=live_grid)
    steady_grid = list({p.id: p for p in [*live_grid, *sim_grid]}.values())
    if simulate_only:
        live_grid = []
    if not steady_grid:
        raise SweepError("the sweep has no points: give [grid] and/or [simulate] axes")
    constraints = parse_constraints(spec.constraints, spec.staleness_stat)
    trace_for(spec)  # fails early (rate, target, scenario) before any live cell runs
    # What an entry costs depends on the fixed settings (the item's size), not on the axes.
    per_entry = entry_bytes.measure(resolve(spec, {}), TARGETS[spec.target].needs_redis)
    if live_grid:
        from cachebench.run.driver import run_bench

        console.print(f"sweep: {len(live_grid)} live points, {len(steady_grid)} simulated at steady state")
        run_dir = run_bench(sweep_matrix(spec, live_grid), results_root=results_root, console=console)
        points = live_points(run_dir, live_grid, per_entry)
    else:
        run_dir = new_run_dir(spec.label, results_root)
        matrix = {"sweep": spec.model_dump(mode="json"), "simulated_only": True}
        Manifest.start(run_dir, matrix, []).finish("complete")
        points = []
    live_horizon = _live_horizon(spec, run_dir, points)
    console.print(f"sweep: simulating {len(steady_grid)} points at steady state")
    slow = sum(not long_horizon.one_pass_supported(p.settings) for p in steady_grid)
    if slow:  # other targets and settings have no one-pass model: the fast engine, point by point
        console.print(
            f"sweep: {slow} of them by the fast engine (~5-20 CPU-s each per million requests; "
            "steady_state_requests in the sweep file shortens it)"
        )
    results, steady, steady_trace = long_horizon.steady_state(spec, steady_grid)
    points += [
        simulated_point(grid, result, per_entry) for grid, result in zip(steady_grid, results, strict=True)
    ]
    console.print(f"sweep: {steady.horizon_text}, {steady.cpu_s:.1f} CPU-s")
    recommend_points(points, spec, constraints, axes)
    best = next((p for p in points if p.recommended), None)
    # How far the one pass is from the fast engine, where the recommended point came from it.
    if best is not None and long_horizon.one_pass_supported(best.settings):
        steady.check = long_horizon.check_point(steady_trace, spec.workers, best.settings, one_pass=best)
    simulator = SweepSimulator(
        engine=spec.engine,
        entry_bytes=per_entry,
        live_horizon=live_horizon,
        steady_state=steady,
        simulated_points=len(results),
        trace_requests=steady.trace_requests,
        cpu_s=steady.cpu_s,
        simulated_requests_per_cpu_s=steady.trace_requests * len(results) / steady.cpu_s
        if steady.cpu_s
        else None,
    )
    return write_outputs(run_dir, spec, points, constraints, simulator, console)


def write_outputs(
    run_dir: Path,
    spec: SweepDefinition,
    points: list[SweepPoint],
    constraints: list[Constraint],
    simulator: SweepSimulator | TraceSimulator,
    console: Console | None = None,
) -> Path:
    """The sweep's record (``sweep.json``, or ``trace_sweep.json`` for an access log), ``sweep.csv``,
    heatmaps, ``sweep_report.html`` and ``sweep_summary.md`` in ``run_dir``."""
    from analysis.sweep_report import sweep_page  # matplotlib is imported only when a report is drawn

    axes = ordered_axes([*spec.grid, *spec.simulate])
    steady = isinstance(simulator, SweepSimulator)
    horizon_text = simulator.steady_state.horizon_text if steady else ""
    record_type = SweepResults if steady else TraceSweepResults
    results = record_type(
        spec=spec,
        axes=axes,
        constraints=[c.record() for c in constraints],
        recommendation=recommend_points(points, spec, constraints, axes, horizon_text),
        points=points,
        simulator=simulator,
    )
    results.write(run_dir / results.FILE)
    write_atomic(run_dir / SWEEP_POINTS_FILE, points_csv(results.points, results.spec))
    sweep_page.write(run_dir, results)
    if console is not None:
        console.print(sweep_page.console_summary(results))
        console.print(f"sweep report: {run_dir / SWEEP_REPORT_FILE}")
    return run_dir


def read_sweep(run_dir: Path) -> SweepResults | TraceSweepResults:
    """An earlier sweep's record; SweepError when the folder holds none."""
    for record_type in (SweepResults, TraceSweepResults):
        path = Path(run_dir) / record_type.FILE
        if path.exists():
            return record_type.read(path)
    raise SweepError(f"{run_dir} has no {SWEEP_FILE}: not a sweep results folder")


def rerecommend(run_dir: Path, constraints: dict[str, Any], staleness_stat: str | None = None) -> Path:
    """Recompute the recommendation and report of an earlier sweep under other constraints."""
    results = read_sweep(run_dir)
    given = {**results.spec.constraints, **{k: v for k, v in constraints.items() if v is not None}}
    spec = results.spec.model_copy(
        update={"constraints": given, "staleness_stat": staleness_stat or results.spec.staleness_stat}
    )
    parsed = parse_constraints(spec.constraints, spec.staleness_stat)
    return write_outputs(Path(run_dir), spec, results.points, parsed, results.simulator, Console())


__all__ = [
    "SweepError",
    "SweepSpec",
    "calibrate_timing",
    "grid_points",
    "load_sweep",
    "make_points",
    "point_id",
    "read_sweep",
    "rerecommend",
    "run_sweep",
    "scenario_workload",
    "sweep_matrix",
]
