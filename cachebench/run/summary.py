"""A cell's headline figures (summary.json) and saturation verdict, from its samples and Locust's files."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import mean, stdev

from hdrh.histogram import HdrHistogram

from cachebench import staleness
from cachebench.metrics_text import MetricChanges, metric_changes, parse_metrics
from cachebench.results import (
    LATENCY_FILE,
    SAMPLE,
    CellSpec,
    CellSummary,
    Cpus,
    Headline,
    IdleCpu,
    LatencyRecord,
    Saturation,
    samples_csv,
    write_atomic,
)
from cachebench.results.latency_record import Window
from cachebench.run.sampling import SAMPLE_INTERVAL_S

#: A process that used this share of its CPUs was the bottleneck (Locust warns only at 90% of
#: one core, and too late to mark the numbers).
SATURATED_CPU_FRACTION = 0.9
#: Other processes using this many cores on average while a cell was measured, on a machine
#: left with less than BUSY_MACHINE_IDLE_CORES idle, took CPU from the target or the generator:
#: its numbers describe a busy machine, not the strategy. (With cores to spare, as on a larger
#: machine where the benchmark's processes are pinned to a few, other work does not compete.)
BUSY_MACHINE_OTHER_CORES = 0.25
BUSY_MACHINE_IDLE_CORES = 1.0
#: A cell whose per-second samples cover less than this share of its duration is incomplete.
MIN_SAMPLE_COVERAGE = 0.8


def write_samples(path: Path, rows: list[dict]) -> None:
    write_atomic(path, samples_csv(rows))


def merged_histogram(
    latency: LatencyRecord, outcome: str = "all", kind: str = "service"
) -> HdrHistogram | None:
    """All request names' histograms for one outcome and latency kind, added together."""
    merged = None
    for key, encoded in latency.histograms.items():
        _, hist_outcome, hist_kind = key.split("|")
        if hist_outcome != outcome or hist_kind != kind:
            continue
        histogram = HdrHistogram.decode(encoded)
        if merged is None:
            merged = histogram
        else:
            merged.add(histogram)
    return merged


def _metric_changes(
    before_text: str | None, after_text: str | None, duration_s: float
) -> MetricChanges | None:
    if before_text is None or after_text is None:
        return None
    return metric_changes(parse_metrics(before_text), parse_metrics(after_text), duration_s)


def window_rows(rows: list[dict], window: Window | None) -> list[dict]:
    """The sampler's rows for the seconds Locust counts as full rate: ``window`` of the latency
    file, from every user running to the stop. The one definition of a cell's full-rate seconds:
    rates, a search step's p99 and resource shares, and the CPU intervals all use it.

    A row covers the sampling interval before its ``unix_s`` and counts when most of it is inside.
    With no window (or no row inside it) every row counts.
    """
    if not window:
        return rows
    begin, end = float(window.from_unix_s), float(window.to_unix_s)
    timed = [r for r in rows if r.get(SAMPLE.unix_s) not in (None, "")]
    inside = [r for r in timed if begin <= float(r[SAMPLE.unix_s]) - SAMPLE_INTERVAL_S / 2 <= end]
    return inside or rows


def cpu_per_request(
    rows: list[dict],
    requests: float | None,
    duration_s: float,
    idle_cpu: IdleCpu | None = None,
    window: Window | None = None,
) -> dict[str, float | None]:
    """CPU µs per request of the target (all its processes) and of Redis, over the measured phase.

    A cost per request, unlike throughput, does not depend on how fast the load generator is.
    The target's fixed work (the once-a-second /metrics rendering and memory sampling) would
    dominate at low rates — at 200 req/s it is most of nocache's 600 µs — so the CPU the same
    processes use with no load (``idle_cpu``, measured by the runner) is subtracted first. The
    interval of the per-second costs goes beside each figure (``*_ci95``: half-width, µs), over the
    full-rate seconds (``window``): a second of ramp-up or stop would swamp the spread.
    """
    costs: dict[str, float | None] = {}
    full_rate = window_rows(rows, window)
    for side, column in (("target", SAMPLE.target_cpu_percent), ("redis", SAMPLE.redis_cpu_percent)):
        # IdleCpu names its figures as the samples' columns they are means of.
        idle = (getattr(idle_cpu, column) if idle_cpu is not None else None) or 0.0
        shares = [r[column] for r in rows if r.get(column) is not None]
        cpu_s = (mean(shares) - idle) / 100 * duration_s if shares else None
        costs[f"{side}_cpu_us_per_request"] = (
            max(cpu_s, 0.0) / requests * 1e6 if cpu_s is not None and requests else None
        )
        per_second = [
            (r[column] - idle) / 100 / r[SAMPLE.requests_per_s] * 1e6
            for r in full_rate
            if r.get(column) is not None and r.get(SAMPLE.requests_per_s)
        ]
        costs[f"{side}_cpu_us_per_request_ci95"] = (
            1.96 * stdev(per_second) / math.sqrt(len(per_second)) if len(per_second) >= 3 else None
        )
    return costs


