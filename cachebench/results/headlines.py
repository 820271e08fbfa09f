"""A cell's headline figures: what the manifest, the console table and the report lead with.

Two kinds, told apart by ``kind``: a measured phase (``Headline``) and a capacity search
(``SearchHeadline``, with the figures of the step at capacity in ``at_capacity``).
"""

from __future__ import annotations

from typing import Literal

from cachebench.results.record import Part

Verdict = Literal["generator-bound", "target-bound", "neither"]


class Headline(Part):
    """A measured phase: latency, rates, origin load, hit ratio per layer, CPU, memory, staleness."""

    kind: Literal["measured"] = "measured"
    #: ``corrected`` (from each request's intended send time) at a fixed rate, else ``service``.
    latency_kind: Literal["corrected", "service"]
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None
    requests: int | None = None
    failures: int | None = None
    #: The rate asked of the generator (none: a closed loop) ...
    offered_rate_per_s: float | None = None
    #: ... the sends it meant to make per second over the full-rate seconds (fixed rate only) ...
    intended_rate_per_s: float | None = None
    #: ... and the answers it got per second over the same seconds.
    achieved_rate_per_s: float | None = None
    origin_reads_per_s: float | None = None
    origin_writes_per_s: float | None = None
    #: Mean wait for a free origin connection per origin operation.
    origin_queue_ms_mean: float | None = None
    #: Origin pool connections in use on average (all workers).
    origin_connections_in_use: float | None = None
    #: Reads each cache layer answered of those that reached it, from ``/metrics``.
    hit_ratio_by_layer: dict[str, float | None] = {}
    target_cpu_us_per_request: float | None = None
    #: Half-width of the 95% interval of the per-second costs.
    target_cpu_us_per_request_ci95: float | None = None
    redis_cpu_us_per_request: float | None = None
    redis_cpu_us_per_request_ci95: float | None = None
    target_rss_bytes_max: int | None = None
    redis_used_memory_bytes_max: int | None = None
    stale_read_ratio: float | None = None
    staleness_age_p99_s: float | None = None
    staleness_age_max_s: float | None = None
    saturation: Verdict | None = None
    other_cpu_cores: float | None = None
    machine_busy: bool = False
    #: One line per fault goal, met or missed (cells with a fault schedule).
    fault_goals: list[str] | None = None


class AtCapacity(Part):
    """The figures of the search step at capacity (its full-rate seconds)."""

    p50_ms: float | None = None
    #: The p99 the SLO judged: over the step's full-rate seconds.
    p99_ms: float | None = None
    origin_reads_per_s: float | None = None
    origin_queue_ms_mean: float | None = None
    target_cpu_us_per_request: float | None = None
    redis_cpu_us_per_request: float | None = None
    target_rss_bytes_max: int | None = None
    redis_used_memory_bytes_max: int | None = None
    hit_ratio_by_layer: dict[str, float | None] = {}


class SearchHeadline(Part):
    """A capacity search: the highest offered rate served within the SLO, and what bound it."""

    kind: Literal["search"] = "search"
    capacity_at_slo_per_s: float | None
    slo_p99_ms: float
    #: The lowest offered rate that failed, and why.
    failed_at_per_s: float | None = None
    failed_because: str | None = None
    #: The resource that ran out at the failing step (or why none is named).
    bound: str
    #: The capacity is at least this (the generator, or the search's end, bound it).
    lower_bound: bool
    generator_processes_needed: int | None = None
    bound_utilisation: float | None = None
    search_steps: int
    machine_busy: bool = False
    at_capacity: AtCapacity = AtCapacity()
