"""``cachebench sweep``: what TTL and cache size to run, from a grid measured live and simulated.

A sweep file (``bench/sweep.toml``, ``cachebench.tuning.sweep_spec``) names one target, one scenario and
one load, fixed settings, a ``[grid]`` measured live (an ordinary matrix run by the ordinary runner
into an ordinary results folder) and a ``[simulate]`` grid evaluated by ``cachebench.tuning.simulator``
only. Two horizons: every live point is simulated on its own short horizon, so the report shows
how far the simulator is from the measurement; and every point of both grids is simulated at
steady state (``cachebench.tuning.long_horizon``: a virtual horizon of ≥ 10× the largest TTL and
≥ 1M requests), which is what the recommendation is for. Per point (``cachebench.tuning.sweep_points``):
hit ratio and per layer, p50/p99 and throughput (live only), origin reads/s, the memory the caches
hold (``cachebench.tuning.entry_bytes``), stale-read ratio and staleness age. Then the Pareto front
and a recommendation under the user's constraints (``analysis.sweep_report.pareto``,
``analysis.sweep_report.constraints``), written next to the cells as ``sweep.json``, ``sweep.csv``,
figures, ``sweep_report.html`` and ``sweep_summary.md`` (``analysis.sweep_report.sweep_page``).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from analysis.sweep_report.constraints import Constraint, parse_constraints
from analysis.sweep_report.pareto import recommend
from cachebench.results import (
    RESULTS_ROOT,
    SWEEP_FILE,
    SWEEP_POINTS_FILE,
    SWEEP_REPORT_FILE,
    Manifest,
    cell_dir,
    new_run_dir,
    rows_csv,
    write_atomic,
    write_json,
)
from cachebench.settings import load_settings
from cachebench.tuning import entry_bytes, long_horizon
from cachebench.tuning.sweep_points import (
    Timing,
    calibrate_timing,
    default_timing,
    live_points,
    simulated_point,
    trace_for,
)
from cachebench.tuning.sweep_spec import (
    SweepError,
    SweepSpec,
    complete_points,
    describe,
    grid_points,
    load_sweep,
    ordered_axes,
    point_id,
    scenario_workload,
    sweep_matrix,
    validate_points,
)
from targets import TARGETS

SCHEMA = 1


def candidates_of(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points a recommendation picks from: the steady-state ones when the sweep has them (a
    live point's seconds say little about a service that runs for days); else, as sweeps before
    the steady state did, a live point in place of the simulation of the same configuration."""
    steady = [p for p in points if p.get("horizon") == "steady"]
    if steady:
        return steady
    live_ids = {
        p["id"] for p in points if p["source"] == "live" and p["status"] in ("complete", "incomplete")
    }
    return [
        p
        for p in points
        if (p["source"] == "live" and p["id"] in live_ids)
        or (p["source"] == "simulated" and p["id"] not in live_ids)
    ]


def analyse(
    points: list[dict[str, Any]], constraints: list[Constraint], axes: list[str], horizon_text: str = ""
) -> dict[str, Any]:
    """Candidates, front, verdict (which says the horizon it is for)."""
    candidates = candidates_of(points)
    recommendation = recommend(candidates, constraints, describe=lambda p: describe(p, axes))
    front_ids = {candidates[i]["id"] for i in recommendation.front}
    feasible_ids = {candidates[i]["id"] for i in recommendation.feasible}
    for point in points:
        is_candidate = any(point is c for c in candidates)
        point["candidate"] = is_candidate
        point["on_front"] = is_candidate and point["id"] in front_ids
        point["feasible"] = is_candidate and point["id"] in feasible_ids
    ranked = [candidates[i] for i in recommendation.ranked]
    for point in points:
        point["recommended"] = bool(ranked) and point is ranked[0]
    return {
        "candidates": candidates,
        "recommendation": recommendation,
        "ranked": ranked,
        "verdict": recommendation.verdict(candidates, describe=lambda p: describe(p, axes))
        + (f" For {horizon_text}." if horizon_text else ""),
    }


