"""``sweep.json`` and ``trace_sweep.json``: a sweep's points, its recommendation and how its
simulated figures were made.

A point is one configuration on the sweep's axes with its settings resolved once, where the
point is made (``GridPoint``): every engine and every report reads those, never the sweep file
and the axis values again. The tuning package writes these records; the sweep report
(``analysis.sweep_report``) reads them and builds its rows, tables and figures from them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, field_serializer, field_validator

from cachebench.results.folder import SWEEP_FILE, TRACE_SWEEP_FILE
from cachebench.results.record import Part, Record
from cachebench.results.summaries import StaleFigures
from cachebench.settings import Settings

#: Settings a sweep cannot vary: the target's name is the sweep's, the rest are where things are.
_NOT_AXES = ("strategy", "redis_url", "origin_path")


class SweepDefinition(Part):
    """What a sweep file holds (``bench/sweep.toml`` is a commented example); ``cachebench.tuning``
    adds the checks that need the scenarios and the engines."""

    label: str = Field("sweep", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    target: str = "l1"
    scenario: str = "read_heavy"
    workers: int = Field(1, ge=1, le=64)
    locust_processes: int = Field(1, ge=1, le=64)
    users: int = Field(32, ge=1, le=5000)
    #: Total requests/s asked of the load generator (the sweep file's ``rate_per_s``, its name
    #: before 2026-12, still reads); 0 = closed loop (then nothing can be simulated).
    offered_rate_per_s: float = Field(
        200.0, ge=0, validation_alias=AliasChoices("offered_rate_per_s", "rate_per_s")
    )
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
            if name not in Settings.model_fields or name in _NOT_AXES:
                raise ValueError(f"unknown setting {name!r} as a sweep axis")
            if not isinstance(values, list) or not values:
                raise ValueError(f"axis {name!r} needs a non-empty list of values")
        return axes

    @field_validator("settings")
    @classmethod
    def _fixed(cls, settings: dict[str, Any]) -> dict[str, Any]:
        for name in settings:
            if name not in Settings.model_fields or name == "strategy":
                raise ValueError(f"unknown setting {name!r}")
        return settings


class GridPoint(Part):
    """One configuration of a sweep: its value on every axis of the sweep and the settings the
    target runs with (the sweep file's, then the axes'), resolved once when the point is made."""

    id: str
    axes: dict[str, Any]
    settings: Settings

    @field_serializer("settings")
    def _masked(self, settings: Settings) -> dict[str, object]:
        return settings.public_dump()  # a Redis password never reaches a results file


class PhaseTiming(Part):
    """How much traffic a live cell's phases delivered, in stream seconds, and the pause between."""

    warmup_s: float
    duration_s: float
    gap_s: float
    #: Where the figures come from: the cell's records, or the sweep file's phases.
    source: str


class SimulatedAs(Part):
    """A live point simulated on its own short horizon: the phases its cell really ran, and the
    simulator's figures for them (the report sets them against the live ones)."""

    timing: PhaseTiming
    hit_ratio: float | None = None
    hit_ratio_by_layer: dict[str, float | None] = {}
    stale_read_ratio: float | None = None


class SweepPoint(StaleFigures, GridPoint):
    """One configuration measured live (its cell) or simulated (at steady state, or over an access
    log), with the same figures either way so both sit in one table and one front."""

    source: Literal["live", "simulated"]
    #: ``live``: as long as its cell ran; ``steady``: the long virtual horizon; ``trace``: the
    #: access log's own span.
    horizon: Literal["live", "steady", "trace"]
    #: The live cell (live points only) and its status; ``simulated`` otherwise.
    cell: str | None = None
    status: str
    #: Share of item reads a cache answered, and per layer the share of its lookups it answered.
    hit_ratio: float | None = None
    hit_ratio_by_layer: dict[str, float | None] = {}
    origin_reads_per_s: float | None = None
    #: Live points only.
    achieved_rate_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    #: What the caches hold: L1 entries (all workers) × bytes per entry, plus Redis.
    memory_bytes: float | None = None
    l1_memory_bytes: float | None = None
    redis_memory_bytes: float | None = None
    #: The most L1 entries held at once, all workers (live: /metrics' count, a float from the samples).
    l1_entries_peak: int | float | None = None
    memory_source: str
    simulated_requests: int | None = None
    #: A live point simulated on its own horizon.
    simulated_as: SimulatedAs | None = None
    #: Where the recommendation placed it.
    candidate: bool = False
    on_front: bool = False
    feasible: bool = False
    recommended: bool = False


class ConstraintRecord(Part):
    """A bound the user asked of the sweep (``--max-staleness 5s``...)."""

    name: str
    metric: str
    sense: Literal["min", "max"]
    bound: float
    given: str
    text: str


class Binding(Part):
    """Constraints that, dropped together, leave a feasible point, and what each stands against."""

    dropped: list[str]
    text: str


class RecommendationRecord(Part):
    """The Pareto front, the feasible points and the feasible front best first, by point id."""

    front: list[str]
    feasible: list[str]
    recommended: list[str]
    #: Points with the same figures as the one named.
    equivalents: dict[str, list[str]]
    #: What stands in the way, when no point is feasible.
    binding: list[Binding]
    verdict: str


