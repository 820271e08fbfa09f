"""What a user asks of a sweep: bounds such as ``--max-staleness 5s``, parsed, checked and shown.

Constraints are parsed from what users type (``5s``, ``256MB``, ``90%``), checked against a
point's figures and shown back in their units. A point is a flat row of figures (``hit_ratio``,
``memory_bytes``, ``staleness_age_max_s``, ...: ``analysis.sweep_report.point_rows``); a figure
that was not measured meets no bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cachebench.results.sweep_record import ConstraintRecord

Point = Mapping[str, Any]

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

    def record(self) -> ConstraintRecord:
        """The constraint as the sweep's record keeps it."""
        return ConstraintRecord(
            name=self.name,
            metric=self.metric,
            sense=self.sense,
            bound=self.bound,
            given=self.given,
            text=self.text,
        )


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


__all__ = [
    "CONSTRAINT_KINDS",
    "STALENESS_METRICS",
    "Constraint",
    "ConstraintKind",
    "format_bytes",
    "format_seconds",
    "parse_bytes",
    "parse_constraints",
    "parse_duration_s",
    "parse_ratio",
]