def _validation(points: list[dict[str, Any]], predictions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for point in points:
        if point["source"] != "live" or point["id"] not in predictions or point["status"] != "complete":
            continue
        sim = predictions[point["id"]]
        row = {"id": point["id"]}
        for metric in ("l1_hit_ratio", "redis_hit_ratio", "hit_ratio", "stale_read_ratio"):
            live, simulated = point.get(metric), sim.get(metric)
            row[f"live_{metric}"], row[f"sim_{metric}"] = live, simulated
            row[f"{metric}_error_pp"] = (simulated - live) * 100 if None not in (live, simulated) else None
        rows.append(row)
    return rows


def _live_horizon(
    spec: SweepSpec,
    run_dir: Path,
    points: list[dict[str, Any]],
    live_grid: list[dict[str, Any]],
    per_entry: dict[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each complete live point simulated as its cell really ran (its own short horizon)."""
    latency_s = load_settings(strategy=spec.target, **spec.settings).origin_latency_ms / 1000
    nominal = trace_for(spec)
    predictions: dict[str, dict[str, Any]] = {}
    cpu_s, requests, timings = 0.0, 0, []
    for point in (p for p in points if p["status"] == "complete"):
        timing = calibrate_timing(cell_dir(run_dir, point["cell"]), spec, nominal, latency_s)
        timing = timing or default_timing(spec)
        timings.append(timing)
        point.update(sim_warmup_s=timing.warmup_s, sim_duration_s=timing.duration_s, sim_gap_s=timing.gap_s)
        config = next(g for g in live_grid if point_id(g) == point["id"])
        trace = trace_for(spec, timing)
        predictions[point["id"]], spent = simulated_point(spec, config, trace, per_entry)
        cpu_s += spent
        requests += len(trace)
    info: dict[str, Any] = {"points": len(predictions), "cpu_s": cpu_s, "trace_requests": requests}
    if timings:
        info["timing"] = asdict(
            Timing(
                statistics.median(t.warmup_s for t in timings),
                statistics.median(t.duration_s for t in timings),
                statistics.median(t.gap_s for t in timings),
                f"{timings[0].source} (median over cells)",
            )
        )
    return predictions, info


def run_sweep(
    spec: SweepSpec,
    simulate_only: bool = False,
    results_root: Path = RESULTS_ROOT,
    console: Console | None = None,
) -> Path:
    """Run the sweep into a new results folder and write its report there; returns the folder."""
    console = console or Console()
    axes = ordered_axes([*spec.grid, *spec.simulate])
    live_grid = complete_points(spec, grid_points(spec.grid), axes) if spec.grid else []
    sim_grid = complete_points(spec, grid_points(spec.simulate), axes) if spec.simulate else []
    steady_grid = list({point_id(p): p for p in [*live_grid, *sim_grid]}.values())
    if simulate_only:
        live_grid = []
    if not steady_grid:
        raise SweepError("the sweep has no points: give [grid] and/or [simulate] axes")
    validate_points(spec, live_grid, "live")
    validate_points(spec, steady_grid, "simulated")
    constraints = parse_constraints(spec.constraints, spec.staleness_stat)
    trace_for(spec)  # fails early (rate, target, scenario) before any live cell runs
    per_entry = entry_bytes.measure(
        load_settings(strategy=spec.target, **spec.settings), TARGETS[spec.target].needs_redis
    )
    if live_grid:
        from cachebench.run.driver import run_bench

        console.print(f"sweep: {len(live_grid)} live points, {len(steady_grid)} simulated at steady state")
        run_dir = run_bench(sweep_matrix(spec, live_grid), results_root=results_root, console=console)
        points = live_points(run_dir, spec, live_grid, per_entry)
    else:
        run_dir = new_run_dir(spec.label, results_root)
        manifest = Manifest(run_dir, {"sweep": spec.model_dump(mode="json"), "simulated_only": True}, [])
        manifest.finish("complete")
        points = []
    predictions, live_horizon = _live_horizon(spec, run_dir, points, live_grid, per_entry)
    console.print(f"sweep: simulating {len(steady_grid)} points at steady state")
    slow = sum(
        not long_horizon.one_pass_supported(
            spec.target, load_settings(strategy=spec.target, **{**spec.settings, **c})
        )
        for c in steady_grid
    )
    if slow:  # other targets and settings have no one-pass model: the fast engine, point by point
        console.print(
            f"sweep: {slow} of them by the fast engine (~5-20 CPU-s each per million requests; "
            "steady_state_requests in the sweep file shortens it)"
        )
    steady, steady_info, steady_trace = long_horizon.sweep_points(spec, steady_grid, per_entry)
    points += steady
    console.print(f"sweep: {steady_info['horizon_text']}, {steady_info['cpu_s']:.1f} CPU-s")
    ranked = analyse(points, constraints, axes)["ranked"]
    if ranked and spec.target == "l1":  # how far the one pass is from the fast engine, where it matters
        values = {**spec.settings, **{a: ranked[0][a] for a in axes}}
        steady_info["check"] = long_horizon.check_point(
            steady_trace, spec.target, spec.workers, values, one_pass=ranked[0]
        )
    simulator: dict[str, Any] = {
        "engine": spec.engine,
        "entry_bytes": per_entry,
        "live_horizon": live_horizon,
        "steady_state": steady_info,
        "simulated_points": len(steady),
        "trace_requests": steady_info["trace_requests"],
        "cpu_s": steady_info["cpu_s"],
        "simulated_requests_per_cpu_s": steady_info["trace_requests"] * len(steady) / steady_info["cpu_s"]
        if steady_info["cpu_s"]
        else None,
    }
    for point in points:
        sim = predictions.get(point["id"]) if point["source"] == "live" else None
        point["sim_hit_ratio"] = sim["hit_ratio"] if sim else None
        point["sim_l1_hit_ratio"] = sim["l1_hit_ratio"] if sim else None
        point["sim_stale_read_ratio"] = sim["stale_read_ratio"] if sim else None
    return write_outputs(
        run_dir, spec, points, constraints, simulator, _validation(points, predictions), console
    )


def write_outputs(
    run_dir: Path,
    spec: SweepSpec,
    points: list[dict[str, Any]],
    constraints: list[Constraint],
    simulator: dict[str, Any],
    validation: list[dict[str, Any]],
    console: Console | None = None,
) -> Path:
    """sweep.json, sweep.csv, heatmaps, sweep_report.html and sweep_summary.md in ``run_dir``."""
    from analysis.sweep_report import sweep_page  # matplotlib is imported only when a report is drawn

    axes = ordered_axes([*spec.grid, *spec.simulate])
    analysis = analyse(points, constraints, axes, simulator.get("steady_state", {}).get("horizon_text", ""))
    data = {
        "schema": SCHEMA,
        "spec": spec.model_dump(mode="json"),
        "axes": axes,
        "constraints": [c.as_dict() for c in constraints],
        "points": points,
        "recommendation": {
            **analysis["recommendation"].as_dict(analysis["candidates"]),
            "verdict": analysis["verdict"],
        },
        "simulator": simulator,
        "validation": validation,
    }
    write_json(run_dir / SWEEP_FILE, data)
    write_atomic(run_dir / SWEEP_POINTS_FILE, rows_csv(points, "id"))
    sweep_page.write(run_dir, data)
    if console is not None:
        console.print(sweep_page.console_summary(data))
        console.print(f"sweep report: {run_dir / SWEEP_REPORT_FILE}")
    return run_dir


def rerecommend(run_dir: Path, constraints: dict[str, Any], staleness_stat: str | None = None) -> Path:
    """Recompute the recommendation and report of an earlier sweep under other constraints."""
    path = Path(run_dir) / SWEEP_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"{run_dir} has no {SWEEP_FILE}: not a sweep results folder") from None
    spec = SweepSpec.model_validate(data["spec"])
    given = {**spec.constraints, **{k: v for k, v in constraints.items() if v is not None}}
    spec = spec.model_copy(
        update={"constraints": given, "staleness_stat": staleness_stat or spec.staleness_stat}
    )
    parsed = parse_constraints(spec.constraints, spec.staleness_stat)
    return write_outputs(
        Path(run_dir), spec, data["points"], parsed, data["simulator"], data["validation"], Console()
    )


__all__ = [
    "SweepError",
    "SweepSpec",
    "analyse",
    "calibrate_timing",
    "complete_points",
    "grid_points",
    "load_sweep",
    "point_id",
    "rerecommend",
    "run_sweep",
    "scenario_workload",
    "sweep_matrix",
]
