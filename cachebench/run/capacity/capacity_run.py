"""A capacity-search cell: its steps run one after another on the warmed target; ``summary.json``.

Each step is a short fixed-rate measurement with everything a cell records, in its own folder
under the cell's ``steps/``, recorded after a lead-in at its rate (``lead_in_s``): a step that
starts recording with its load measures Locust's start and the caches' adjustment to the new
rate — a 200 → 670 req/s jump over Redis failed its first seconds at p99 ≈ 300 ms, then held
33 ms — and a search on such steps found 608 req/s in one run and 1,001 in another.

The first step, at the mode's start rate, also gives a prediction: at that rate the busiest
resource (origin pool, target CPU, Redis) is at utilisation u, so it runs out near start ÷ u.
The search jumps to just below that, then grows by GROWTH and bisects; a prediction that is off
(fixed per-second work inflates CPU shares at low rates) costs a step or two, not a wrong answer,
since every figure reported is measured.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

from cachebench.load.histograms import LATENCY_BUCKET_PREFIX, percentile_from_buckets
from cachebench.load.workload import STEP_SEED_OFFSET
from cachebench.results import (
    LATENCY_FILE,
    SAMPLE,
    SAMPLES_FILE,
    STEPS_DIR,
    AtCapacity,
    CellSpec,
    CellSummary,
    LatencyRecord,
    Saturation,
    SearchHeadline,
    SearchSummary,
    StepFigures,
    StepRecord,
)
from cachebench.run.capacity.capacity_search import NOT_REACHED, RateSearch, bound_of, failures, step_record
from cachebench.run.summary import window_rows

#: Growth per step once the prediction has been tried. Doubling overshoots a predicted knee, and
#: so did 1.5: in three default runs every step at 1.5x the jump failed, most by far (p99 110 ms
#: to 1.2 s), leaving the bisection to recover it; at 1.25 four steps found what five had.
GROWTH = 1.25
#: The jump after the first step lands this far below the predicted knee.
PREDICTION_MARGIN = 0.8
#: Failing steps a search measures again when nothing explains their failure (see _run_steps).
MAX_RETRIES = 2
#: Requests a step offers at least (its p99 is then the 99th of ≥ 300, not of a handful) ...
MIN_STEP_REQUESTS = 300
#: ... within this many seconds.
MAX_STEP_S = 20.0


def window_p99_ms(latency: LatencyRecord | None) -> float | None:
    """The p99 (corrected) of the requests completed in the full seconds every user ran, from
    the per-second latency buckets (≤ 2.2% wide; the bucket's upper edge, so never optimistic).

    A short step's first second (users spawning, connections opening) and its last (Locust
    stopping while replies are still read) would otherwise weigh on the p99 as much as the
    rate itself: in a 3 s step that is a third of the requests.
    """
    if latency is None or latency.window is None or latency.timeline.t0_unix_s is None:
        return None
    t0, per_s = latency.timeline.t0_unix_s, latency.timeline.per_s
    seconds = range(latency.window.from_unix_s - t0, latency.window.to_unix_s - t0)
    counts = {
        name: sum(values[i] for i in seconds if 0 <= i < len(values))
        for name, values in per_s.items()
        if name.startswith(LATENCY_BUCKET_PREFIX)
    }
    value_us = percentile_from_buckets(counts, 99)
    return None if value_us is None else value_us / 1000


def step_of(summary: CellSummary, cell: CellSpec, samples: Path) -> StepFigures:
    """A step's figures, with each resource's use as a share of what it has, over the seconds the
    full rate ran (``summary.window_rows`` of ``samples``, the step's per-second rows; a short
    step's ramp-up and stop would otherwise dilute the use at its busiest)."""
    headline = summary.headline
    latency = LatencyRecord.read_if_present(samples.parent / LATENCY_FILE)
    p99_ms = window_p99_ms(latency)
    generator_cores = len(summary.cpus.generator or []) or 1
    # One Locust process is one thread: it is full at one core, whatever the side has.
    processes = min(generator_cores, max(cell.locust_processes, 1))
    settings = cell.resolved
    rows = window_rows(_sample_rows(samples), latency.window if latency is not None else None)

    def share(column: str, capacity: float, busiest: bool = False, also: str | None = None) -> float | None:
        values = [
            float(r[column]) + (float(r[also]) if also and r.get(also) not in (None, "") else 0.0)
            for r in rows
            if r.get(column) not in (None, "")
        ]
        if not values:
            return None
        return (max(values) if busiest else sum(values) / len(values)) / capacity

    return StepFigures(
        offered_rate_per_s=cell.offered_rate_per_s,
        intended_rate_per_s=headline.intended_rate_per_s,
        achieved_rate_per_s=headline.achieved_rate_per_s,
        p99_ms=p99_ms if p99_ms is not None else headline.p99_ms,
        errors=headline.failures or 0.0,
        requests=headline.requests or 0.0,
        generator_cpu=share(SAMPLE.generator_cpu_percent, 100.0 * processes),
        # The Redis the suite starts runs on the target's cores (the runner pins both there), so
        # what those cores have left is the target's and Redis's CPU together: apart, a search over
        # Redis failed at 67% + 6% with "no resource 70% busy".
        target_cpu=share(
            SAMPLE.target_cpu_percent,
            100.0 * (len(summary.cpus.target or []) or 1),
            also=SAMPLE.redis_cpu_percent,
        ),
        redis_cpu=share(SAMPLE.redis_cpu_percent, 100.0),
        # The busiest second: misses come in waves (entries filled together expire together), and
        # a pool full for one second queues that second's reads even if the mean looks idle.
        origin_pool=share(
            SAMPLE.origin_connections_in_use, float(settings.origin_concurrency * cell.workers), busiest=True
        ),
        origin_queue_ms_mean=headline.origin_queue_ms_mean,
        generator_cores=processes,
    )


def _sample_rows(samples: Path) -> list[dict[str, str]]:
    try:
        with open(samples, newline="") as file:
            return list(csv.DictReader(file))
    except FileNotFoundError:
        return []


def predicted_capacity(step: StepFigures) -> float | None:
    """Where the busiest resource at ``step`` would run out, if its use grows with the rate."""
    shares = [s for s in (step.origin_pool, step.target_cpu, step.redis_cpu, step.generator_cpu) if s]
    return step.offered_rate_per_s / max(shares) if shares else None


def search(
    cell: CellSpec,
    cell_dir: Path,
    measure_step: Callable[[CellSpec, Path], CellSummary],
    earlier: CellSummary | None = None,
) -> SearchSummary:
    """Run the search; the cell's summary, with every step and what bound the capacity.

    ``earlier``: a summary of the same target measured at the start rate just before (the
    session's fixed-rate cell), which stands for the first step instead of measuring it again.
    """
    assert cell.search is not None
    slo_p99_ms = cell.search.slo_p99_ms
    rates = RateSearch(
        cell.offered_rate_per_s, cell.search.max_rate_per_s, cell.search.max_steps, growth=GROWTH
    )
    steps: list[StepRecord] = []
    problems: list[str] = []
    try:
        _run_steps(cell, cell_dir, measure_step, rates, steps, problems, earlier)
    except KeyboardInterrupt:
        problems.append("interrupted")
        summary = _summary(cell, rates, steps, slo_p99_ms, problems)
        summary.interrupted = True
        return summary
    return _summary(cell, rates, steps, slo_p99_ms, problems)


def _run_steps(
    cell: CellSpec,
    cell_dir: Path,
    measure_step: Callable[[CellSpec, Path], CellSummary],
    rates: RateSearch,
    steps: list[StepRecord],
    problems: list[str],
    earlier: CellSummary | None,
) -> None:
    assert cell.search is not None
    spec = cell.search
    retried: list[float] = []
    measured = 0
    while (rate := rates.next_rate()) is not None:
        # At a low rate a step lasts long enough for its p99 to rest on MIN_STEP_REQUESTS.
        duration_s = min(max(spec.step_s, math.ceil(MIN_STEP_REQUESTS / rate) + 1), MAX_STEP_S)
        step_cell = cell.replace(
            offered_rate_per_s=rate, duration_s=duration_s, mode=f"step{rate:g}", search=None,
            lead_in_s=spec.lead_in_s,
        )  # fmt: skip
        if (
            earlier is not None
            and not steps
            and rate == earlier.cell.offered_rate_per_s
            and not earlier.headline.machine_busy
        ):
            # The session's fixed-rate cell at the start rate is this step, measured already
            # (unless other work shared the machine then: the step is measured afresh).
            summary, where = earlier, earlier.cell.name
            samples = cell_dir.parent / where / SAMPLES_FILE
        else:
            step_dir = cell_dir / STEPS_DIR / f"{len(steps) + 1:02d}-rate{rate:g}"
            step_cell = _own_stream(step_cell, cell.seed, measured := measured + 1)
            summary, where = measure_step(step_cell, step_dir), step_dir.name
            samples = step_dir / SAMPLES_FILE
        step = step_of(summary, step_cell, samples)
        passed = not failures(step, spec.slo_p99_ms)
        busy = summary.headline.machine_busy
        if not passed and (bound_of(step).name == "latency" or busy) and len(retried) < MAX_RETRIES:
            # A failure with no resource near full rests on a few slow requests of a short step,
            # and one measured while other work took the machine's CPUs says little about the
            # target: measured once more, and the second answer stands.
            retried.append(rate)
            step_cell = _own_stream(step_cell, cell.seed, measured := measured + 1)
            step_dir = cell_dir / STEPS_DIR / f"{len(steps) + 1:02d}-rate{rate:g}-again"
            summary, where = measure_step(step_cell, step_dir), step_dir.name
            step = step_of(summary, step_cell, step_dir / SAMPLES_FILE)
            passed = not failures(step, spec.slo_p99_ms)
        rates.record(rate, passed)
        if not summary.complete:
            problems.append(f"step at {rate:g}/s: {summary.incomplete_reason}")
        if summary.still_serving:
            problems.append(f"step at {rate:g}/s: the target was still serving when the next step began")
        if not steps and passed and (predicted := predicted_capacity(step)):
            rates.jump_to(PREDICTION_MARGIN * predicted)
        steps.append(step_record(step, spec.slo_p99_ms, where, summary.headline))


def _own_stream(step_cell: CellSpec, cell_seed: int, measurement: int) -> CellSpec:
    """The step with a seed of its own, so its users draw requests no earlier step drew.

    With the cell's seed every step replayed the same key streams, and the entries the step
    before had just cached answered them: over Redis (15 s TTL) the share of requests reaching
    the origin in a step's window swung from 6% to 35% at one rate, by how recently that stream
    had been read, and capacity with it. With streams of their own, steps from 640 to 1,000
    req/s kept 23-32%.
    """
    return step_cell.replace(seed=cell_seed + STEP_SEED_OFFSET * measurement)


def _summary(
    cell: CellSpec, rates: RateSearch, steps: list[StepRecord], slo_p99_ms: float, problems: list[str]
) -> SearchSummary:
    capacity = rates.capacity_per_s
    first_fail = min((s for s in steps if not s.passed), key=lambda s: s.offered_rate_per_s, default=None)
    bound = NOT_REACHED if first_fail is None else bound_of(first_fail)
    at = next((s for s in steps if s.offered_rate_per_s == capacity), None)
    # At capacity, the p99 the SLO judged (the step's full seconds), not its phase's, whose last
    # second has Locust stopping.
    at_capacity = (
        AtCapacity()
        if at is None
        else AtCapacity(
            p50_ms=at.headline.p50_ms,
            p99_ms=at.p99_ms,
            origin_reads_per_s=at.headline.origin_reads_per_s,
            origin_queue_ms_mean=at.headline.origin_queue_ms_mean,
            target_cpu_us_per_request=at.headline.target_cpu_us_per_request,
            redis_cpu_us_per_request=at.headline.redis_cpu_us_per_request,
            target_rss_bytes_max=at.headline.target_rss_bytes_max,
            redis_used_memory_bytes_max=at.headline.redis_used_memory_bytes_max,
            hit_ratio_by_layer=at.headline.hit_ratio_by_layer,
        )
    )
    busy = [s.headline.other_cpu_cores or 0.0 for s in steps if s.headline.machine_busy]
    return SearchSummary(
        cell=cell,
        # A step measured on a busy machine makes the whole search suspect: the report flags it.
        saturation=Saturation(machine_busy=bool(busy), other_cpu_cores=max(busy, default=None)),
        complete=not problems,
        incomplete_reason="; ".join(problems) or None,
        headline=SearchHeadline(
            capacity_at_slo_per_s=capacity,
            slo_p99_ms=slo_p99_ms,
            failed_at_per_s=first_fail.offered_rate_per_s if first_fail else None,
            failed_because="; ".join(first_fail.failures) if first_fail else None,
            bound=bound.name,
            lower_bound=bound.lower_bound,
            generator_processes_needed=bound.generator_processes_needed,
            bound_utilisation=bound.utilisation,
            search_steps=len(steps),
            machine_busy=bool(busy),
            at_capacity=at_capacity,
        ),
        steps=steps,
    )
