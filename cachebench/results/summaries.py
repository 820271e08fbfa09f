"""``summary.json``: what a cell (or one step of a capacity search) measured, in one record.

A measured phase is a ``CellSummary``; a capacity search a ``SearchSummary`` with a
``StepRecord`` per step (each step's own folder holds the step's ``CellSummary``). ``kind``
tells them apart, so a reader takes ``read_summary`` and gets the right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from cachebench.results.cell_spec import CellSpec, WarmupKind
from cachebench.results.fault_record import FaultsEvaluation
from cachebench.results.folder import SUMMARY_FILE
from cachebench.results.headlines import Headline, SearchHeadline, Verdict
from cachebench.results.record import Part, Record, load_json


class Saturation(Part):
    """Mean CPU over the measured phase: who was the bottleneck, and was the machine busy."""

    verdict: Verdict | None = None
    #: Shares of what each side has (1.0 = full).
    generator_cpu_share: float | None = None
    target_cpu_share: float | None = None
    #: The target's processes and the Redis that shares their CPUs.
    target_side_cpu_share: float | None = None
    #: Redis runs its commands on one thread: its share of one core is its utilisation.
    redis_cpu_cores: float | None = None
    other_cpu_cores: float | None = None
    idle_cpu_cores: float | None = None
    machine_busy: bool = False


class StaleFigures(Part):
    """Stale reads among some reads, and how old the stale ones were (``cachebench.staleness``)."""

    reads: int | None = None
    stale_reads: int | None = None
    stale_read_ratio: float | None = None
    staleness_age_p50_s: float | None = None
    staleness_age_p99_s: float | None = None
    staleness_age_max_s: float | None = None


class Staleness(StaleFigures):
    """A cell's staleness from its records, overall and per cache outcome."""

    available: bool
    #: Why it is not available.
    reason: str | None = None
    origin_writes: int | None = None
    unexplained_reads: int | None = None
    by_outcome: dict[str, StaleFigures] = {}


class WarmupRecord(Part):
    """The session's warm-up: how long it ran and whether the hit ratio settled."""

    kind: WarmupKind
    seconds: float
    settled: bool
    ttl_s_by_layer: dict[str, float] = {}
    client_ttl_s: float | None = None
    #: Layers that evicted in the last window (full, so their size bound acts).
    evicting: list[str] = []
    window_s: float
    hit_ratio_by_window: list[float | None] = []
    #: A later cell of the session: the cell whose warm-up it shares.
    shared_with: str | None = None


class Cpus(Part):
    """The CPUs each side was pinned to (none: not pinned)."""

    target: list[int] | None = None
    generator: list[int] | None = None


class IdleCpu(Part):
    """CPU % the target's processes and Redis used at rest, subtracted from CPU per request."""

    target_cpu_percent: float | None = None
    redis_cpu_percent: float | None = None


class AfterRecorded(Part):
    """Seconds after Locust began to stop at which its process exited and the keep-warm read again."""

    generator_exited_s: float | None = None
    keep_warm_resumed_s: float | None = None


class CellSummary(Record):
    """A measured phase: a fixed-rate or closed-loop cell, or one step of a capacity search."""

    FILE: ClassVar[str] = SUMMARY_FILE
    kind: Literal["measured"] = "measured"
    cell: CellSpec
    complete: bool
    incomplete_reason: str | None = None
    interrupted: bool = False
    started_unix_s: float
    finished_unix_s: float
    locust_exit_code: int | None = None
    #: When Locust began to stop its users (its own clock of the run's end).
    locust_stopping_unix_s: float | None = None
    cpus: Cpus = Cpus()
    saturation: Saturation
    staleness: Staleness
    idle_cpu: IdleCpu | None = None
    headline: Headline
    #: Seconds the keep-warm's reads went on after Locust's started (none: no keep-warm ran).
    keep_warm_handover_s: float | None = None
    after_recorded_s: AfterRecorded | None = None
    faults: FaultsEvaluation | None = None
    warmup: WarmupRecord | None = None
    #: A search step: seconds until the target served nothing more, and whether it still was at
    #: the bound (the next step then starts behind a queue).
    drained_after_s: float | None = None
    still_serving: bool = False


class StepFigures(Part):
    """What one step of a capacity search measured: the rates, the p99 the SLO judges and each
    resource's use over the step's full-rate seconds."""

    offered_rate_per_s: float
    #: Sends intended per second over the same seconds as ``achieved_rate_per_s`` (none: the
    #: offered rate stands for it).
    intended_rate_per_s: float | None = None
    achieved_rate_per_s: float | None = None
    p99_ms: float | None = None
    errors: float = 0.0
    requests: float = 0.0
    #: Shares of what each resource has (1.0 = full): generator of its CPUs, target of its cores
    #: (with the Redis that shares them), Redis of one core, the origin of its connection pools.
    generator_cpu: float | None = None
    target_cpu: float | None = None
    redis_cpu: float | None = None
    origin_pool: float | None = None
    origin_queue_ms_mean: float | None = None
    generator_cores: int = 1


class StepRecord(StepFigures):
    """A step as the search's summary keeps it: its figures, pass or fail and why, and where its
    files are."""

    passed: bool
    failures: list[str] = []
    #: The step's folder under the search cell's ``steps/``, or the session's fixed-rate cell
    #: that stood for it.
    dir: str
    headline: Headline


class SearchSummary(Record):
    """A capacity search: its steps, the capacity at the SLO and what bound it."""

    FILE: ClassVar[str] = SUMMARY_FILE
    kind: Literal["search"] = "search"
    cell: CellSpec
    complete: bool
    incomplete_reason: str | None = None
    interrupted: bool = False
    #: A step measured on a busy machine makes the whole search suspect: the report flags it.
    saturation: Saturation
    headline: SearchHeadline
    steps: list[StepRecord]
    warmup: WarmupRecord | None = None


#: Either summary, told apart by ``kind`` (the schema's one type for ``summary.json``).
AnySummary = Annotated[CellSummary | SearchSummary, Field(discriminator="kind")]


def parse_summary(data: object, where: str = "summary") -> CellSummary | SearchSummary:
    """A summary of either kind, by its ``kind``; RecordError with one line when it does not fit."""
    kind = data.get("kind") if isinstance(data, dict) else None
    return (SearchSummary if kind == "search" else CellSummary).parse(data, where)


def read_summary(path: Path) -> CellSummary | SearchSummary | None:
    """A cell's ``summary.json`` (None when the cell wrote none); RecordError when unreadable."""
    path = Path(path)
    return parse_summary(load_json(path), str(path)) if path.exists() else None
