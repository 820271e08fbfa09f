"""The capacity search's logic: rates it tries, when a step fails, what bound the capacity."""

from __future__ import annotations

import math

import pytest

from cachebench.results import (
    SAMPLE,
    CellSummary,
    Cpus,
    Headline,
    LatencyRecord,
    Saturation,
    Staleness,
    StepFigures,
)
from cachebench.results.latency_record import Timeline, Window
from cachebench.run.capacity.capacity_run import predicted_capacity
from cachebench.run.capacity.capacity_search import ACHIEVED_FRACTION, RateSearch, bound_of, failures


def _step(rate: float, **figures: float | None) -> StepFigures:
    values = {"achieved_rate_per_s": rate, "p99_ms": 10.0, "errors": 0, "requests": rate * 3}
    values.update(figures)
    return StepFigures(offered_rate_per_s=rate, **values)


def _search_against(capacity: float, search: RateSearch) -> RateSearch:
    """Run ``search`` against a target that passes exactly the rates up to ``capacity``."""
    while (rate := search.next_rate()) is not None:
        assert 0 < rate <= search.max_rate_per_s
        search.record(rate, rate <= capacity)
    return search


@pytest.mark.parametrize("capacity", [130.0, 470.0, 5_300.0, 17_000.0])
def test_the_search_ends_within_its_precision_below_the_true_capacity(capacity: float) -> None:
    search = _search_against(capacity, RateSearch(200.0, 20_000.0, max_steps=20))
    found = search.capacity_per_s
    worst = min(search.failed, default=math.inf)
    assert found is not None and found <= capacity < worst
    assert worst <= found * (1 + search.precision) or not search.failed
    assert len(search.passed) + len(search.failed) <= 20


def test_a_jump_to_a_predicted_knee_saves_steps_and_keeps_the_answer() -> None:
    plain = _search_against(4_000.0, RateSearch(200.0, 20_000.0, max_steps=20, growth=1.5))
    jumping = RateSearch(200.0, 20_000.0, max_steps=20, growth=1.5)
    assert jumping.next_rate() == 200.0
    jumping.record(200.0, True)
    jumping.jump_to(3_500.0)
    _search_against(4_000.0, jumping)
    steps = len(jumping.passed) + len(jumping.failed)
    assert steps < len(plain.passed) + len(plain.failed)
    assert 4_000.0 / 1.1 <= jumping.capacity_per_s <= 4_000.0


def test_a_start_that_fails_halves_down_and_a_bound_on_steps_holds() -> None:
    search = _search_against(30.0, RateSearch(200.0, 20_000.0, max_steps=20))
    assert search.failed[0] == 200.0 and 25.0 <= search.capacity_per_s <= 30.0
    bounded = _search_against(1e9, RateSearch(200.0, 20_000.0, max_steps=4))
    assert len(bounded.passed) == 4 and bounded.capacity_per_s == 1_600.0
    capped = _search_against(1e9, RateSearch(200.0, 1_000.0, max_steps=20))
    assert capped.capacity_per_s == 1_000.0 and not capped.failed


def test_a_rate_that_passes_above_one_that_failed_is_not_the_capacity() -> None:
    search = RateSearch(100.0, 10_000.0)
    for rate, passed in ((100.0, True), (200.0, False), (150.0, True), (300.0, True)):
        search.record(rate, passed)
    assert search.capacity_per_s == 150.0


def test_a_step_fails_on_latency_on_falling_behind_and_on_errors() -> None:
    assert failures(_step(500.0), 50.0) == []
    assert "p99 60.0 ms > 50 ms" in failures(_step(500.0, p99_ms=60.0), 50.0)
    behind = _step(500.0, achieved_rate_per_s=500.0 * ACHIEVED_FRACTION - 1)
    assert any("achieved" in reason for reason in failures(behind, 50.0))
    assert failures(_step(500.0, errors=3), 50.0) == ["3 errors"]
    assert failures(_step(500.0, p99_ms=None), 50.0)


def test_a_full_generator_makes_the_capacity_a_lower_bound_with_the_processes_needed() -> None:
    full = _step(8_000.0, achieved_rate_per_s=5_000.0, generator_cpu=0.97, target_cpu=0.6, generator_cores=1)
    bound = bound_of(full)
    assert bound.name == "load generator" and bound.lower_bound is True
    assert bound.generator_processes_needed == 2  # 8,000/s offered at 5,000/s per process


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ({"origin_pool": 0.97, "target_cpu": 0.3}, "origin"),
        ({"origin_pool": 0.2, "target_cpu": 0.95, "redis_cpu": 0.4}, "target CPU"),
        ({"origin_pool": 0.1, "target_cpu": 0.5, "redis_cpu": 0.92}, "Redis"),
        ({"origin_pool": 0.1, "target_cpu": 0.2}, "latency"),
    ],
)
def test_the_busiest_resource_is_the_bound(shares: dict[str, float], expected: str) -> None:
    bound = bound_of(_step(1_000.0, generator_cpu=0.4, **shares))
    assert bound.name == expected and bound.lower_bound is False


