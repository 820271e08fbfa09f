"""What horizon each of a sweep's figures is for, and how its simulated figures were made: the
sentences ``analysis.sweep_report.sweep_page`` puts beside them.

A live point is seconds long; the recommendation is for the steady state the simulator reaches over
a long virtual horizon (``cachebench.tuning.long_horizon``). Every figure says which it shows.
"""

from __future__ import annotations

import html
from typing import Any

from cachebench.results.sweep_record import (
    PhaseTiming,
    SweepDefinition,
    SweepOutcome,
    SweepSimulator,
    TraceSimulator,
)

Simulator = SweepSimulator | TraceSimulator


def timing_text(timing: PhaseTiming | None) -> str:
    if timing is None:
        return "configured"
    return (
        f"{timing.source}: warm-up traffic {timing.warmup_s:.2f} s, pause {timing.gap_s:.2f} s, "
        f"measured traffic {timing.duration_s:.2f} s"
    )


def entry_text(simulator: Simulator) -> str:
    per_entry = simulator.entry_bytes
    redis = per_entry.redis_entry_bytes
    return (
        f"Measured: {per_entry.l1_entry_bytes:,.0f} B per L1 entry for a "
        f"{per_entry.value_bytes:,} B value"
        + (f", {redis:,.0f} B per Redis key" if redis else "")
        + f" ({per_entry.method})."
    )


def simulator_text(simulator: Simulator, simulated: int) -> str:
    if isinstance(simulator, SweepSimulator):
        steady, live = simulator.steady_state, simulator.live_horizon
        return (
            f"{simulated} points simulated at {html.escape(steady.horizon_text)} "
            f"({steady.one_pass_points} by one pass per worker, {steady.engine_points} by the fast "
            f"engine; {steady.cpu_s:.1f} CPU-s); {live.points} live points re-simulated on "
            f"their own horizon (engine <code>{simulator.engine}</code>, phases as "
            f"{timing_text(live.timing)})."
        )
    speed = simulator.simulated_requests_per_cpu_s
    if not speed:
        return "Nothing was simulated."
    return (
        f"{simulated} points simulated (engine <code>{simulator.engine}</code>, "
        f"{simulator.trace_requests:,} requests, {speed:,.0f} simulated requests per CPU-second)."
    )


def check_html(simulator: Simulator) -> list[str]:
    """The recommended point by the fast engine over the same steady-state trace."""
    check = simulator.steady_state.check if isinstance(simulator, SweepSimulator) else None
    if check is None:
        return []
    return [
        "<p class='note'>The recommended point replayed through the real cache classes (the fast engine) "
        f"over the same steady-state trace: hit ratio {check.engine_hit_ratio:.4f} against the one "
        f"pass's {check.one_pass_hit_ratio:.4f} ({check.hit_error_pp:+.2f} pp), stale-read ratio "
        f"{check.engine_stale_read_ratio:.4f} against {check.one_pass_stale_read_ratio:.4f} "
        f"({check.stale_error_pp:+.2f} pp); {check.engine_cpu_s:.1f} CPU-s for it alone.</p>"
    ]


def horizon_labels(results: SweepOutcome) -> dict[str, str]:
    """What horizon each source's figures are for, in a few words (figure titles)."""
    spec, simulator = results.spec, results.simulator
    simulated = "simulated"
    if spec.trace:
        simulated = "the access log's span"
    elif isinstance(simulator, SweepSimulator):
        steady = simulator.steady_state
        simulated = (
            f"steady state, {steady.horizon.duration_s:,.0f} s / {steady.measured_requests:,} requests"
        )
    live = f"live, {spec.warmup_s:g} s warm-up + {spec.duration_s:g} s"
    return {"live": live, "simulated": simulated}


def horizon_note(spec: SweepDefinition, simulator: Simulator) -> str:
    """Which horizon each figure is for, and why the recommendation is for the long one."""
    if spec.trace:
        return "Figures are for the access log's own traffic, replayed as one process's L1 (see Trace)."
    live_s = spec.warmup_s + spec.duration_s + 1
    live = (
        f"Live figures are for runs of {spec.warmup_s:g} s warm-up and {spec.duration_s:g} s measured: "
        f"nothing cached lives longer than about {live_s:.0f} s within them, so TTLs beyond that look alike "
        "there; the simulator is checked against them on that same short horizon."
    )
    if not isinstance(simulator, SweepSimulator):
        return live
    return (
        f"The recommendation, the curves and the simulated figures are for "
        f"{simulator.steady_state.horizon_text}, simulated from the scenario's own traffic. {live}"
    )


def candidates_text(rows: list[dict[str, Any]]) -> str:
    """Which points the front and the recommendation are drawn from."""
    if any(row["horizon"] == "steady" for row in rows):
        return "the points simulated at steady state; live points only check the simulator"
    return "a live measurement replaces the simulation of the same configuration"
