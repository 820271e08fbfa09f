"""Which sweep points are worth running: the Pareto front, the user's constraints, a recommendation.

A point is a dict of figures (``hit_ratio``, ``memory_bytes``, ``stale_read_ratio``, ...). The
front is over ``OBJECTIVES``: more of the hit ratio, less memory, fewer stale reads (origin load
follows the hit ratio, and p99 follows it too and is noisy, so they are constraints, not
objectives). A recommendation is the feasible front, best first: the highest hit ratio, then the
least memory, then the fewest stale reads. When nothing is feasible it says which constraint binds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Point = Mapping[str, Any]


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

# -- parsing what users type -------------------------------------------------------------------

_DURATION_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_BYTE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


def parse_duration_s(text: str | float) -> float:
    """``"5s"``, ``"500ms"``, ``"2m"``, ``"1.5h"`` or a bare number of seconds."""
    if isinstance(text, int | float):
        value, unit = float(text), "s"
    else:
        match = re.fullmatch(rf"\s*{_NUMBER}\s*([a-zµ]*)\s*", str(text).lower())
        if not match or match.group(2) not in (*_DURATION_UNITS_S, ""):
            raise ValueError(f"{text!r} is not a duration (e.g. 5s, 500ms, 2m)")
        value, unit = float(match.group(1)), match.group(2) or "s"
    return value * _DURATION_UNITS_S[unit]


def parse_bytes(text: str | float) -> int:
    """``"256MB"`` (10^6), ``"256MiB"`` or ``"256M"`` (2^20), ``"1.5GB"``, or a bare number of bytes."""
    if isinstance(text, int | float):
        return int(text)
    match = re.fullmatch(rf"\s*{_NUMBER}\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _BYTE_UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 256MB, 1GiB, 512M)")
    return int(float(match.group(1)) * _BYTE_UNITS[match.group(2)])


def parse_ratio(text: str | float) -> float:
    """``"0.9"``, ``0.9`` or ``"90%"``: a share between 0 and 1."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a ratio (e.g. 0.9 or 90%)") from None
    if not 0 <= value <= 1:
        raise ValueError(f"{text!r} is not between 0 and 1")
    return value


def _plain_number(text: str | float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


def format_bytes(value: float | None) -> str:
    if value is None:
        return "–"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def format_seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s"


# -- constraints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstraintKind:
    option: str
    metric: str
    sense: Literal["max", "min"]
    parse: Callable[[Any], float]
    show: Callable[[float | None], str]
    what: str


STALENESS_METRICS = {
    "max": "staleness_age_max_s",
    "p99": "staleness_age_p99_s",
    "p50": "staleness_age_p50_s",
}
CONSTRAINT_KINDS = {
    "max_staleness": ConstraintKind(
        "--max-staleness", "staleness_age_max_s", "max", parse_duration_s, format_seconds, "staleness age"
    ),
    "max_memory": ConstraintKind("--max-memory", "memory_bytes", "max", parse_bytes, format_bytes, "memory"),
    "min_hit_ratio": ConstraintKind(
        "--min-hit-ratio", "hit_ratio", "min", parse_ratio, lambda v: _fmt(v, "{:.3f}"), "hit ratio"
    ),
    "max_stale_ratio": ConstraintKind(
        "--max-stale-ratio",
        "stale_read_ratio",
        "max",
        parse_ratio,
        lambda v: _fmt(v, "{:.4f}"),
        "stale-read ratio",
    ),
    "max_p99": ConstraintKind(
        "--max-p99",
        "p99_ms",
        "max",
        lambda t: parse_duration_s(t) * 1000,
        lambda v: _fmt(v, "{:.1f} ms"),
        "p99 latency",
    ),
    "max_origin_reads": ConstraintKind(
        "--max-origin-reads",
        "origin_reads_per_s",
        "max",
        _plain_number,
        lambda v: _fmt(v, "{:.1f}/s"),
        "origin reads/s",
    ),
}


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


@dataclass(frozen=True)
class Constraint:
    """One bound the user gave, e.g. ``--max-staleness 5s`` on ``staleness_age_max_s``."""

    name: str
    metric: str
    sense: Literal["max", "min"]
    bound: float
    given: str

    @property
    def kind(self) -> ConstraintKind:
        return CONSTRAINT_KINDS[self.name]

    @property
    def text(self) -> str:
        return f"{self.kind.option} {self.given}"

    def value(self, point: Point) -> float | None:
        value = point.get(self.metric)
        return None if value is None else float(value)

    def holds(self, point: Point) -> bool:
        """True when the point meets the bound; a figure that was not measured does not."""
        value = self.value(point)
        if value is None:
            return False
        return value <= self.bound if self.sense == "max" else value >= self.bound

    def show(self, value: float | None) -> str:
        return self.kind.show(value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "sense": self.sense,
            "bound": self.bound,
            "given": self.given,
            "text": self.text,
        }


def parse_constraints(given: Mapping[str, Any], staleness_stat: str = "max") -> list[Constraint]:
    """Constraints from ``{"max_staleness": "5s", ...}`` (None values are skipped)."""
    if staleness_stat not in STALENESS_METRICS:
        raise ValueError(
            f"--staleness-stat must be one of {', '.join(STALENESS_METRICS)}, not {staleness_stat!r}"
        )
    constraints = []
    for name, raw in given.items():
        if raw is None:
            continue
        kind = CONSTRAINT_KINDS.get(name)
        if kind is None:
            raise ValueError(f"unknown constraint {name!r}; choose from {', '.join(CONSTRAINT_KINDS)}")
        try:
            bound = kind.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{kind.option}: {exc}") from None
        metric = STALENESS_METRICS[staleness_stat] if name == "max_staleness" else kind.metric
        constraints.append(Constraint(name, metric, kind.sense, bound, str(raw)))
    return constraints


# -- the front and the recommendation --------------------------------------------------------


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
    binding: list[dict[str, Any]] = field(default_factory=list)
    #: For a ranked point, the other configurations with exactly its figures.
    equivalents: dict[int, list[int]] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.ranked)

    def as_dict(self, points: Sequence[Point], key: str = "id") -> dict[str, Any]:
        return {
            "constraints": [c.as_dict() for c in self.constraints],
            "front": [points[i][key] for i in self.front],
            "feasible": [points[i][key] for i in self.feasible],
            "recommended": [points[i][key] for i in self.ranked],
            "equivalents": {
                points[i][key]: [points[j][key] for j in js] for i, js in self.equivalents.items()
            },
            "binding": self.binding,
            "verdict": self.verdict(points, key),
        }

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
            lines.append(item["text"])
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


def _binding(points: Sequence[Point], constraints: list[Constraint], describe: Callable) -> list[dict]:
    """Which constraints stand in the way: the smallest sets whose removal leaves a feasible point;
    for each, the best value its metric reaches among points meeting all the others."""
    explained: list[dict] = []
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
            explained.append({"dropped": [c.name for c in dropped], "text": "; ".join(parts) + "."})
        if explained:
            return explained
    return [{"dropped": [c.name for c in constraints], "text": "Every constraint would have to go."}]


__all__ = [
    "CONSTRAINT_KINDS",
    "OBJECTIVES",
    "Constraint",
    "Objective",
    "Recommendation",
    "equal_groups",
    "format_bytes",
    "format_seconds",
    "pareto_front",
    "parse_bytes",
    "parse_constraints",
    "parse_duration_s",
    "parse_ratio",
    "rank_key",
    "recommend",
]
