"""The ``faults`` schedule of a bench file: what happens to Redis, when, for how long.

Each entry is one fault within the measured phase (``at_s`` seconds after it begins, lasting
``duration_s``); ``steps`` turns the schedule into timed actions on the cell's Redis::

    [[faults]]
    kind = "pause"      # SIGSTOP for duration_s: connections hang (a stalled server)
    at_s = 10
    duration_s = 5
    # kill: SIGKILL, restarted empty after duration_s   restart: SIGTERM, started empty after duration_s
    # slow: every Redis call delayed by delay_ms (a TCP proxy) for duration_s
    # flap: paused and resumed every period_s for duration_s
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultKind = Literal["pause", "kill", "restart", "slow", "flap"]
#: What each action does to Redis (or the proxy in front of it); "down" actions make it stop answering.
DOWN_ACTIONS = {"pause": "pause", "kill": "kill", "restart": "stop", "flap": "pause"}
UP_ACTIONS = {"pause": "resume", "kill": "restart", "restart": "restart", "flap": "resume"}


class Fault(BaseModel):
    """One fault of the schedule; the messages name the bad value (as the rest of a bench file's)."""

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
    def _fields_fit_the_kind(self) -> Fault:
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


def check_schedule(faults: list[Fault], measured_s: float) -> None:
    """Every fault inside the measured phase, none overlapping another: a ValueError naming the bad one."""
    for index, fault in enumerate(faults):
        if fault.end_s > measured_s:
            raise ValueError(
                f"faults.{index}: at_s={fault.at_s:g} + duration_s={fault.duration_s:g} ends after the "
                f"{measured_s:g} s measured phase (duration_s)"
            )
    ordered = sorted(enumerate(faults), key=lambda pair: pair[1].at_s)
    for (_, first), (index, second) in zip(ordered, ordered[1:], strict=False):
        if second.at_s < first.end_s:
            raise ValueError(
                f"faults.{index}: at_s={second.at_s:g} starts before the {first.kind} fault before it "
                f"ends ({first.end_s:g} s); faults may not overlap"
            )


@dataclass(frozen=True)
class Step:
    """One action at ``at_s`` into the measured phase: on Redis (pause, resume, kill, stop,
    restart) or on the proxy (``delay`` to ``delay_ms``)."""

    at_s: float
    fault: int
    action: str
    delay_ms: float = 0.0

    @property
    def brings_redis_back(self) -> bool:
        return self.action in ("resume", "restart") or (self.action == "delay" and self.delay_ms == 0)


def steps(faults: list[Fault]) -> list[Step]:
    """The schedule as timed actions, in order."""
    found: list[Step] = []
    for index, fault in enumerate(faults):
        if fault.kind == "slow":
            found += [
                Step(fault.at_s, index, "delay", fault.delay_ms or 0.0),
                Step(fault.end_s, index, "delay"),
            ]
            continue
        down, up = DOWN_ACTIONS[fault.kind], UP_ACTIONS[fault.kind]
        if fault.kind == "flap":
            assert fault.period_s is not None
            at_s, is_down = fault.at_s, True
            while at_s < fault.end_s:
                found.append(Step(at_s, index, down if is_down else up))
                at_s, is_down = at_s + fault.period_s, not is_down
            if not is_down:  # the last action took Redis down: it comes back when the fault ends
                found.append(Step(fault.end_s, index, up))
            continue
        found += [Step(fault.at_s, index, down), Step(fault.end_s, index, up)]
    return sorted(found, key=lambda step: step.at_s)