class EntryBytes(Part):
    """What one cached entry costs, measured once per sweep (``cachebench.tuning.entry_bytes``)."""

    l1_entry_bytes: float
    #: A ``version``-mode generation key beside each held item.
    l1_generation_entry_bytes: float
    redis_entry_bytes: float | None = None
    #: The configured item's encoded size, or an access log's mean response size.
    value_bytes: int | float
    method: str


class Horizon(Part):
    """The steady state's virtual phases: a warm-up of one largest TTL, then ``duration_s``."""

    warmup_s: float
    duration_s: float
    largest_ttl_s: float
    ttls: float
    min_requests: int

    def describe(self, requests: int | None = None) -> str:
        counted = f", {requests:,} requests" if requests else ""
        return (
            f"steady state: {self.duration_s:,.0f} s of virtual time{counted} after {self.warmup_s:g} s of "
            f"warm-up (≥ {self.ttls:g} × the largest TTL, {self.largest_ttl_s:g} s, and ≥ "
            f"{self.min_requests:,} requests)"
        )


class EngineCheck(Part):
    """One point by the one pass and by the fast engine over the same steady-state trace."""

    l1_ttl_s: float
    l1_max_entries: int
    invalidation: str
    one_pass_hit_ratio: float | None
    engine_hit_ratio: float | None
    hit_error_pp: float | None
    one_pass_stale_read_ratio: float | None
    engine_stale_read_ratio: float | None
    stale_error_pp: float | None
    #: 0 when the one pass's figures were given.
    one_pass_cpu_s: float
    engine_cpu_s: float


class SteadyState(Part):
    """How the points were simulated at steady state (``cachebench.tuning.long_horizon``)."""

    horizon: Horizon
    horizon_text: str
    trace_requests: int
    measured_requests: int
    points: int
    one_pass_points: int
    engine_points: int
    cpu_s: float
    #: The recommended point by the fast engine too (l1 sweeps).
    check: EngineCheck | None = None


class LiveHorizon(Part):
    """The live points simulated on their own horizons: how many, at what cost, which phases."""

    points: int
    cpu_s: float
    trace_requests: int
    #: The median phases over the cells.
    timing: PhaseTiming | None = None


class SweepSimulator(Part):
    """How a scenario sweep's simulated figures were made: engines, horizons, bytes per entry."""

    engine: str
    entry_bytes: EntryBytes
    live_horizon: LiveHorizon
    steady_state: SteadyState
    simulated_points: int
    trace_requests: int
    cpu_s: float
    simulated_requests_per_cpu_s: float | None = None


class TraceLog(Part):
    """What reading an access log found (``cachebench.load.access_log.LogSummary``)."""

    path: str
    format: str
    lines: int
    reads: int
    writes: int
    not_cacheable: int
    malformed: int
    examples: list[str]
    distinct_keys: int
    out_of_order: int
    span_s: float
    mean_size_bytes: float | None = None
    requests: int


class CurveCheck(Part):
    """A point of the one-pass curves replayed through ``MeteredCache`` (None: no bound)."""

    size: int | None
    ttl_s: float | None
    one_pass: float | None
    replay: float | None
    error_pp: float | None


class CurvesRecord(Part):
    """One L1's hit ratio by size (no TTL), by TTL (no size bound) and over the grid of both, in
    one pass (``cachebench.tuning.curves``), with the points replayed to check it."""

    sizes: list[int]
    ttls_s: list[float]
    hit_ratio_by_size: list[float | None]
    hit_ratio_by_ttl: list[float | None]
    #: ``[ttl index][size index]``.
    hit_ratio_grid: list[list[float | None]]
    reads: int
    requests: int
    writes_invalidate: bool
    sample_rate: float
    #: Three standard errors of the sampled curves (0 when every key is kept), in points.
    sampling_error_pp: float
    sampling_valid_from_size: int
    cpu_s: float
    requests_per_cpu_s: float | None = None
    checks: list[CurveCheck] = []


class TraceSimulator(Part):
    """How a trace sweep's figures were made: the log, its one-pass curves and their checks."""

    engine: Literal["one-pass"] = "one-pass"
    trace: TraceLog
    trace_text: str
    curves: CurvesRecord
    #: Why no point was replayed (empty when some were).
    checks_note: str = ""
    trace_requests: int
    simulated_points: int
    cpu_s: float
    simulated_requests_per_cpu_s: float | None = None
    entry_bytes: EntryBytes


class SweepOutcome(Record):
    """What every sweep's record holds: the sweep as run, its points and the recommendation."""

    #: The sweep file as run.
    spec: SweepDefinition
    axes: list[str]
    constraints: list[ConstraintRecord]
    points: list[SweepPoint]
    recommendation: RecommendationRecord


class SweepResults(SweepOutcome):
    """``cachebench sweep``: a scenario's grid, live and simulated."""

    FILE: ClassVar[str] = SWEEP_FILE
    simulator: SweepSimulator


class TraceSweepResults(SweepOutcome):
    """``cachebench sweep --trace``: an access log's grid, by the one-pass curves."""

    FILE: ClassVar[str] = TRACE_SWEEP_FILE
    simulator: TraceSimulator
