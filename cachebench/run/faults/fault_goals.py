"""A fault cell's phases (before, during, after each fault) and its goals, met or missed: ``faults.json``.

From records only: the injector's events (when each fault began and when Redis answered
again), the per-second samples (5xx, failed Redis calls, Redis timeouts requests waited for,
breaker state), Locust's per-second
timeline (requests, errors, latency buckets) and the read log against the origin's write log
(staleness, and the first Redis hit after Redis came back). The report draws these; the run's
summary prints the goals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cachebench import staleness
from cachebench.load.histograms import percentile_from_buckets
from cachebench.metrics_text import metric_sum, parse_metrics
from cachebench.results import (
    LAYER,
    READ,
    SAMPLE,
    FaultEvent,
    FaultGoal,
    FaultPhase,
    FaultsEvaluation,
    FaultSpec,
    FaultWindow,
    LatencyRecord,
    layer_column,
)
from cachebench.serve.invalidation import HEARTBEAT_DEADLINE_S, HEARTBEAT_INTERVAL_S

#: After a pub/sub gap, an L1 can serve a value whose invalidation was lost only until the bus
#: notices the gap (invalidation.py): heartbeats unanswered for HEARTBEAT_DEADLINE_S, seen at the
#: next heartbeat wait; from then on L1 is bypassed, and cleared before it is used again.
STALENESS_BOUND_S = HEARTBEAT_DEADLINE_S + HEARTBEAT_INTERVAL_S
#: Redis hits must resume within the cool-down plus this of Redis answering again.
RECOVERY_SLACK_S = 1.0


def fault_windows(
    schedule: list[FaultSpec], events: list[FaultEvent], started_unix_s: float
) -> list[FaultWindow]:
    """Per fault: when it began and when Redis answered again (as done, or as planned when not applied)."""
    windows = []
    for index, fault in enumerate(schedule):
        own = [e for e in events if e.fault == index]
        begin = own[0].done_unix_s if own and own[0].applied else started_unix_s + fault.at_s
        back = [e for e in own if e.redis_back]
        end = back[-1].done_unix_s if back and back[-1].applied else begin + fault.duration_s
        windows.append(FaultWindow(fault=index, kind=fault.kind, from_unix_s=begin, to_unix_s=end))
    return windows


def phase_spans(windows: list[FaultWindow], started_unix_s: float, ended_unix_s: float) -> list[FaultPhase]:
    """The measured phase cut at each fault: before the first, then during and after each one.

    "after" runs to the next fault or the end, so it is also the next fault's "before", and is
    listed once: the spans cover the phase without overlapping.
    """
    spans = []
    for i, window in enumerate(windows):
        next_begin = windows[i + 1].from_unix_s if i + 1 < len(windows) else ended_unix_s
        bounds = {"before": (started_unix_s, window.from_unix_s)} if not i else {}
        bounds["during"] = (window.from_unix_s, window.to_unix_s)
        bounds["after"] = (window.to_unix_s, next_begin)
        for phase, (begin, end) in bounds.items():
            spans.append(
                FaultPhase(
                    fault=i, kind=window.kind, phase=phase, from_unix_s=begin, to_unix_s=end,
                    seconds=round(end - begin, 2),
                )
            )  # fmt: skip
    return spans


def _per_second(latency: LatencyRecord | None) -> pd.DataFrame:
    """Locust's per-second counts (completed, error, latency buckets...) indexed by unix second."""
    if latency is None:
        return pd.DataFrame()
    per_s, t0 = latency.timeline.per_s, latency.timeline.t0_unix_s
    if not per_s or t0 is None:
        return pd.DataFrame()
    frame = pd.DataFrame({k: pd.Series(v, dtype=float) for k, v in per_s.items()}).fillna(0.0)
    frame.index = t0 + frame.index
    return frame


def _inside(seconds: pd.Index | pd.Series, begin: float, end: float) -> np.ndarray:
    # A second belongs to the phase its middle falls in.
    middle = np.asarray(seconds, dtype=float) + 0.5
    return (middle >= begin) & (middle < end)


