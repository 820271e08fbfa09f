"""A sweep's recommendation over its points: which points are candidates, the front and the
feasible front among them (``analysis.sweep_report.pareto``), each point marked where it stands,
and the verdict in one sentence naming the configuration to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis.sweep_report.constraints import Constraint
from analysis.sweep_report.pareto import recommend
from analysis.sweep_report.point_rows import REPORTED_SETTINGS, point_rows, setting_text
from cachebench.results.sweep_record import RecommendationRecord, SweepDefinition, SweepPoint


def candidates_of(points: list[SweepPoint]) -> list[SweepPoint]:
    """The points a recommendation picks from: the steady-state ones when the sweep has them (a
    live point's seconds say little about a service that runs for days); else a live point in
    place of the simulation of the same configuration (sweeps before the steady state, and
    access-log sweeps, which have no live point)."""
    steady = [p for p in points if p.horizon == "steady"]
    if steady:
        return steady
    live_ids = {p.id for p in points if p.source == "live" and p.status in ("complete", "incomplete")}
    return [
        p
        for p in points
        if (p.source == "live" and p.id in live_ids) or (p.source == "simulated" and p.id not in live_ids)
    ]


def describe(row: dict[str, Any], axes: Sequence[str]) -> str:
    """``l1 with l1_ttl_s=5, l1_max_entries=1000 (live)``, of a point's row."""
    names = axes or REPORTED_SETTINGS
    settings = ", ".join(f"{name}={setting_text(row.get(name))}" for name in names)
    source = "simulated at steady state" if row["horizon"] == "steady" else row["source"]
    return f"{row['target']} with {settings} ({source})"


def recommend_points(
    points: list[SweepPoint],
    spec: SweepDefinition,
    constraints: list[Constraint],
    axes: list[str],
    horizon_text: str = "",
) -> RecommendationRecord:
    """The recommendation among the candidates (its verdict says the horizon it is for); every
    point is marked: candidate, on the front, feasible, recommended."""
    candidates = candidates_of(points)
    rows = point_rows(candidates, spec)
    found = recommend(rows, constraints, describe=lambda row: describe(row, axes))
    front_ids = {candidates[i].id for i in found.front}
    feasible_ids = {candidates[i].id for i in found.feasible}
    best = candidates[found.ranked[0]] if found.ranked else None
    for point in points:
        point.candidate = any(point is c for c in candidates)
        point.on_front = point.candidate and point.id in front_ids
        point.feasible = point.candidate and point.id in feasible_ids
        point.recommended = point is best
    verdict = found.verdict(rows, describe=lambda row: describe(row, axes))
    return RecommendationRecord(
        front=[candidates[i].id for i in found.front],
        feasible=[candidates[i].id for i in found.feasible],
        recommended=[candidates[i].id for i in found.ranked],
        equivalents={candidates[i].id: [candidates[j].id for j in js] for i, js in found.equivalents.items()},
        binding=found.binding,
        verdict=verdict + (f" For {horizon_text}." if horizon_text else ""),
    )
