"""What a sweep is: its file, its grids of settings, the matrix its live grid becomes, its workload.

The sweep file is ``bench/sweep.toml``; the live grid runs as an ordinary matrix (one settings
variant per point, run by the ordinary runner); the scenario's workload is read from the
scenario's source so that Locust is not imported.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.sweep_report.constraints import parse_constraints
from cachebench.load.workload import WorkloadSpec
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
#: Settings every point reports, varied or not.
REPORTED_SETTINGS = ("l1_ttl_s", "l1_max_entries", "redis_ttl_s", "invalidation")


class SweepError(ValueError):
    """A sweep file or option that cannot describe a sweep; the message names the bad value."""


class SweepSpec(BaseModel):
    """What a sweep file holds; see ``bench/sweep.toml`` for a commented example."""

    model_config = ConfigDict(extra="forbid")
    label: str = Field("sweep", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    target: str = "l1"
    scenario: str = "read_heavy"
    workers: int = Field(1, ge=1, le=64)
    locust_processes: int = Field(1, ge=1, le=64)
    users: int = Field(32, ge=1, le=5000)
    #: Total requests/s; 0 = closed loop (then nothing can be simulated).
    rate_per_s: float = Field(200.0, ge=0)
    duration_s: float = Field(10.0, gt=0, le=3600)
    warmup_s: float = Field(2.0, ge=0, le=600)
    #: Settings every point shares (Settings field names).
    settings: dict[str, Any] = Field(default_factory=dict)
    scenario_options: dict[str, Any] = Field(default_factory=dict)
    #: Axes measured live: setting name -> values.
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    #: Axes evaluated by the simulator only.
    simulate: dict[str, list[Any]] = Field(default_factory=dict)
    #: Default constraints, e.g. {"max_staleness": "5s", "max_memory": "256MB", "min_hit_ratio": 0.6}.
    constraints: dict[str, Any] = Field(default_factory=dict)
    staleness_stat: str = "max"
    #: The simulator engine for the live points' own horizon (the simulator against live).
    engine: str = "fast"
    #: The steady state the recommendation is for (``cachebench.tuning.long_horizon``): a virtual
    #: horizon of at least this many of the grid's largest TTL, and at least this many requests.
    steady_state_ttls: float = Field(10.0, ge=1, le=1000)
    steady_state_requests: int = Field(1_000_000, ge=1_000, le=100_000_000)
    #: An access log whose traffic is swept instead of the scenario's (``cachebench sweep --trace``).
    trace: str | None = None

    @field_validator("grid", "simulate")
    @classmethod
    def _axes(cls, axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in axes.items():
            if name not in Settings.model_fields or name in ("strategy", "redis_url", "origin_path"):
                raise ValueError(f"unknown setting {name!r} as a sweep axis")
            if not isinstance(values, list) or not values:
                raise ValueError(f"axis {name!r} needs a non-empty list of values")
        return axes

    @field_validator("engine")
    @classmethod
    def _engine(cls, engine: str) -> str:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
        return engine

    @field_validator("settings")
    @classmethod
    def _fixed(cls, settings: dict[str, Any]) -> dict[str, Any]:
        for name in settings:
            if name not in Settings.model_fields or name == "strategy":
                raise ValueError(f"unknown setting {name!r}")
        return settings

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


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def complete_points(
    spec: SweepSpec, points: list[dict[str, Any]], axes: Iterable[str]
) -> list[dict[str, Any]]:
    """Each point with a value on every axis of the sweep (the fixed setting where it has none), so
    a live point and a simulated one of the same configuration have the same id."""
    try:
        fixed = load_settings(strategy=spec.target, **spec.settings)
    except SettingsError as exc:
        raise SweepError(f"[settings]: {exc}") from None
    names = ordered_axes(axes)
    return [
        {name: point[name] if name in point else getattr(fixed, name) for name in names} for point in points
    ]


def point_id(point: dict[str, Any]) -> str:
    """A short, file-name-safe name: ``l1ttl5-l1n1000-delete``."""
    parts = []
    for name in ordered_axes(point):
        value = _value_text(point[name])
        parts.append(value if name == "invalidation" else f"{_SHORT.get(name, name)}{value}")
    return "-".join(parts) or "default"


def sweep_matrix(spec: SweepSpec, points: list[dict[str, Any]]) -> Matrix:
    """The live grid as an ordinary matrix: one settings variant per point."""
    mode: dict[str, Any] = {"kind": "capacity", "users": spec.users}
    if spec.rate_per_s > 0:
        mode = {"kind": "fixed_rate", "users": spec.users, "rate_per_s": spec.rate_per_s}
    data = {
        "label": spec.label,
        "targets": [spec.target],
        "scenarios": [spec.scenario],
        "settings": {point_id(p): {**spec.settings, **p} for p in points},
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


def validate_points(spec: SweepSpec, points: list[dict[str, Any]], what: str) -> None:
    for point in points:
        try:
            load_settings(strategy=spec.target, **{**spec.settings, **point})
        except SettingsError as exc:
            raise SweepError(f"{what} point {point_id(point)}: {exc}") from None


def describe(point: dict[str, Any], axes: list[str]) -> str:
    """``l1 with l1_ttl_s=5, l1_max_entries=1000 (live)``."""
    names = axes or list(REPORTED_SETTINGS)
    settings = ", ".join(f"{name}={_value_text(point.get(name))}" for name in names)
    source = "simulated at steady state" if point.get("horizon") == "steady" else point["source"]
    return f"{point['target']} with {settings} ({source})"
