"""``cachebench report`` and ``cachebench compare`` on copies of the committed fixture run.

The report's numbers are checked against values computed here straight from the run's files
(latency.json read by its model, with hdrh), not through analysis.results_frames. Tests that
alter a copy of the run do it through the records' models.
"""

from __future__ import annotations

import argparse
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixture_run import FIXTURE_RUN, copy_run, edit_json, edit_manifest, edit_summary, quiet_copy
from hdrh.histogram import HdrHistogram

from analysis import results_frames
from analysis.run_report import compare, question, run_page
from cachebench.cli import report_command
from cachebench.results import (
    LATENCY_FILE,
    MANIFEST_FILE,
    REPORT_FILE,
    REPORT_SUMMARY_FILE,
    CellSummary,
    LatencyRecord,
    Manifest,
    WarmupRecord,
    read_manifest,
)
from cachebench.settings import load_settings


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cachebench")
    report_command.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full report (every figure) written once into a quiet copy of the fixture run, via the CLI."""
    run_dir = quiet_copy(tmp_path_factory.mktemp("report"))
    assert _cli("report", str(run_dir)) == 0
    return run_dir


# -- independent numbers -----------------------------------------------------------------------


def _cells(scenario: str, mode: str, target: str) -> list[Path]:
    return [
        FIXTURE_RUN / "cells" / c.name
        for c in read_manifest(FIXTURE_RUN).cells
        if (c.scenario, c.mode, c.target) == (scenario, mode, target)
    ]


def _p99_ms(cell: Path, kind: str) -> float:
    latency = LatencyRecord.read(cell / LATENCY_FILE)
    merged = None
    for key, encoded in latency.histograms.items():
        if key.endswith(f"|all|{kind}"):
            histogram = HdrHistogram.decode(encoded)
            merged = histogram if merged is None else (merged.add(histogram) or merged)
    return merged.get_value_at_percentile(99) / 1000


def _throughput(cell: Path) -> float:
    return LatencyRecord.read(cell / LATENCY_FILE).achieved_rate_per_s


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _row(markdown: str, heading: str, target: str) -> list[str]:
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith(f"| `{target}`"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_numbers_equal_those_computed_from_the_data(written: Path) -> None:
    markdown = (written / REPORT_SUMMARY_FILE).read_text()
    heading = "read_heavy · capacity (closed loop, 8 users)"
    l1, base = _cells("read_heavy", "capacity", "l1"), _cells("read_heavy", "capacity", "nocache")
    throughput = _mean([_throughput(c) for c in l1])
    ratio = throughput / _mean([_throughput(c) for c in base])
    p99 = _mean([_p99_ms(c, "service") for c in l1])
    row = _row(markdown, heading, "l1")
    assert row[1] == "2/2"
    assert row[2].startswith(f"{throughput:,.0f} · ") and f"{ratio:.2f}×" in row[2]
    assert row[4].startswith(f"{p99:,.1f} · ")
    base_row = _row(markdown, heading, "nocache")
    assert base_row[2] == f"{_mean([_throughput(c) for c in base]):,.0f} (baseline)"


def test_fixed_rate_rows_use_corrected_latency(written: Path) -> None:
    markdown = (written / REPORT_SUMMARY_FILE).read_text()
    cells = _cells("read_heavy", "rate100", "nocache")
    p99 = _mean([_p99_ms(c, "corrected") for c in cells])
    row = _row(markdown, "read_heavy · rate100 (fixed rate 100 req/s, 8 users)", "nocache")
    assert row[4] == f"{p99:,.1f} (baseline)"


def test_answer_names_a_winner_per_group_with_its_confidence(written: Path) -> None:
    markdown = (written / REPORT_SUMMARY_FILE).read_text()
    answers = [line for line in markdown.splitlines() if line.startswith("- For ")]
    assert len(answers) == 4
    for line in answers:
        # A winner is named, or the answer says that none could be shown and why.
        assert re.search(r"\*\*(l1|client-headers)\*\*", line) or "no strategy lowered" in line, line
        assert "95% CI" in line or "no confidence" in line.lower() or "no interval from" in line, line
    assert "Browser caches: with client-headers the browsers answered" in markdown


def test_html_is_self_contained_with_every_figure_inline(written: Path) -> None:
    page = (written / REPORT_FILE).read_text()

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.sources: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for name, value in attrs:
                if name in ("src", "href") and value:
                    self.sources.append(value)

    links = Links()
    links.feed(page)
    assert links.sources, "no images found"
    for source in links.sources:
        assert source.startswith(("data:image/png;base64,", "#")), source
    assert "<script" not in page and "<link" not in page
    figures_written = sorted((written / run_page.FIGURES_DIR).glob("*.png"))
    assert page.count('src="data:image/png;base64,') == len(figures_written) == 4 * 6 + 2
    assert page.index("The answer") < page.index("<img")  # the answer comes first


def test_single_repetition_says_no_confidence_can_be_given(tmp_path: Path) -> None:
    run_dir = quiet_copy(tmp_path)

    def first_repetition_only(manifest: Manifest) -> None:
        manifest.cells = [c for c in manifest.cells if c.repetition == 1]

    edit_manifest(run_dir, first_repetition_only)
    built = run_page.build(run_dir, with_figures=False)
    markdown = run_page.render_markdown(built)
    assert "no confidence can be given (1 repetition)" in markdown
    assert "No confidence can be given (1 repetition)." in built.groups[0].answer
    assert "(n=1, no CI)" in markdown and "95% CI" not in markdown
    assert "; 1 repetition;" in markdown  # the question says so too


def test_flagged_cells_are_marked_and_not_averaged_in(tmp_path: Path) -> None:
    run_dir = quiet_copy(tmp_path)
    bound = "014-l1-read_heavy-default-capacity-r2"

    def generator_bound(summary: CellSummary) -> None:
        summary.saturation.verdict, summary.saturation.generator_cpu_share = "generator-bound", 0.95

    edit_summary(run_dir, bound, generator_bound)
    markdown = run_page.render_markdown(run_page.build(run_dir, with_figures=False))
    assert f"`{bound}` is flagged **generator-bound**: load generator at 95% of its CPUs" in markdown
    row = _row(markdown, "read_heavy · capacity (closed loop, 8 users)", "l1")
    assert row[1] == "1/2" and row[-1] == "generator-bound"
    remaining = _throughput(FIXTURE_RUN / "cells" / "002-l1-read_heavy-default-capacity-r1")
    assert row[2].startswith(f"{remaining:,.0f} · ")  # the flagged repetition is left out


def test_cells_measured_before_steady_state_are_named_in_the_caveats(tmp_path: Path) -> None:
    run_dir = copy_run(tmp_path)
    cells = sorted(p.name for p in (run_dir / "cells").iterdir())
    unsettled = set(cells[:2])
    for name in cells:

        def warmed(summary: CellSummary, settled: bool = name not in unsettled) -> None:
            summary.warmup = WarmupRecord(kind="steady_state", seconds=3.1, settled=settled, window_s=1.0)

        edit_summary(run_dir, name, warmed)
    markdown = run_page.render_markdown(run_page.build(run_dir, with_figures=False))
    assert f"2 of {len(cells)} cells were measured before their caches reached steady state" in markdown


def test_an_interrupted_run_still_gets_a_report_with_its_gaps_marked(tmp_path: Path) -> None:
    run_dir = quiet_copy(tmp_path)
    failed, not_run = "002-l1-read_heavy-default-capacity-r1", "014-l1-read_heavy-default-capacity-r2"

    def interrupt(manifest: Manifest) -> None:
        manifest.status = "incomplete"
        manifest.cells = [c for c in manifest.cells if (c.scenario, c.mode) == ("read_heavy", "capacity")]
        for cell in manifest.cells:
            if cell.name == failed:
                cell.status, cell.reason = "failed", "CellFailed: verification failed: GET item 200"
                cell.summary = None
            if cell.name == not_run:
                cell.status, cell.reason, cell.summary = "not_run", "run interrupted", None

    edit_manifest(run_dir, interrupt)
    shutil.rmtree(run_dir / "cells" / failed)  # a cell that failed early leaves little or nothing
    shutil.rmtree(run_dir / "cells" / not_run)
    html_path, md_path = run_page.write(run_dir)
    markdown = md_path.read_text()
    assert "The run's status is **incomplete**" in markdown
    assert f"`{failed}` is flagged **failed**: CellFailed: verification failed" in markdown
    assert f"`{not_run}` is flagged **not run**: run interrupted" in markdown
    row = _row(markdown, "read_heavy · capacity (closed loop, 8 users)", "l1")
    assert row[1] == "0/2" and row[2] == "–" and row[-1] == "failed, not run"
    # l1 has no valid cell left: the answer names the other strategy, whichever way it went.
    answer = next(line for line in markdown.splitlines() if line.startswith("- For read_heavy (closed loop"))
    assert "**client-headers**" in answer and "**l1**" not in answer
    assert html_path.read_text().count("data:image/png;base64,") == 6


def test_report_without_a_run_dir_takes_the_newest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    older = copy_run(tmp_path, "20200101T000000Z-old")
    newer = copy_run(tmp_path, "20300101T000000Z-new")

    def first_three(manifest: Manifest) -> None:
        manifest.cells = manifest.cells[:3]

    def no_cells(manifest: Manifest) -> None:
        manifest.cells = []

    edit_manifest(newer, first_three)
    simulated = tmp_path / "20400101T000000Z-simulated"  # a folder with no measured cells is passed over
    simulated.mkdir()
    shutil.copy(FIXTURE_RUN / MANIFEST_FILE, simulated / MANIFEST_FILE)
    edit_manifest(simulated, no_cells)
    assert _cli("report", "--results", str(tmp_path)) == 0
    assert (newer / REPORT_FILE).exists() and not (older / REPORT_FILE).exists()
    assert str(newer / REPORT_SUMMARY_FILE) in capsys.readouterr().out


def test_report_refuses_an_unreadable_run(tmp_path: Path) -> None:
    run_dir = copy_run(tmp_path)
    edit_json(run_dir / MANIFEST_FILE, lambda m: m.update(schema_version=7))
    with pytest.raises(ValueError, match="schema_version 7"):
        _cli("report", str(run_dir))
    assert not (run_dir / REPORT_FILE).exists()


def test_cachebench_main_reports_errors_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from cachebench.cli import main as cli

    try:
        cli.build_parser().parse_args(["report", str(tmp_path)])
    except SystemExit:
        pytest.skip("cachebench.cli.main does not register the report command yet")
    assert cli.main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# -- compare ---------------------------------------------------------------------------------


def test_comparing_a_run_with_itself_finds_nothing_significant() -> None:
    run = results_frames.load_run(FIXTURE_RUN)
    comparison = compare.compare(run, run)
    assert comparison.comparable
    rows = comparison.rows
    # Two usable repetitions or more give an interval (spanning 1), one gives no confidence, none
    # (every repetition flagged) no figure to compare.
    expected = rows["n_a"].map(lambda n: compare.SAME if n >= 2 else compare.UNSURE if n == 1 else "")
    assert (rows["mark"] == expected).all()
    assert (rows["n_a"] == rows["n_b"]).all()
    assert (rows[rows["n_a"] > 0]["ratio"] == 1.0).all()
    assert compare.SAME in set(rows["mark"])


def test_compare_marks_a_clear_improvement_and_a_regression(tmp_path: Path) -> None:
    before = quiet_copy(tmp_path / "a")
    faster = quiet_copy(tmp_path / "b")
    for cell in (faster / "cells").glob("*-l1-read_heavy-default-capacity-*"):
        latency = LatencyRecord.read(cell / LATENCY_FILE)
        latency.achieved_rate_per_s *= 2
        latency.write(cell / LATENCY_FILE)
    rows = compare.compare(results_frames.load_run(before), results_frames.load_run(faster)).rows
    throughput = rows[(rows["metric"] == "throughput_per_s") & (rows["scenario"] == "read_heavy")]
    marks = dict(zip(throughput["target"] + "/" + throughput["mode"], throughput["mark"], strict=True))
    assert marks["l1/capacity"] == compare.BETTER
    assert marks["nocache/capacity"] == compare.SAME
    backwards = compare.compare(results_frames.load_run(faster), results_frames.load_run(before))
    assert backwards.count(compare.WORSE) >= 1
    assert _cli("compare", str(faster), str(before), "--fail-on-regression") == 1
    assert _cli("compare", str(before), str(before), "--fail-on-regression") == 0


def test_compare_flags_different_code_and_settings_as_not_comparable(tmp_path: Path) -> None:
    same = quiet_copy(tmp_path / "a")
    other = quiet_copy(tmp_path / "b")

    def change(manifest: Manifest) -> None:
        manifest.code_sha256 = "0" * 64
        for cell in manifest.cells:
            if cell.target == "l1":
                cell.users = 64

    edit_manifest(other, change)
    comparison = compare.compare(results_frames.load_run(same), results_frames.load_run(other))
    assert not comparison.comparable
    text = compare.render_markdown(comparison)
    assert "**Not comparable**: the measured code differs" in text
    assert "settings differ: users 8 → 64" in text
    assert "| ~ |" in text  # the numbers are still shown


def test_compare_writes_markdown_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "compare.md"
    assert _cli("compare", str(FIXTURE_RUN), str(FIXTURE_RUN), "--out", str(out)) == 0
    text = out.read_text()
    assert text.startswith(f"# cachebench compare: `{FIXTURE_RUN.name}` → `{FIXTURE_RUN.name}`")
    assert "0 worse (+), 0 better (-)" in text


def test_the_report_opens_with_the_question_and_its_bounds():
    manifest = read_manifest(FIXTURE_RUN)
    asked, under = question.lines(manifest)
    # The fixture run is closed loop and fixed rate: the question says what each of those measures.
    assert "closed loop of" in asked and "not the target's capacity" in asked
    assert "req/s** (open loop)" in asked
    assert f"L1 TTL {load_settings(**manifest.cells[0].settings).l1_ttl_s:g} s" in under
    assert f"{manifest.machine.usable_cores} cores" in under
    assert "pool connections" in under and "reads/s reach it" in under
