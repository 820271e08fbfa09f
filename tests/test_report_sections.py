"""The run report's capacity and fault sections, from hand-built records: the committed fixture run
has no capacity search and no fault cell (tests/test_capacity_live.py and tests/test_fault_run.py
make real ones, and run the whole report on them)."""

from __future__ import annotations

import pandas as pd

from analysis import rendering
from analysis.run_report import fault_section
from analysis.run_report.capacity_section import (
    COLUMNS,
    Search,
    Section,
    answer,
    bound_text,
    capacity_text,
    figure,
    markdown,
)
from cachebench.results import (
    AtCapacity,
    FaultGoal,
    FaultPhase,
    FaultsEvaluation,
    FaultSpec,
    FaultWindow,
    Headline,
    SearchHeadline,
    SearchSpec,
    StepRecord,
)

# -- capacity --------------------------------------------------------------------------------


def test_capacities_within_a_searchs_repeatability_are_not_ranked():
    spec = SearchSpec(slo_p99_ms=50, max_rate_per_s=20_000, step_s=3.0, lead_in_s=3.0, max_steps=10)

    def search(target: str, capacity_per_s: float) -> Search:
        headline = SearchHeadline(
            capacity_at_slo_per_s=capacity_per_s, slo_p99_ms=50, bound="origin", bound_utilisation=0.95,
            lower_bound=False, search_steps=5,
        )  # fmt: skip
        return Search(
            cell=f"001-{target}-read_heavy-default-slo-r1", target=target, scenario="read_heavy",
            variant="default", spec=spec, headline=headline, origin_capacity_per_s=500.0,
        )  # fmt: skip

    text = answer(
        [search("nocache", 430.0), search("l1", 1_030.0), search("redis", 1_174.0)], "read_heavy", 50
    )
    assert "**nocache** 430 req/s, origin-bound (its connection pool was busy), 95% busy" in text
    assert "(pool ÷ origin latency ≈ 500 operations/s)" in text
    assert "**l1** 1,030 req/s" in text and "2.4× nocache" in text
    assert "3 s unrecorded, then 3 s" in text
    assert "failed next" in text and "varies from run to run" in text and "do not rank" in text


def test_a_search_that_wrote_no_summary_is_named_without_a_figure():
    spec = SearchSpec(slo_p99_ms=50, max_rate_per_s=20_000, step_s=3.0, lead_in_s=0.0, max_steps=10)
    failed = Search(
        cell="001-l1-read_heavy-default-slo-r1", target="l1", scenario="read_heavy", variant="default",
        spec=spec, flag="failed",
    )  # fmt: skip
    assert (capacity_text(failed), bound_text(failed)) == ("below – req/s", "–")
    assert [column(failed) for _, column in COLUMNS[2:]] == ["–"] * (len(COLUMNS) - 2)
    text = answer([failed], "read_heavy", 50)
    assert "**l1** below – req/s, – (flagged failed)" in text and "unrecorded" not in text


def test_the_capacity_table_and_figure_read_the_step_at_capacity():
    spec = SearchSpec(slo_p99_ms=50, max_rate_per_s=20_000, step_s=3.0, lead_in_s=3.0, max_steps=10)
    at_capacity = AtCapacity(p99_ms=41.25, origin_reads_per_s=380.4, hit_ratio_by_layer={"l1": 0.5})
    headline = SearchHeadline(
        capacity_at_slo_per_s=800.0, slo_p99_ms=50, failed_at_per_s=1_200.0, bound="target CPU",
        bound_utilisation=0.9, lower_bound=False, search_steps=2, at_capacity=at_capacity,
    )  # fmt: skip
    steps = tuple(
        StepRecord(
            offered_rate_per_s=rate,
            p99_ms=p99,
            passed=passed,
            dir=f"step-{rate:g}",
            headline=Headline(latency_kind="corrected"),
        )  # fmt: skip
        for rate, p99, passed in ((800.0, 41.25, True), (1_200.0, 95.0, False))
    )
    search = Search(
        cell="001-l1-read_heavy-default-slo-r1", target="l1", scenario="read_heavy", variant="default",
        spec=spec, headline=headline, steps=steps,
    )  # fmt: skip
    (row,) = markdown(Section("read_heavy", "default", 50.0, [search], "answer"))[2:]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0:2] == ["`l1`", "800 req/s"] and cells[2].startswith("bound by the target's cores")
    assert cells[3:] == ["41.2", "380", "50.0%", "–", "1,200 req/s", "2"]
    ax = figure([search], "read_heavy", 50.0).axes[0]
    filled, hollow = ax.collections
    assert filled.get_offsets().tolist() == [[800.0, 41.25]] and hollow.get_offsets().tolist() == [
        [1_200.0, 95.0]
    ]


# -- faults ----------------------------------------------------------------------------------


def test_the_fault_section_shows_each_phase_and_goal_as_faults_json_records_them():
    """The fixture has no fault cell (tests/test_fault_run.py makes a real one): a hand-built record."""
    started = 1_000.0
    phases = [
        FaultPhase(
            fault=0,
            kind="pause",
            phase=name,
            from_unix_s=started + begin,
            to_unix_s=started + end,
            seconds=end - begin,
            requests=requests,
            errors=0,
            p99_ms=p99,
            server_5xx=0,
            redis_errors=errors,
            stale_reads=stale,
        )
        for name, begin, end, requests, p99, errors, stale in (
            ("before", 0, 2, 120, 4.5, 0, None),
            ("during", 2, 5, 180, 101.0, 7, 3),
            ("after", 5, 8, 180, 5.0, 0, 0),
        )
    ]
    faults = FaultsEvaluation(
        schedule=[FaultSpec(kind="pause", at_s=2, duration_s=3)], events=[], started_unix_s=started,
        ended_unix_s=started + 8, cooldown_s=1.0, staleness_bound_s=2.0,
        windows=[FaultWindow(fault=0, kind="pause", from_unix_s=started + 2, to_unix_s=started + 5,
                             first_redis_hit_s=0.4)],
        phases=phases,
        goals=[
            FaultGoal(goal="no_5xx", text="0 5xx through every fault", met=True, value="0"),
            FaultGoal(goal="redis_hits_resume", text="Redis hits resume", met=False, value="4.0 s",
                      bound="≤ 2 s"),
        ],
    )  # fmt: skip
    cell = fault_section.FaultCell("001-redis-read_heavy-default-rate60-r1", "redis", faults)
    markdown = "\n".join(fault_section.render_markdown(fault_section.Section([cell])))
    assert "- met: 0 5xx through every fault: 0\n" in markdown
    assert "- **MISSED**: Redis hits resume: 4.0 s (goal ≤ 2 s)\n" in markdown
    header = fault_section._header()
    rows = {row[1]: dict(zip(header, row, strict=True)) for row in fault_section.phase_rows(cell)}
    assert list(rows) == ["before", "during", "after"] and rows["during"]["fault"] == "1 pause"
    during = rows["during"]
    assert (during["s"], during["p99 ms"], during["failed Redis calls"]) == ("3.0", "101.0", "7")
    # No read records before the fault: its stale reads are unknown, not 0.
    assert (rows["before"]["stale reads"], rows["after"]["stale reads"]) == ("–", "0")
    assert rows["after"]["first Redis hit after, s"] == "0.40" and during["first Redis hit after, s"] == "–"
    assert rendering.to_png(fault_section.timeline(cell, pd.DataFrame())).startswith(b"\x89PNG")
