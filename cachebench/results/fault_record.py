"""What a cell with a fault schedule records (``faults.json``, and its summary's ``faults``): what
was done to Redis and when, the phases before, during and after each fault, and the goals."""

from __future__ import annotations

from typing import ClassVar, Literal

from cachebench.results.cell_spec import FaultKind, FaultSpec
from cachebench.results.folder import FAULTS_FILE
from cachebench.results.record import Part, Record


class FaultEvent(Part):
    """One action of the schedule on the cell's Redis (or the proxy in front of it)."""

    fault: int
    kind: FaultKind
    action: str
    delay_ms: float | None = None
    planned_unix_s: float
    #: Whether Redis answers again after this action.
    redis_back: bool
    applied: bool
    error: str | None = None
    #: When the action returned (for a restart: once the new process answered a PING).
    done_unix_s: float


class FaultWindow(Part):
    """When a fault began and when Redis answered again; how long Redis hits took to come back."""

    fault: int
    kind: FaultKind
    from_unix_s: float
    to_unix_s: float
    first_redis_hit_s: float | None = None


class FaultPhase(Part):
    """Before the first fault, then during and after each: what the users and the target saw."""

    fault: int
    kind: FaultKind
    phase: Literal["before", "during", "after"]
    from_unix_s: float
    to_unix_s: float
    seconds: float
    requests: int | None = None
    errors: int | None = None
    p99_ms: float | None = None
    server_5xx: int | None = None
    redis_errors: int | None = None
    redis_open_timeouts: int | None = None
    #: None: no read records to tell.
    stale_reads: int | None = None
    staleness_max_s: float | None = None


class FaultGoal(Part):
    """One goal, met, missed or not applicable (None), with the value against its bound."""

    goal: str
    text: str
    met: bool | None
    value: str
    bound: str | None = None

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[self.met]
        bound = f" (goal {self.bound})" if self.bound else ""
        return f"{verdict}: {self.text}: {self.value}{bound}"


class FaultsEvaluation(Part):
    """Everything a fault cell's phases and goals are judged from, and the judgement."""

    schedule: list[FaultSpec]
    events: list[FaultEvent]
    started_unix_s: float
    ended_unix_s: float | None
    cooldown_s: float
    staleness_bound_s: float
    windows: list[FaultWindow]
    phases: list[FaultPhase]
    goals: list[FaultGoal]


class FaultsFile(Record, FaultsEvaluation):
    """``faults.json``."""

    FILE: ClassVar[str] = FAULTS_FILE