def phase_figures(
    span: FaultPhase, per_s: pd.DataFrame, samples: pd.DataFrame, reads: pd.DataFrame | None
) -> FaultPhase:
    """Requests, errors, 5xx, p99, failed Redis calls and stale reads within one phase."""
    begin, end = span.from_unix_s, span.to_unix_s
    phase = span.model_copy()
    if not per_s.empty:
        own = per_s[_inside(per_s.index, begin, end)]
        phase.requests = int(own.get("completed", pd.Series(dtype=float)).sum())
        phase.errors = int(own.get("error", pd.Series(dtype=float)).sum())
        p99_us = percentile_from_buckets(own.sum().to_dict(), 99)
        phase.p99_ms = None if p99_us is None else p99_us / 1000
    if not samples.empty and SAMPLE.unix_s in samples:
        # A sample at unix time t covers the second before it.
        own = samples[_inside(samples[SAMPLE.unix_s] - 1.0, begin, end)]

        def total(column: str) -> int | None:
            return int(round(own[column].fillna(0).sum())) if column in own else None

        phase.server_5xx = total(SAMPLE.server_5xx_per_s)
        phase.redis_errors = total(layer_column("redis", LAYER.errors_per_s))
        phase.redis_open_timeouts = total(layer_column("redis", LAYER.open_timeouts_per_s))
    if reads is not None and not reads.empty:
        own = reads[(reads[READ.t_unix_s] >= begin) & (reads[READ.t_unix_s] < end)]
        stale = own[own["stale"]]
        phase.stale_reads = len(stale)
        phase.staleness_max_s = float(stale["age_s"].max()) if len(stale) else None
    return phase


def first_redis_hit_s(back_unix_s: float, reads: pd.DataFrame | None, per_s: pd.DataFrame) -> float | None:
    """Seconds from Redis answering again to the first read served by Redis sent after it."""
    if reads is not None and not reads.empty:
        hits = reads[(reads[READ.outcome] == "redis_hit") & (reads[READ.t_unix_s] >= back_unix_s)]
        return float(hits[READ.t_unix_s].min() - back_unix_s) if len(hits) else None
    if not per_s.empty and "redis_hit" in per_s:  # only seconds: the end of the first such second
        seconds = per_s.index[(per_s["redis_hit"] > 0) & (per_s.index + 1 > back_unix_s)]
        return float(seconds.min() + 1 - back_unix_s) if len(seconds) else None
    return None