def test_the_prediction_is_where_the_busiest_resource_runs_out() -> None:
    assert predicted_capacity(_step(200.0, origin_pool=0.4, target_cpu=0.1)) == pytest.approx(500.0)
    assert predicted_capacity(_step(200.0, target_cpu=0.05, generator_cpu=0.04)) == pytest.approx(4_000.0)
    assert predicted_capacity(_step(200.0)) is None


# -- the search's own decisions, over step figures given as a runner would write them ---------


def _slo_cell():
    from cachebench.run.matrix import expand, load_matrix

    matrix = load_matrix(
        None,
        {
            "targets": ["l1"],
            "modes": [{"kind": "slo", "offered_rate_per_s": 100, "step_s": 2, "max_steps": 4}],
        },
    )
    return expand(matrix)[0]


def _summary(rate: float, p99_ms: float, busy: bool = False, **fields: object) -> CellSummary:
    headline = Headline(
        latency_kind="corrected", achieved_rate_per_s=rate, offered_rate_per_s=rate, intended_rate_per_s=rate,
        p99_ms=p99_ms, requests=int(rate * 2), failures=0, machine_busy=busy,
    )  # fmt: skip
    return CellSummary(
        cell=_slo_cell().replace(offered_rate_per_s=rate, mode=f"rate{rate:g}", search=None),
        complete=True, started_unix_s=0.0, finished_unix_s=1.0, saturation=Saturation(machine_busy=busy),
        staleness=Staleness(available=False), headline=headline, **fields,
    )  # fmt: skip


def test_a_busy_machines_step_is_not_reused_and_a_busy_failure_is_measured_again(tmp_path):
    from cachebench.run.capacity.capacity_run import search

    measured: list[tuple[float, str]] = []
    busy_once = {125.0}

    def measure_step(step, step_dir):
        rate = step.offered_rate_per_s
        measured.append((rate, step_dir.name))
        if rate in busy_once:  # other work took the CPUs: slow, once
            busy_once.discard(rate)
            return _summary(rate, 400.0, busy=True)
        return _summary(rate, 20.0 if rate <= 200 else 400.0)

    cell = _slo_cell()
    result = search(cell, tmp_path / cell.name, measure_step, earlier=_summary(100.0, 400.0, busy=True))
    # The busy fixed-rate cell did not stand for step one: it was measured afresh, and passed.
    assert measured[0] == (100.0, "01-rate100")
    # 125/s (1.25x the start) failed while the machine was busy, was measured again, and that
    # answer stood.
    assert (125.0, "02-rate125-again") in measured
    assert result.headline.capacity_at_slo_per_s >= 125.0


def test_the_p99_at_capacity_is_the_one_the_slo_judged(tmp_path):
    """Over the step's full seconds, not its whole phase, whose last second has Locust stopping."""
    from cachebench.load.histograms import latency_bucket
    from cachebench.run.capacity.capacity_run import search

    def measure_step(step, step_dir):
        rate = step.offered_rate_per_s
        fast, slow = latency_bucket(20_000), latency_bucket(400_000)
        # Two full seconds at 20 ms (400 ms above 200/s: those rates fail), then the stop at 400 ms.
        per_s = {fast: [0, 200, 200, 0], slow: [0, 0, 0, 50]} if rate <= 200 else {slow: [0, 200, 200, 50]}
        step_dir.mkdir(parents=True, exist_ok=True)
        window = Window(from_unix_s=1001, to_unix_s=1003, seconds=2)
        timeline = Timeline(t0_unix_s=1000, per_s=per_s)
        LatencyRecord(mode="fixed_rate", requests=400, errors=0, window=window, timeline=timeline).write(
            step_dir / "latency.json"
        )
        return _summary(rate, 400.0)  # the phase's p99, stop second included

    cell = _slo_cell()
    result = search(cell, tmp_path / cell.name, measure_step)
    headline = result.headline
    assert headline.capacity_at_slo_per_s is not None
    assert headline.at_capacity.p99_ms <= 22.0  # the 20 ms bucket's upper edge, not 400