def saturation(rows: list[dict], cpus: Cpus) -> Saturation:
    """generator-bound, target-bound or neither, from mean CPU over the measured phase."""

    def share(side: str, *columns: str) -> float | None:
        values = [sum(r.get(c) or 0.0 for c in columns) for r in rows if r.get(columns[0]) is not None]
        if not values:
            return None
        cores = len(getattr(cpus, side) or []) or None
        return mean(values) / 100 / (cores or 1)

    generator = share("generator", SAMPLE.generator_cpu_percent)
    target = share("target", SAMPLE.target_cpu_percent)
    # The suite's Redis is pinned to the target's CPUs: together they use the target side's CPUs.
    target_side = share("target", SAMPLE.target_cpu_percent, SAMPLE.redis_cpu_percent)
    redis = [r[SAMPLE.redis_cpu_percent] for r in rows if r.get(SAMPLE.redis_cpu_percent) is not None]
    other = [r[SAMPLE.other_cpu_percent] for r in rows if r.get(SAMPLE.other_cpu_percent) is not None]
    other_cores = mean(other) / 100 if other else None
    idle = [r[SAMPLE.idle_cpu_percent] for r in rows if r.get(SAMPLE.idle_cpu_percent) is not None]
    idle_cores = mean(idle) / 100 if idle else None
    busy = (
        other_cores is not None
        and other_cores >= BUSY_MACHINE_OTHER_CORES
        and (idle_cores is None or idle_cores < BUSY_MACHINE_IDLE_CORES)
    )
    if generator is not None and generator >= SATURATED_CPU_FRACTION:
        verdict = "generator-bound"
    elif target_side is not None and target_side >= SATURATED_CPU_FRACTION:
        verdict = "target-bound"
    else:
        verdict = "neither"
    return Saturation(
        verdict=verdict,
        generator_cpu_share=generator,
        target_cpu_share=target,
        target_side_cpu_share=target_side,
        redis_cpu_cores=mean(redis) / 100 if redis else None,
        other_cpu_cores=other_cores,
        idle_cpu_cores=idle_cores,
        machine_busy=busy,
    )


def summarize(
    cell: CellSpec,
    cell_dir: Path,
    rows: list[dict],
    started_unix_s: float,
    finished_unix_s: float,
    returncode: int | None,
    cpus: Cpus,
    interrupted: bool = False,
    metrics_before: str | None = None,
    metrics_after: str | None = None,
    idle_cpu: IdleCpu | None = None,
) -> CellSummary:
    """The cell's summary from what the runner holds (samples, ``/metrics`` before and after) and
    what the cell's other processes wrote (Locust's latency file, the read logs)."""
    latency = LatencyRecord.read_if_present(cell_dir / LATENCY_FILE)
    kind = "corrected" if latency is not None and latency.mode == "fixed_rate" else "service"
    histogram = merged_histogram(latency, "all", kind) if latency is not None else None
    percentiles: dict[str, float] = {}
    if histogram is not None and histogram.get_total_count():
        percentiles = {
            "p50_ms": histogram.get_value_at_percentile(50) / 1000,
            "p90_ms": histogram.get_value_at_percentile(90) / 1000,
            "p99_ms": histogram.get_value_at_percentile(99) / 1000,
            "p999_ms": histogram.get_value_at_percentile(99.9) / 1000,
            "max_ms": histogram.get_max_value() / 1000,
        }
    requests = latency.requests if latency is not None else None
    changes = _metric_changes(metrics_before, metrics_after, cell.duration_s)
    costs = cpu_per_request(rows, requests, cell.duration_s, idle_cpu, latency.window if latency else None)
    rss = [r[SAMPLE.target_rss_bytes] for r in rows if r.get(SAMPLE.target_rss_bytes)]
    redis_memory = [r[SAMPLE.redis_used_memory_bytes] for r in rows if r.get(SAMPLE.redis_used_memory_bytes)]
    stale = staleness.summarize_cell(cell_dir)
    verdict = saturation(rows, cpus)
    headline = Headline(
        latency_kind=kind,
        **percentiles,
        requests=requests,
        failures=latency.errors if latency is not None else None,
        offered_rate_per_s=latency.offered_rate_per_s if latency is not None else None,
        intended_rate_per_s=latency.intended_rate_per_s if latency is not None else None,
        achieved_rate_per_s=latency.achieved_rate_per_s if latency is not None else None,
        # Over the whole phase, scrapes and health checks would blur the scenario's own request
        # rate: only the origin's and the caches' figures come from /metrics.
        origin_reads_per_s=changes.origin_reads_per_s if changes else None,
        origin_writes_per_s=changes.origin_writes_per_s if changes else None,
        origin_queue_ms_mean=changes.origin_queue_ms_mean if changes else None,
        origin_connections_in_use=changes.origin_connections_in_use if changes else None,
        hit_ratio_by_layer=changes.hit_ratio_by_layer if changes else {},
        **costs,
        target_rss_bytes_max=max(rss) if rss else None,
        redis_used_memory_bytes_max=max(redis_memory) if redis_memory else None,
        stale_read_ratio=stale.stale_read_ratio,
        staleness_age_p99_s=stale.staleness_age_p99_s,
        staleness_age_max_s=stale.staleness_age_max_s,
        saturation=verdict.verdict,
        other_cpu_cores=verdict.other_cpu_cores,
        machine_busy=verdict.machine_busy,
    )
    problems = ["interrupted"] if interrupted else []
    if latency is None:
        problems.append(f"no {LATENCY_FILE} from the scenario")
    elif latency.incomplete_workers:
        problems.append(f"Locust workers without final reports: {latency.incomplete_workers}")
    if len(rows) < MIN_SAMPLE_COVERAGE * cell.duration_s:
        problems.append(f"only {len(rows)} samples for {cell.duration_s:g}s")
    return CellSummary(
        cell=cell,
        complete=not problems,
        incomplete_reason="; ".join(problems) or None,
        interrupted=interrupted,
        started_unix_s=started_unix_s,
        finished_unix_s=finished_unix_s,
        locust_exit_code=returncode,
        locust_stopping_unix_s=latency.stopping_unix_s if latency is not None else None,
        cpus=cpus,
        saturation=verdict,
        staleness=stale,
        idle_cpu=idle_cpu,
        headline=headline,
    )