def timeout_goal(samples: pd.DataFrame, cooldown_s: float) -> FaultGoal:
    """Redis timeouts requests waited for with the breaker open, against one per cool-down.

    Counted where the breaker is: a call a request made while its worker's breaker was open
    (the probe a cool-down lets through) that waited its whole timeout. A refused connection
    costs no wait, and the calls that opened the breaker began while it was closed.
    """
    goal, text = (
        "one_timeout_per_cooldown",
        ("while the breaker is open, no request waits for a Redis timeout more than once per cool-down"),
    )
    open_column = layer_column("redis", LAYER.circuit_open_workers)
    waits_column = layer_column("redis", LAYER.open_timeouts_per_s)
    if samples.empty or open_column not in samples or not samples[open_column].fillna(0).gt(0).any():
        return FaultGoal(goal=goal, text=text, met=None, value="the breaker never opened")
    if waits_column not in samples:
        return FaultGoal(
            goal=goal, text=text, met=None, value="no count of Redis timeouts (cachebench_cache_timeouts)"
        )
    open_workers = samples[open_column].fillna(0).to_numpy()
    waited = float(samples[waits_column].fillna(0).sum())  # one-second samples: rates are counts
    allowed, stretch = 0, []
    for workers in [*open_workers, 0]:
        if workers > 0:
            stretch.append(workers)
            continue
        if stretch:
            # Seen open in n samples, a breaker was open up to n + 1 s: one probe per cool-down.
            allowed += int(max(stretch)) * int((len(stretch) + 1) // cooldown_s)
            stretch = []
    return FaultGoal(
        goal=goal,
        text=text,
        met=bool(round(waited) <= allowed),
        value=f"{waited:.0f} Redis timeouts waited with the breaker open",
        bound=f"≤ {allowed} (one per worker per {cooldown_s:g} s cool-down while open)",
    )


def evaluate(
    schedule: list[FaultSpec],
    events: list[FaultEvent],
    started_unix_s: float,
    ended_unix_s: float,
    cell_dir: Path,
    latency: LatencyRecord | None,
    samples: list[dict],
    metrics_before: str | None,
    metrics_after: str | None,
    layers: tuple[str, ...],
    cooldown_s: float,
) -> FaultsEvaluation:
    """Everything ``faults.json`` holds: windows, phases, recovery per fault and the goals."""
    windows = fault_windows(schedule, events, started_unix_s)
    per_s, rows = _per_second(latency), pd.DataFrame(samples)
    stale = staleness.summarize_cell(cell_dir)
    reads = None
    if stale.available:
        reads = staleness.classify(staleness.load_reads(cell_dir), staleness.load_origin_writes(cell_dir))
    phases = [
        phase_figures(span, per_s, rows, reads) for span in phase_spans(windows, started_unix_s, ended_unix_s)
    ]
    for window in windows:
        if "redis" in layers:
            window.first_redis_hit_s = first_redis_hit_s(window.to_unix_s, reads, per_s)
    return FaultsEvaluation(
        schedule=schedule,
        events=events,
        started_unix_s=started_unix_s,
        ended_unix_s=ended_unix_s,
        cooldown_s=cooldown_s,
        staleness_bound_s=STALENESS_BOUND_S,
        windows=windows,
        phases=phases,
        goals=_goals(phases, windows, rows, metrics_before, metrics_after, layers, cooldown_s),
    )


def _server_5xx(metrics_before: str | None, metrics_after: str | None) -> int | None:
    if metrics_before is None or metrics_after is None:
        return None
    before, after = parse_metrics(metrics_before), parse_metrics(metrics_after)
    statuses = {dict(lbls).get("status", "") for (n, lbls) in after if n == "cachebench_http_requests_total"}
    return int(
        sum(
            metric_sum(after, "cachebench_http_requests_total", status=s)
            - metric_sum(before, "cachebench_http_requests_total", status=s)
            for s in statuses
            if s.startswith("5")
        )
    )


def _goals(
    phases: list[FaultPhase],
    windows: list[FaultWindow],
    samples: pd.DataFrame,
    metrics_before: str | None,
    metrics_after: str | None,
    layers: tuple[str, ...],
    cooldown_s: float,
) -> list[FaultGoal]:
    server_5xx = _server_5xx(metrics_before, metrics_after)
    errors = sum(p.errors or 0 for p in phases)
    goals = [
        FaultGoal(
            goal="no_5xx",
            text="0 5xx through every fault",
            met=None if server_5xx is None else server_5xx == 0,
            value=f"{server_5xx} 5xx, {errors} failed requests" if server_5xx is not None else "no /metrics",
            bound="0",
        ),
        timeout_goal(samples, cooldown_s),
    ]
    if "redis" in layers:
        bound_s = cooldown_s + RECOVERY_SLACK_S
        firsts = [w.first_redis_hit_s for w in windows]
        slowest = None if any(f is None for f in firsts) else max(firsts, default=None)
        goals.append(
            FaultGoal(
                goal="redis_hits_resume",
                text="Redis hits resume within cool-down + 1 s of Redis answering again",
                met=slowest is not None and slowest <= bound_s,
                value="never" if slowest is None else f"{slowest:.2f} s at the slowest",
                bound=f"≤ {bound_s:g} s",
            )
        )
    if "redis" in layers and any(layer != "redis" for layer in layers):
        after_gap = [p for p in phases if p.phase in ("during", "after") and p.stale_reads is not None]
        worst = max((p.staleness_max_s or 0.0 for p in after_gap), default=None)
        goals.append(
            FaultGoal(
                goal="staleness_bound",
                text="after a pub/sub gap, nothing staler than the invalidation bus's bound",
                met=None if worst is None else worst <= STALENESS_BOUND_S,
                value="no read records" if worst is None else f"{worst:.2f} s at the oldest",
                bound=f"≤ {STALENESS_BOUND_S:g} s",
            )
        )
    return goals
