"""What a sweep is: its file, its points, the matrix its live grid becomes, its workload.

The sweep file is ``bench/sweep.toml`` (its fields: ``cachebench.results.SweepDefinition``). Each
point of its grids is made once, here, as a ``GridPoint``: its value on every axis and its
settings, resolved (``resolve``) when the point is made; the engines and the report read those.
The live grid runs as an ordinary matrix (one settings variant per point, run by the ordinary
runner); the scenario's workload is read from the scenario's source so that Locust is not imported.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from analysis.sweep_report.constraints import parse_constraints
from analysis.sweep_report.point_rows import setting_text
from cachebench.load.workload import WorkloadSpec
from cachebench.results.sweep_record import GridPoint, SweepDefinition
from cachebench.run.matrix import BENCH_DIR, Matrix, available_scenarios, load_matrix
from cachebench.run.scenario_workload import workload_of_scenario
from cachebench.settings import Settings, SettingsError, load_settings
from cachebench.tuning.simulator import ENGINES

DEFAULT_SWEEP_FILE = BENCH_DIR / "sweep.toml"

#: The axes in the order they are named, plotted (first two: heatmap x and y) and faceted.
AXIS_ORDER = (
    "l1_ttl_s",
    "l1_max_entries",
    "redis_ttl_s",
    "invalidation",
    "l1_max_bytes",
    "ttl_jitter",
    "coalesce",
)
_SHORT = {
    "l1_ttl_s": "l1ttl",
    "l1_max_entries": "l1n",
    "redis_ttl_s": "rttl",
    "l1_max_bytes": "l1b",
    "ttl_jitter": "jit",
    "coalesce": "co",
}


class SweepError(ValueError):
    """A sweep file or option that cannot describe a sweep; the message names the bad value."""


class SweepSpec(SweepDefinition):
    """A sweep file, checked against the scenarios and the simulator's engines."""

    @field_validator("engine")
    @classmethod
    def _engine(cls, engine: str) -> str:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        return engine

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, scenario: str) -> str:
        if scenario not in available_scenarios():
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(available_scenarios())}")
        return scenario


def load_sweep(path: Path | None, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """Read a sweep file (default ``bench/sweep.toml``) and apply CLI overrides, with one clear error."""
    path = Path(path) if path is not None else DEFAULT_SWEEP_FILE
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"sweep file {str(path)!r} is not valid TOML: {exc}") from None
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name == "offered_rate_per_s":
            data.pop("rate_per_s", None)  # the sweep file's older name for it
        if name == "constraints":
            data["constraints"] = {**data.get("constraints", {}), **value}
        else:
            data[name] = value
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        raise SweepError(f"{path}: " + "; ".join(problems)) from None
    parse_constraints(spec.constraints, spec.staleness_stat)  # bad bounds fail before any run
    return spec


# -- the grid ----------------------------------------------------------------------------------


def _axis_key(name: str) -> tuple[int, str]:
    return (AXIS_ORDER.index(name) if name in AXIS_ORDER else len(AXIS_ORDER), name)


def ordered_axes(axes: Iterable[str]) -> list[str]:
    return sorted(set(axes), key=_axis_key)


def grid_points(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of the axes, axes in canonical order, values in the order given."""
    names = ordered_axes(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(axes[n] for n in names))]


def resolve(spec: SweepSpec, axes: Mapping[str, Any]) -> Settings:
    """The settings a point runs with: the target's defaults, the sweep file's, then its axes."""
    return load_settings(strategy=spec.target, **{**spec.settings, **axes})


def make_points(
    spec: SweepSpec,
    combinations: list[dict[str, Any]],
    axes: Iterable[str],
    what: str,
    made: Iterable[GridPoint] = (),
) -> list[GridPoint]:
    """Each combination with a value on every axis of the sweep (the fixed setting where it has
    none, so a live point and a simulated one of the same configuration have the same id), its
    settings resolved once (a point already ``made`` is taken as it is); SweepError names a point
    (``what``: live or simulated) whose settings are refused."""
    try:
        fixed = resolve(spec, {})
    except SettingsError as exc:
        raise SweepError(f"[settings]: {exc}") from None
    known = {point.id: point for point in made}
    names = ordered_axes(axes)
    points = []
    for combination in combinations:
        values = {name: combination[name] if name in combination else getattr(fixed, name) for name in names}
        found = known.get(point_id(values))
        if found is None:
            try:
                found = GridPoint(id=point_id(values), axes=values, settings=resolve(spec, values))
            except SettingsError as exc:
                raise SweepError(f"{what} point {point_id(values)}: {exc}") from None
        points.append(found)
    return points


def point_id(values: Mapping[str, Any]) -> str:
    """A short, file-name-safe name: ``l1ttl5-l1n1000-delete``."""
    parts = []
    for name in ordered_axes(values):
        value = setting_text(values[name])
        parts.append(value if name == "invalidation" else f"{_SHORT.get(name, name)}{value}")
    return "-".join(parts) or "default"


def sweep_matrix(spec: SweepSpec, points: list[GridPoint]) -> Matrix:
    """The live grid as an ordinary matrix: one settings variant per point (the values the sweep
    file gives it; the target resolves them as these points were)."""
    mode: dict[str, Any] = {"kind": "capacity", "users": spec.users}
    if spec.offered_rate_per_s > 0:
        mode = {"kind": "fixed_rate", "users": spec.users, "offered_rate_per_s": spec.offered_rate_per_s}
    data = {
        "label": spec.label,
        "targets": [spec.target],
        "scenarios": [spec.scenario],
        "settings": {p.id: {**spec.settings, **p.axes} for p in points},
        "modes": [mode],
        "repeat": 1,
        "duration_s": spec.duration_s,
        "warmup_s": spec.warmup_s,
        # The simulator replays the live phases as the sweep file gives them, so the live warm-up
        # must last exactly warmup_s rather than end when the caches settle.
        "steady_state": False,
        "workers": spec.workers,
        "locust_processes": spec.locust_processes,
        "scenario_options": spec.scenario_options,
    }
    try:
        return load_matrix(None, data)
    except ValueError as exc:
        raise SweepError(f"live grid: {exc}") from None


def scenario_workload(scenario: str, options: dict[str, Any], seed: int) -> WorkloadSpec:
    """The WorkloadSpec a scenario's users draw from (``cachebench.run.scenario_workload``)."""
    try:
        return workload_of_scenario(scenario, options, seed)
    except ValueError as exc:
        raise SweepError(str(exc)) from None
