"""The ``faults`` schedule of a bench file: what happens to Redis, when, for how long.

Each entry is one fault within the measured phase (``at_s`` seconds after it begins, lasting
``duration_s``); ``fault_actions`` turns the schedule into timed actions on the cell's Redis::

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

from cachebench.results import FaultSpec

#: What each action does to Redis (or the proxy in front of it); "down" actions make it stop answering.
DOWN_ACTIONS = {"pause": "pause", "kill": "kill", "restart": "stop", "flap": "pause"}
UP_ACTIONS = {"pause": "resume", "kill": "restart", "restart": "restart", "flap": "resume"}


def check_schedule(faults: list[FaultSpec], measured_s: float) -> None:
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
class FaultAction:
    """One action at ``at_s`` into the measured phase: on Redis (pause, resume, kill, stop,
    restart) or on the proxy (``delay`` to ``delay_ms``)."""

    at_s: float
    fault: int
    action: str
    delay_ms: float = 0.0

    @property
    def brings_redis_back(self) -> bool:
        return self.action in ("resume", "restart") or (self.action == "delay" and self.delay_ms == 0)


def fault_actions(faults: list[FaultSpec]) -> list[FaultAction]:
    """The schedule as timed actions, in order."""
    found: list[FaultAction] = []
    for index, fault in enumerate(faults):
        if fault.kind == "slow":
            found += [
                FaultAction(fault.at_s, index, "delay", fault.delay_ms or 0.0),
                FaultAction(fault.end_s, index, "delay"),
            ]
            continue
        down, up = DOWN_ACTIONS[fault.kind], UP_ACTIONS[fault.kind]
        if fault.kind == "flap":
            assert fault.period_s is not None
            at_s, is_down = fault.at_s, True
            while at_s < fault.end_s:
                found.append(FaultAction(at_s, index, down if is_down else up))
                at_s, is_down = at_s + fault.period_s, not is_down
            if not is_down:  # the last action took Redis down: it comes back when the fault ends
                found.append(FaultAction(fault.end_s, index, up))
            continue
        found += [FaultAction(fault.at_s, index, down), FaultAction(fault.end_s, index, up)]
    return sorted(found, key=lambda step: step.at_s)