def test_every_step_measured_draws_streams_no_other_step_or_repetition_drew(tmp_path):
    """A step replaying the stream the step before it had just cached would hit far above the
    cache's steady state; so would one replaying the fixed-rate cells' streams."""
    from cachebench.run.capacity.capacity_run import search

    seeds: list[int] = []
    slow_once = {125.0}  # fails with no resource busy, so it is measured again

    def measure_step(step, step_dir):
        seeds.append(step.seed)
        rate = step.offered_rate_per_s
        if rate in slow_once:
            slow_once.discard(rate)
            return _summary(rate, 400.0)
        return _summary(rate, 20.0 if rate <= 200 else 400.0)

    cell = _slo_cell()
    search(cell, tmp_path / cell.name, measure_step)
    assert len(seeds) == cell.search.max_steps + 1  # one step measured twice
    assert len(set(seeds)) == len(seeds)
    repetition_seeds = range(cell.seed - 100, cell.seed + 100)
    assert not set(seeds) & set(repetition_seeds)


def test_the_targets_cores_are_as_busy_as_the_target_and_the_redis_pinned_beside_it(tmp_path):
    import csv

    from cachebench.run.capacity.capacity_run import step_of

    cell = _slo_cell()
    samples = tmp_path / "samples.csv"
    columns = [
        SAMPLE.unix_s,
        SAMPLE.target_cpu_percent,
        SAMPLE.redis_cpu_percent,
        SAMPLE.generator_cpu_percent,
    ]
    with open(samples, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows([[101.0, 66.0, 6.0, 40.0], [102.0, 68.0, 8.0, 40.0]])
    summary = _summary(800.0, 60.0, cpus=Cpus(target=[0], generator=[1]))

    step = step_of(summary, cell, samples)
    assert step.target_cpu == pytest.approx(0.74)  # (67 + 7) % of the one core they share
    assert step.redis_cpu == pytest.approx(0.07)
    assert bound_of(step).name == "target CPU"  # neither alone is 70% busy

    without_redis = tmp_path / "no-redis" / "samples.csv"
    without_redis.parent.mkdir()
    without_redis.write_text(",".join(columns[:3]) + "\n101.0,66.0,\n102.0,68.0,\n")
    assert step_of(summary, cell, without_redis).target_cpu == pytest.approx(0.67)


def test_a_step_the_target_was_still_serving_after_makes_the_search_incomplete(tmp_path):
    """The next step would start behind its queue: its p99 would not be its own."""
    from cachebench.run.capacity.capacity_run import search

    def measure_step(step, step_dir):
        rate = step.offered_rate_per_s
        drained = None if rate == 125.0 else 0.6  # 125/s: still serving at the wait's bound
        return _summary(
            rate, 20.0 if rate <= 200 else 400.0, drained_after_s=drained, still_serving=drained is None
        )

    cell = _slo_cell()
    result = search(cell, tmp_path / cell.name, measure_step)
    assert result.complete is False
    assert result.incomplete_reason == (
        "step at 125/s: the target was still serving when the next step began"
    )


def test_a_live_step_leaves_the_keep_warm_off_until_the_target_drains(tmp_path):
    """Over a cache, a keep-warm runs between cells; a search step's must wait for the drain: read
    at once, it kept the target busy, and the wait for quiet ran to its 30 s bound every step."""
    from cachebench.results import read_summary
    from cachebench.results.schema import check_folder
    from cachebench.run.driver import run_bench
    from cachebench.run.matrix import load_matrix

    matrix = load_matrix(
        None,
        {
            # A steady-state warm-up (short TTL: settled in a few seconds) is what brings a keep-warm.
            "label": "step", "targets": ["l1"], "scenarios": ["read_only"], "duration_s": 2,
            "warmup_s": 8, "reuse_processes": True,
            "settings": {"fast": {"origin_latency_ms": 2, "l1_ttl_s": 1}},
            "modes": [
                {"kind": "fixed_rate", "users": 8, "offered_rate_per_s": 100},
                {"kind": "slo", "users": 8, "offered_rate_per_s": 100, "step_s": 2, "lead_in_s": 1,
                 "max_steps": 2},
            ],
        },
    )  # fmt: skip
    run_dir = run_bench(matrix, results_root=tmp_path)
    checked, problems = check_folder(run_dir)  # a search's steps too: every file matches its model
    assert not problems and any("/steps/" in path for path in checked), problems
    steps = sorted(run_dir.glob("cells/*/steps/*/summary.json"))
    assert steps, [path.name for path in run_dir.glob("cells/*")]
    fixed = read_summary(next(run_dir.glob("cells/*rate100*/summary.json")))
    assert fixed.after_recorded_s.keep_warm_resumed_s is not None  # a keep-warm ran
    for step in steps:
        summary = read_summary(step)
        assert summary.after_recorded_s.keep_warm_resumed_s is None, step
        assert summary.drained_after_s is not None and not summary.still_serving, (
            step
        )  # quiet within the bound
