"""analysis.results_frames, analysis.stats and analysis.run_report.figures on the committed fixture run
(tests/fixtures/run).

The fixture is a real run (tests/fixtures/fixture.toml): nocache, l1 and client-headers on
read_heavy and browser_clients, closed loop and fixed rate, two repetitions each. Numbers are
checked against what the run itself recorded (summary.json, latency.json, read through their
models) and against hdrh. Tests that alter a copy of the run do it through the models too.
"""

from __future__ import annotations

from pathlib import Path

import fixture_run
import numpy as np
import pandas as pd
import pytest
from fixture_run import FIXTURE_RUN, copy_run, edit_json, edit_manifest, edit_summary
from hdrh.histogram import HdrHistogram

from analysis import hdr, rendering, results_frames, stats
from analysis.run_report import figures, tables
from analysis.spectrum import latency_spectrum
from cachebench.results import (
    LATENCY_FILE,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    SUMMARY_FILE,
    CellSummary,
    LatencyRecord,
    Manifest,
    read_summary,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run() -> results_frames.Run:
    return results_frames.load_run(FIXTURE_RUN)


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    return copy_run(tmp_path)


@pytest.fixture
def quiet_copy(tmp_path: Path) -> Path:
    """For tests that flag cells themselves and need the others usable."""
    return fixture_run.quiet_copy(tmp_path)


def _generator_bound(summary: CellSummary, share: float = 0.97) -> None:
    summary.saturation.verdict = "generator-bound"
    summary.saturation.generator_cpu_share = share


# -- loading ---------------------------------------------------------------------------------


def test_cells_are_one_row_per_cell_with_their_parameters(run: results_frames.Run) -> None:
    cells = run.cells
    assert len(cells) == len(run.manifest.cells) == 24
    assert set(cells["target"]) == {"nocache", "l1", "client-headers"}
    assert set(cells["mode_kind"]) == {"capacity", "fixed_rate"}
    assert set(cells["repetition"]) == {1, 2}
    fixed = cells[cells["mode_kind"] == "fixed_rate"]
    assert (fixed["latency_kind"] == "corrected").all()
    assert (cells[cells["mode_kind"] == "capacity"]["latency_kind"] == "service").all()
    assert (cells["usable"] == cells["flag"].isna()).all()


def test_a_cell_is_flagged_exactly_when_its_own_records_give_a_reason(run: results_frames.Run) -> None:
    """Every cell of the (complete) fixture run finished: a flag can only come from its summary's
    saturation (a busy machine, a generator out of CPU) or its failed requests."""
    for cell in run.cells.itertuples(index=False):
        saturation = read_summary(FIXTURE_RUN / "cells" / cell.cell / SUMMARY_FILE).saturation
        latency = LatencyRecord.read(FIXTURE_RUN / "cells" / cell.cell / LATENCY_FILE)
        error_ratio = latency.errors / latency.requests
        if saturation.verdict == "generator-bound":
            assert cell.flag == "generator-bound", cell
        elif saturation.machine_busy:
            assert cell.flag == "busy machine", cell
            assert f"other processes used {saturation.other_cpu_cores:.2f} cores" in cell.reason
        elif error_ratio > results_frames.MAX_ERROR_RATIO:
            assert cell.flag == "errors", cell
        else:
            assert pd.isna(cell.flag) and cell.usable, cell


def test_metrics_equal_what_the_run_recorded(run: results_frames.Run) -> None:
    """Throughput, HDR percentiles and origin reads agree with each cell's summary.json."""
    wide = results_frames.wide_metrics(run.metrics).set_index("cell")
    for cell in run.cells["cell"]:
        headline = read_summary(FIXTURE_RUN / "cells" / cell / SUMMARY_FILE).headline
        row = wide.loc[cell]
        recorded = {
            "throughput_per_s": headline.achieved_rate_per_s,
            "intended_rate_per_s": headline.intended_rate_per_s,
            "p50_ms": headline.p50_ms,
            "p90_ms": headline.p90_ms,
            "p99_ms": headline.p99_ms,
            "p999_ms": headline.p999_ms,
            "max_ms": headline.max_ms,
            "origin_reads_per_s": headline.origin_reads_per_s,
            "requests": headline.requests,
        }
        for metric, value in recorded.items():
            if value is None:  # a closed loop has no intended rate
                assert pd.isna(row.get(metric)), (cell, metric)
            else:
                assert row[metric] == pytest.approx(value), (cell, metric)


def test_fixed_rate_latency_uses_the_corrected_histogram(run: results_frames.Run) -> None:
    cell = run.cells[run.cells["mode_kind"] == "fixed_rate"]["cell"].iloc[0]
    latency = LatencyRecord.read(FIXTURE_RUN / "cells" / cell / LATENCY_FILE)
    corrected = [
        HdrHistogram.decode(v) for k, v in latency.histograms.items() if k.endswith("|all|corrected")
    ]
    merged = corrected[0]
    for histogram in corrected[1:]:
        merged.add(histogram)
    p99 = results_frames.wide_metrics(run.metrics).set_index("cell").loc[cell, "p99_ms"]
    assert p99 == merged.get_value_at_percentile(99) / 1000


def test_vectorised_percentiles_equal_hdrh() -> None:
    histogram = HdrHistogram(1, 60_000_000, 3)
    rng = np.random.default_rng(1)
    for value in rng.lognormal(8, 1.5, 5000).astype(int) + 1:
        histogram.record_value(int(value))
    percentiles = [0, 1, 25, 50, 90, 99, 99.9, 99.99, 100]
    expected = [histogram.get_value_at_percentile(p) for p in percentiles]
    assert hdr.percentiles_us(histogram, percentiles).tolist() == expected


def test_spectrum_rises_with_the_percentile_and_counts_every_request(run: results_frames.Run) -> None:
    spectrum = latency_spectrum(run)
    for _, line in spectrum.groupby(["scenario", "mode", "target", "outcome"]):
        values = line.sort_values("percentile")["latency_ms"].to_numpy()
        assert (np.diff(values) >= 0).all()
    everything = spectrum[(spectrum["outcome"] == "all") & (spectrum["percentile"] == 100)]
    assert len(everything) == len(run.cells.groupby(results_frames.CELL_KEY))
    for row in everything.itertuples():
        cells = run.cells[
            (run.cells["target"] == row.target)
            & (run.cells["scenario"] == row.scenario)
            & (run.cells["mode"] == row.mode)
        ]
        # A strategy's usable repetitions are merged; only when it has none, its flagged ones.
        merged = cells[cells["usable"]] if cells["usable"].any() else cells
        assert row.count == sum(run.latency(c).requests for c in merged["cell"])
        assert row.repetitions == len(merged)
        assert pd.isna(row.left_out) == (len(merged) == len(cells))


def test_timeseries_puts_t0_at_the_first_second_of_the_rate_window(run: results_frames.Run) -> None:
    series = run.timeseries
    assert set(series["cell"]) == set(run.cells["cell"])
    for cell, rows in series.groupby("cell"):
        inside = rows[rows["in_window"]]
        assert inside["t_s"].min() == 0, cell
        window = run.latency(cell).window
        assert len(inside.dropna(subset=["completed_per_s"])) == window.seconds
    assert series["target_rss_bytes"].notna().any()


def test_browser_counts_only_caching_targets_answer_locally(run: results_frames.Run) -> None:
    browser = run.browser
    assert set(browser["scenario"]) == {"browser_clients"}
    by_target = browser.groupby("target")["browser_local_share"].mean()
    assert by_target["client-headers"] > 0  # Cache-Control: max-age lets the browsers answer
    assert by_target["nocache"] == 0  # no caching headers: every read goes to the server


def test_a_schema_mismatch_is_refused_with_a_clear_message(run_copy: Path) -> None:
    edit_json(run_copy / MANIFEST_FILE, lambda m: m.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(
        ValueError, match=rf"schema_version {SCHEMA_VERSION + 1}; this cachebench reads {SCHEMA_VERSION}$"
    ):
        results_frames.load_run(run_copy)


@pytest.mark.parametrize("name", [LATENCY_FILE, SUMMARY_FILE])
def test_a_cell_file_of_another_schema_is_refused(run_copy: Path, name: str) -> None:
    cell = next((run_copy / "cells").iterdir())
    edit_json(cell / name, lambda d: d.update(schema_version=99))
    refused = rf"{name} has schema_version 99; this cachebench reads {SCHEMA_VERSION}"
    with pytest.raises(ValueError, match=refused):
        results_frames.load_run(run_copy).cells  # noqa: B018 - reading the cells reads the cell files


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a cachebench run"):
        results_frames.load_run(tmp_path)
    with pytest.raises(ValueError, match="no such directory"):
        results_frames.load_run(tmp_path / "missing")
    with pytest.raises(ValueError, match="no results folder"):
        results_frames.newest_run(tmp_path)


def test_failed_and_generator_bound_cells_are_flagged_and_left_out(run_copy: Path) -> None:
    failed = "002-l1-read_heavy-default-capacity-r1"
    bound = "014-l1-read_heavy-default-capacity-r2"

    def fail(manifest: Manifest) -> None:
        for cell in manifest.cells:
            if cell.name == failed:
                cell.status, cell.reason = "failed", "CellFailed: verification failed"

    edit_manifest(run_copy, fail)
    edit_summary(run_copy, bound, _generator_bound)
    altered = results_frames.load_run(run_copy)
    flags = altered.cells.set_index("cell")["flag"]
    assert flags[failed] == "failed"
    assert flags[bound] == "generator-bound"
    table = tables.headline(altered.metrics, altered.cells)
    l1 = table[
        (table["target"] == "l1") & (table["scenario"] == "read_heavy") & (table["mode"] == "capacity")
    ]
    assert (l1["n_usable"] == 0).all() and l1["flagged_only"].all()
    assert l1["significant"].isna().all()  # shown, never judged
    assert "generator-bound" in l1["flags"].iloc[0] and "failed" in l1["flags"].iloc[0]


def test_a_cell_with_failed_requests_is_flagged() -> None:
    assert results_frames.cell_flag("complete", None, "neither", 0.05) == "errors"
    assert results_frames.cell_flag("complete", None, "neither", 0.0) is None
    assert results_frames.cell_flag("incomplete", "interrupted", "neither", 0.0) == "incomplete"
    assert results_frames.cell_flag("not_run", None, None, None) == "not run"


# -- confidence intervals --------------------------------------------------------------------


def test_identical_inputs_are_not_significant() -> None:
    ci = stats.bootstrap_ratio([812.0, 790.0, 805.0], [812.0, 790.0, 805.0])
    assert ci.ratio == 1.0
    assert ci.low <= 1.0 <= ci.high
    assert ci.significant is False
    assert ci.verdict() == "not significant"
    constant = stats.bootstrap_ratio([100.0, 100.0], [100.0, 100.0])
    assert (constant.low, constant.high, constant.significant) == (1.0, 1.0, False)


def test_clearly_different_inputs_are_significant() -> None:
    ci = stats.bootstrap_ratio([1600.0, 1650.0, 1620.0], [800.0, 810.0, 790.0])
    assert ci.ratio == pytest.approx(2.0, rel=0.02)
    assert 1.0 < ci.low <= ci.ratio <= ci.high
    assert ci.significant is True and ci.verdict() == "significant"
    lower = stats.bootstrap_ratio([10.0, 11.0, 10.5], [20.0, 21.0, 20.5])
    assert lower.high < 1.0 and lower.significant is True


def test_overlapping_noisy_inputs_are_not_significant() -> None:
    ci = stats.bootstrap_ratio([700.0, 1100.0, 900.0], [800.0, 1000.0, 850.0])
    assert ci.low < 1.0 < ci.high and ci.significant is False


def test_one_repetition_gives_no_confidence() -> None:
    ci = stats.bootstrap_ratio([1600.0], [800.0])
    assert ci.ratio == 2.0 and not ci.has_interval and ci.significant is None
    assert ci.verdict() == "no confidence can be given (1 repetition)"
    assert stats.bootstrap_ratio([1.0, 2.0], [3.0]).significant is None
    assert stats.bootstrap_ratio([1.0], [0.0]).ratio is None


def test_the_interval_is_reproducible() -> None:
    a = stats.bootstrap_ratio([3.0, 4.0, 5.0], [2.0, 2.5, 3.0])
    b = stats.bootstrap_ratio([3.0, 4.0, 5.0], [2.0, 2.5, 3.0])
    assert (a.low, a.high) == (b.low, b.high)


# -- figures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(run: results_frames.Run) -> dict:
    return {
        "spectrum": latency_spectrum(run),
        "wide": results_frames.wide_metrics(run.metrics),
        "cells": run.cells,
        "series": run.timeseries,
        "browser": run.browser,
    }


FIGURES = {
    "latency_spectrum": lambda f, g: figures.latency_spectrum(f["spectrum"], *g),
    "latency_by_outcome": lambda f, g: figures.latency_by_outcome(f["spectrum"], *g),
    "throughput": lambda f, g: figures.throughput(f["wide"], f["cells"], *g),
    "cache_effect": lambda f, g: figures.cache_effect(f["wide"], *g),
    "memory": lambda f, g: figures.memory(f["wide"], f["series"], *g),
    "timeseries": lambda f, g: figures.timeseries(f["series"], *g),
    "browser": lambda f, g: figures.browser(f["browser"], *g),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_renders_with_labelled_axes(frames: dict, name: str) -> None:
    group = ("browser_clients", "default", "rate100")
    figure = FIGURES[name](frames, group)
    assert "browser_clients" in figure._suptitle.get_text()
    drawn = [ax for ax in figure.axes if ax.get_visible() and (ax.lines or ax.patches)]
    assert drawn, "the figure has no data on it"
    # Panels sharing a y axis label only the first of their row.
    labelled = [ax for ax in drawn if ax.get_ylabel() or ax.get_shared_y_axes().get_siblings(ax) != [ax]]
    assert labelled == drawn, f"{name}: an axis without a y label"
    png = rendering.to_png(figure)
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_says_when_there_is_nothing_to_show(frames: dict, name: str) -> None:
    figure = FIGURES[name](frames, ("no_such_scenario", "default", "capacity"))
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any(text.startswith("no ") for text in texts)
    assert rendering.to_png(figure).startswith(PNG_SIGNATURE)


def test_latency_spectrum_is_log_scaled_and_names_every_strategy(frames: dict) -> None:
    figure = figures.latency_spectrum(frames["spectrum"], "read_heavy", "default", "capacity")
    ax = figure.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [name.split(" ")[0] for name in legend] == ["nocache", "l1", "client-headers"]
    assert "p99" in [t.get_text() for t in ax.get_xticklabels()]


def test_a_generator_bound_strategy_faster_than_the_winner_makes_the_answer_say_so(quiet_copy: Path) -> None:
    """Its throughput is a lower bound: crowning the fastest valid strategy would be wrong."""
    before = results_frames.load_run(quiet_copy)
    table = tables.headline(before.metrics, before.cells)
    group = table[(table["scenario"] == "read_heavy") & (table["mode"] == "capacity")]
    throughput = group[group["metric"] == "throughput_per_s"].set_index("target")["mean"]
    fastest = throughput.drop("nocache").idxmax()
    assert "not known" not in tables.answer(group, "capacity")
    for cell in before.cells[(before.cells["target"] == fastest) & (before.cells["mode"] == "capacity")][
        "cell"
    ]:
        edit_summary(quiet_copy, cell, _generator_bound)
    after = results_frames.load_run(quiet_copy)
    table = tables.headline(after.metrics, after.cells)
    group = table[(table["scenario"] == "read_heavy") & (table["mode"] == "capacity")]
    text = tables.answer(group, "capacity")
    assert "The fastest strategy is not known from this run" in text
    assert f"**{fastest}** reached {throughput[fastest]:,.0f} req/s" in text


def test_a_cell_measured_on_a_busy_machine_is_flagged_and_left_out(quiet_copy: Path) -> None:
    busy = "014-l1-read_heavy-default-capacity-r2"

    def busy_machine(summary: CellSummary) -> None:
        summary.saturation.machine_busy = True
        summary.saturation.other_cpu_cores, summary.saturation.idle_cpu_cores = 0.62, 0.1

    edit_summary(quiet_copy, busy, busy_machine)
    altered = results_frames.load_run(quiet_copy)
    cells = altered.cells.set_index("cell")
    assert cells.loc[busy, "flag"] == "busy machine"
    assert (
        cells.loc[busy, "reason"]
        == "other processes used 0.62 cores while it was measured, 0.10 cores left idle"
    )
    assert not cells.loc[busy, "usable"]
    table = tables.headline(altered.metrics, altered.cells)
    l1 = table[
        (table["target"] == "l1") & (table["mode"] == "capacity") & (table["metric"] == "throughput_per_s")
    ]
    assert l1["n_usable"].iloc[0] == l1["n_cells"].iloc[0] - 1
