"""Capacity at a latency SLO: the highest offered rate a target serves with its p99 within the SLO.

Open loop, on a target already warmed to steady state: each step offers one fixed rate for a
few seconds. The rate doubles from a start until a step fails — corrected p99 above the SLO,
achieved rate below ACHIEVED_FRACTION of the offered, or any error — then bisects between the
last rate that passed and the first that failed until they are within PRECISION of each other.
The capacity is the last rate that passed.

What bound it is read off the first failing step: the load generator (its CPU was full, so the
capacity is only a lower bound, and the step tells how many generator processes it would take),
the origin (its connection pool was busy), the target's CPU, or Redis (single-threaded: one
core). Pure logic here; the runner runs the steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cachebench.results import Headline, StepFigures, StepRecord

#: A step whose completions fall below this share of the offered rate did not keep up.
ACHIEVED_FRACTION = 0.95
#: Bisection stops once the first failing rate is within this share above the last passing one.
PRECISION = 0.1
#: A resource this busy (share of what it has) at the failing step is what bound the capacity.
SATURATED = 0.9
#: Below this no resource is called the bound: the SLO failed for another reason (e.g. the
#: origin's own latency is above it), and the report says so.
BUSY = 0.7


def failures(step: StepFigures, slo_p99_ms: float) -> list[str]:
    """Why a step fails the SLO (empty: it passes)."""
    reasons = []
    if step.p99_ms is None or step.p99_ms > slo_p99_ms:
        shown = "none" if step.p99_ms is None else f"{step.p99_ms:.1f} ms"
        reasons.append(f"p99 {shown} > {slo_p99_ms:g} ms")
    achieved = step.achieved_rate_per_s or 0.0
    # Completions against the sends intended in the same seconds: over a short window at a low
    # rate the configured rate would not be what those seconds were meant to carry.
    intended = step.intended_rate_per_s or step.offered_rate_per_s
    if achieved < ACHIEVED_FRACTION * intended:
        reasons.append(f"achieved {achieved:.0f}/s < {ACHIEVED_FRACTION:.0%} of {intended:g}/s intended")
    if step.errors:
        reasons.append(f"{step.errors:.0f} errors")
    return reasons


@dataclass(frozen=True)
class Bound:
    """What limited the target at a failing step, and whether the capacity is only a lower bound."""

    name: str
    lower_bound: bool
    #: The bounding resource's share of what it has (none: no resource is named).
    utilisation: float | None = None
    #: When the load generator bound it: the processes the offered rate would need.
    generator_processes_needed: int | None = None


#: A search whose steps all passed: the capacity is at least the last rate.
NOT_REACHED = Bound("not reached (max rate or steps)", lower_bound=True)


def bound_of(step: StepFigures) -> Bound:
    """What limited the target at a failing step."""
    if step.generator_cpu is not None and step.generator_cpu >= SATURATED:
        # Locust could not send any faster: the target may take more than was measured.
        per_process = (step.achieved_rate_per_s or 0.0) / max(step.generator_cores, 1)
        needed = math.ceil(step.offered_rate_per_s / per_process) if per_process else None
        return Bound("load generator", True, step.generator_cpu, needed)
    candidates = {
        "origin": step.origin_pool,
        "target CPU": step.target_cpu,
        "Redis": step.redis_cpu,
    }
    busy = {name: share for name, share in candidates.items() if share is not None}
    if busy:
        name, share = max(busy.items(), key=lambda item: item[1])
        if share >= BUSY:
            return Bound(name, False, share)
    return Bound("latency", False)


@dataclass
class RateSearch:
    """Growing from ``start`` (doubling by default), then bisection; ``next_rate`` is None when done."""

    start_rate_per_s: float
    max_rate_per_s: float
    max_steps: int = 12
    growth: float = 2.0
    precision: float = PRECISION
    passed: list[float] = field(default_factory=list)
    failed: list[float] = field(default_factory=list)
    #: A rate to try next instead of growing (a predicted knee), used once.
    _jump_per_s: float | None = None

    def jump_to(self, rate_per_s: float) -> None:
        """Try ``rate_per_s`` next, if it is above every rate that passed and no rate has failed."""
        if not self.failed and rate_per_s > max(self.passed, default=0.0):
            self._jump_per_s = round(min(rate_per_s, self.max_rate_per_s), 1)

    def next_rate(self) -> float | None:
        if len(self.passed) + len(self.failed) >= self.max_steps:
            return None
        best = max(self.passed, default=None)
        worst = min(self.failed, default=None)
        if worst is None:
            if best is None:
                return self.start_rate_per_s
            if best >= self.max_rate_per_s:
                return None
            if self._jump_per_s is not None:
                rate, self._jump_per_s = self._jump_per_s, None
                return rate
            return round(min(best * self.growth, self.max_rate_per_s), 1)
        if best is None:
            # The start already failed: halve towards a rate that passes, three times at most.
            lower = worst / 2
            return lower if lower >= self.start_rate_per_s / 8 else None
        if worst <= best * (1 + self.precision):
            return None
        return round((best + worst) / 2, 1)

    def record(self, rate_per_s: float, passed: bool) -> None:
        (self.passed if passed else self.failed).append(rate_per_s)

    @property
    def capacity_per_s(self) -> float | None:
        """The highest rate that passed, provided no lower rate failed after it."""
        worst = min(self.failed, default=math.inf)
        passing = [rate for rate in self.passed if rate < worst]
        return max(passing, default=None)


def step_record(step: StepFigures, slo_p99_ms: float, where: str, headline: Headline) -> StepRecord:
    """A step as the capacity cell's summary keeps it: its figures, pass or fail, its folder."""
    found = failures(step, slo_p99_ms)
    return StepRecord(**step.model_dump(), passed=not found, failures=found, dir=where, headline=headline)
