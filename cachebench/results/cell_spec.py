"""A cell: one measurement, with everything needed to run it again (``cell.json``, and each cell
of the manifest). Its search and fault specs are part of it.

Rates keep one vocabulary from the bench file to the report: **offered** is the rate asked of
the load generator, **intended** the sends it meant to make per second (what it paced, counted),
**achieved** the answers it got per second.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, computed_field, field_serializer, model_validator

from cachebench.results.folder import CELL_FILE
from cachebench.results.record import Part, Record
from cachebench.settings import Settings

FaultKind = Literal["pause", "kill", "restart", "slow", "flap"]
WarmupKind = Literal["steady_state", "fixed", "transient"]


class FaultSpec(Part):
    """One fault of a bench file's schedule; the messages name the bad value."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: FaultKind
    #: Seconds after the measured phase begins.
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0, le=3600)
    #: ``slow`` only: added to every Redis call.
    delay_ms: float | None = Field(None, gt=0, le=10_000)
    #: ``flap`` only: Redis is down for period_s, then up for period_s, and so on.
    period_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> FaultSpec:
        if self.kind == "slow" and self.delay_ms is None:
            raise ValueError("a slow fault needs delay_ms (the delay added to every Redis call)")
        if self.kind != "slow" and self.delay_ms is not None:
            raise ValueError(f"delay_ms={self.delay_ms:g} applies to slow faults only, not {self.kind}")
        if self.kind == "flap":
            if self.period_s is None:
                raise ValueError("a flap fault needs period_s (seconds down, then seconds up)")
            if self.period_s >= self.duration_s:
                raise ValueError(
                    f"period_s={self.period_s:g} must be shorter than duration_s={self.duration_s:g}"
                )
        elif self.period_s is not None:
            raise ValueError(f"period_s={self.period_s:g} applies to flap faults only, not {self.kind}")
        return self

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


class SearchSpec(Part):
    """A capacity search (``slo`` mode): steps from the cell's offered rate up to ``max_rate_per_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    slo_p99_ms: float
    max_rate_per_s: float
    #: Seconds each step records ...
    step_s: float
    #: ... after this many at its rate unrecorded.
    lead_in_s: float
    max_steps: int


class CellSpec(Part):
    """One measurement: everything needed to run it again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    target: str
    scenario: str
    variant: str
    #: The settings variant's values (``Settings`` field names), as the bench file gave them ...
    settings: dict[str, Any]
    #: ... and every setting the target ran with: those values over the target's defaults and the
    #: environment's ``CACHEBENCH_`` variables, resolved once when the matrix was expanded (the
    #: Redis URL the runner gives the target is not among them; a password is never written).
    resolved: Settings
    mode: str
    users: int
    #: The rate asked of the load generator (0: a closed loop, as fast as ``users`` go).
    offered_rate_per_s: float
    repetition: int
    duration_s: float
    warmup_s: float
    workers: int
    locust_processes: int
    seed: int
    scenario_options: dict[str, Any] = Field(default_factory=dict)
    #: "steady_state" (warm up until settled), "fixed" (warm up warmup_s) or "transient" (a
    #: scenario whose hit ratio is meant to move: warm up warmup_s, measure the movement).
    warmup: WarmupKind = "fixed"
    #: The bench file's fault schedule, the same for every cell of the matrix.
    faults: tuple[FaultSpec, ...] = ()
    #: Cells with the same session key run on one set of processes (``reuse_processes``).
    session: str | None = None
    search: SearchSpec | None = None
    #: Seconds the measured phase's load runs before it is recorded (a search step's or a fixed
    #: rate's lead-in).
    lead_in_s: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _name_is_derived(cls, data: Any) -> Any:
        # ``name`` is written for readers' convenience and always derived from the fields.
        if isinstance(data, dict) and "name" in data:
            data = {k: v for k, v in data.items() if k != "name"}
        return data

    @field_serializer("resolved")
    def _masked(self, resolved: Settings) -> dict[str, Any]:
        return resolved.public_dump()

    @computed_field
    @property
    def name(self) -> str:
        return f"{self.index:03d}-{self.target}-{self.scenario}-{self.variant}-{self.mode}-r{self.repetition}"

    def replace(self, **changes: Any) -> CellSpec:
        """A copy with ``changes`` (a search step's rate and seed, say)."""
        return self.model_copy(update=changes)


class CellFile(Record, CellSpec):
    """``cell.json``: the cell, written before it runs."""

    FILE: ClassVar[str] = CELL_FILE
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def of(cls, cell: CellSpec) -> CellFile:
        return cls.model_validate(cell.model_dump())
