"""Which sweep points are worth running: the Pareto front, and a recommendation under constraints.

A point is a flat row of figures (``hit_ratio``, ``memory_bytes``, ``stale_read_ratio``, ...: built
by ``analysis.sweep_report.point_rows``). The front is over ``OBJECTIVES``: more of the hit ratio,
less memory, fewer stale reads (origin load follows the hit ratio, and p99 follows it too and is
noisy, so they are constraints, not objectives). A recommendation is the feasible front, best
first: the highest hit ratio, then the least memory, then the fewest stale reads. When nothing is
feasible it says which constraint binds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from analysis.sweep_report.constraints import Constraint, Point
from cachebench.results.sweep_record import Binding


@dataclass(frozen=True)
class Objective:
    metric: str
    sense: Literal["max", "min"]
    label: str


OBJECTIVES = (
    Objective("hit_ratio", "max", "hit ratio"),
    Objective("memory_bytes", "min", "memory"),
    Objective("stale_read_ratio", "min", "stale-read ratio"),
)


def _scores(point: Point, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    """Objective values oriented so that larger is better; None when one is missing."""
    scores = []
    for objective in objectives:
        value = point.get(objective.metric)
        if value is None:
            return None
        scores.append(float(value) if objective.sense == "max" else -float(value))
    return tuple(scores)


def pareto_front(points: Sequence[Point], objectives: Sequence[Objective] = OBJECTIVES) -> list[int]:
    """Indices of the points no other point dominates (at least as good in every objective and
    better in one). Points with a missing objective are left out; equal points all stay."""
    scored = [(i, s) for i, point in enumerate(points) if (s := _scores(point, objectives)) is not None]
    front = []
    for i, mine in scored:
        dominated = any(
            all(o >= m for o, m in zip(other, mine, strict=True)) and other != mine for _, other in scored
        )
        if not dominated:
            front.append(i)
    return front


#: Between points equal in every objective, the smaller bounds and shorter TTLs go first: the
#: same results with less memory held in reserve and fresher data.
TIE_BREAKS = ("l1_max_entries", "l1_max_bytes", "l1_ttl_s", "redis_ttl_s")


def rank_key(point: Point) -> tuple[float, ...]:
    """Best first: highest hit ratio (to 0.1 pp), then least memory, then fewest stale reads, then
    the smallest bounds and TTLs (``TIE_BREAKS``)."""
    ties = tuple(math.inf if point.get(name) is None else float(point[name]) for name in TIE_BREAKS)
    return (
        -round(float(point.get("hit_ratio") or 0.0), 3),
        float(point.get("memory_bytes") or 0.0),
        float(point.get("stale_read_ratio") or 0.0),
        *ties,
    )


#: Points with the same value of every one of these are the same outcome (e.g. a size bound the
#: run never reached): listed once, best (smallest bounds) first, with the others as equivalents.
SAME_FIGURES = ("source", "hit_ratio", "memory_bytes", "stale_read_ratio", "staleness_age_p50_s",
                "staleness_age_p99_s", "staleness_age_max_s")  # fmt: skip


def equal_groups(points: Sequence[Point], indices: Sequence[int]) -> list[list[int]]:
    """``indices`` best first, grouped by identical figures (``SAME_FIGURES``)."""
    groups: dict[tuple, list[int]] = {}
    for i in sorted(indices, key=lambda i: rank_key(points[i])):
        groups.setdefault(tuple(points[i].get(m) for m in SAME_FIGURES), []).append(i)
    return list(groups.values())


@dataclass
class Recommendation:
    """The feasible front, best first (one per group of identical outcomes), or why there is none."""

    constraints: list[Constraint]
    front: list[int]
    feasible: list[int]
    ranked: list[int]
    binding: list[Binding] = field(default_factory=list)
    #: For a ranked point, the other configurations with exactly its figures.
    equivalents: dict[int, list[int]] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.ranked)

    def verdict(
        self, points: Sequence[Point], key: str = "id", describe: Callable[[Point], str] | None = None
    ) -> str:
        """One plain sentence (or a few) saying what to run, or what stands in the way."""
        describe = describe or (lambda p: str(p[key]))
        wanted = " and ".join(c.text for c in self.constraints) or "no constraints"
        if self.found:
            best = points[self.ranked[0]]
            notes = []
            if same := len(self.equivalents.get(self.ranked[0], [])):
                notes.append(f"{same} other configuration{'s' if same > 1 else ''} gave the same figures")
            if others := len(self.ranked) - 1:
                notes.append(f"{others} more on the feasible front")
            more = f" ({'; '.join(notes)})" if notes else ""
            return f"Run {describe(best)}: the best of the Pareto front that meets {wanted}{more}."
        if not points:
            return "No configuration was measured."
        lines = [f"No configuration meets {wanted}."]
        for item in self.binding:
            lines.append(item.text)
        return " ".join(lines)


def recommend(
    points: Sequence[Point],
    constraints: Sequence[Constraint],
    objectives: Sequence[Objective] = OBJECTIVES,
    describe: Callable[[Point], str] | None = None,
) -> Recommendation:
    """The Pareto front of the points that meet every constraint, best first."""
    describe = describe or (lambda p: str(p.get("id")))
    feasible = [i for i, p in enumerate(points) if all(c.holds(p) for c in constraints)]
    front_all = pareto_front(points, objectives)
    front_feasible = [feasible[j] for j in pareto_front([points[i] for i in feasible], objectives)]
    groups = equal_groups(points, front_feasible)
    ranked = [group[0] for group in groups]
    equivalents = {group[0]: group[1:] for group in groups if len(group) > 1}
    binding = [] if feasible or not points else _binding(points, list(constraints), describe)
    return Recommendation(list(constraints), front_all, feasible, ranked, binding, equivalents)


def _binding(points: Sequence[Point], constraints: list[Constraint], describe: Callable) -> list[Binding]:
    """Which constraints stand in the way: the smallest sets whose removal leaves a feasible point;
    for each, the best value its metric reaches among points meeting all the others."""
    explained: list[Binding] = []
    for size in range(1, len(constraints) + 1):
        for dropped in itertools.combinations(constraints, size):
            kept = [c for c in constraints if c not in dropped]
            candidates = [p for p in points if all(c.holds(p) for c in kept)]
            if not candidates:
                continue
            parts = []
            for constraint in dropped:
                known = [p for p in candidates if constraint.value(p) is not None]
                if not known:
                    parts.append(f"{constraint.text} (no point has a {constraint.kind.what} figure)")
                    continue
                pick = max if constraint.sense == "min" else min
                best = pick(known, key=lambda p, c=constraint: c.value(p))
                parts.append(
                    f"{constraint.text} binds: the best {constraint.kind.what} among points that meet"
                    f" the other constraints is {constraint.show(constraint.value(best))} ({describe(best)})"
                )
            explained.append(Binding(dropped=[c.name for c in dropped], text="; ".join(parts) + "."))
        if explained:
            return explained
    return [Binding(dropped=[c.name for c in constraints], text="Every constraint would have to go.")]


__all__ = [
    "OBJECTIVES",
    "Objective",
    "Recommendation",
    "equal_groups",
    "pareto_front",
    "rank_key",
    "recommend",
]
