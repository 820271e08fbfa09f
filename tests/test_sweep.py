"""Sweeps: constraints as users type them, the Pareto front, the recommendation (and what binds when
nothing fits), the grid as a matrix, and a simulated sweep's results folder and report."""

from __future__ import annotations

import argparse
import csv
import re

import pytest

from analysis.sweep_report import pareto
from analysis.sweep_report.constraints import parse_bytes, parse_constraints, parse_duration_s, parse_ratio
from cachebench.cli.sweep_command import add_parsers, cmd_sweep
from cachebench.results import read_manifest
from cachebench.results.schema import check_folder
from cachebench.results.sweep_record import SweepResults
from cachebench.settings import load_settings
from cachebench.tuning import sweep_run, sweep_spec

# -- parsing ---------------------------------------------------------------------------------------


DURATIONS = [
    ("5s", 5.0),
    ("500ms", 0.5),
    ("2m", 120.0),
    ("1.5h", 5400.0),
    ("3", 3.0),
    (7, 7.0),
    (" 25ms ", 0.025),
]
SIZES = [
    ("256MB", 256_000_000),
    ("256MiB", 256 * 2**20),
    ("256M", 256 * 2**20),
    ("1.5GB", 1_500_000_000),
    ("512kb", 512_000),
    ("1000", 1000),
]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_durations(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "size"), SIZES)
def test_sizes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize(("text", "ratio"), [("0.9", 0.9), (0.9, 0.9), ("90%", 0.9), ("1", 1.0)])
def test_ratios(text, ratio):
    assert parse_ratio(text) == pytest.approx(ratio)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"max_staleness": "5 parsecs"}, "--max-staleness: '5 parsecs' is not a duration"),
        ({"max_memory": "lots"}, "--max-memory: 'lots' is not a size"),
        ({"min_hit_ratio": "1.5"}, "--min-hit-ratio: '1.5' is not between 0 and 1"),
        ({"max_latency": "5ms"}, "unknown constraint 'max_latency'"),
    ],
)
def test_bad_constraints_name_the_option(given, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_constraints(given)


def test_staleness_bound_follows_the_chosen_statistic():
    (max_age,) = parse_constraints({"max_staleness": "5s"})
    (p99_age,) = parse_constraints({"max_staleness": "5s"}, staleness_stat="p99")
    assert (max_age.metric, p99_age.metric) == ("staleness_age_max_s", "staleness_age_p99_s")
    assert max_age.holds({"staleness_age_max_s": 5.0}) and not max_age.holds({"staleness_age_max_s": 5.01})
    assert not max_age.holds({}), "an unmeasured figure does not meet a bound"


# -- front and recommendation ----------------------------------------------------------------------


def _point(name: str, hit: float, memory_mb: float, stale: float, age_s: float, **extra) -> dict:
    return {"id": name, "hit_ratio": hit, "memory_bytes": memory_mb * 1e6, "stale_read_ratio": stale,
            "staleness_age_max_s": age_s, **extra}  # fmt: skip


POINTS = [
    _point("small-short", 0.50, 100, 0.01, 1.0),
    _point("small-long", 0.70, 100, 0.05, 30.0),
    _point("big-short", 0.60, 200, 0.01, 1.0),
    _point("big-long", 0.90, 200, 0.06, 30.0),
    _point("dominated", 0.55, 200, 0.02, 2.0),  # big-short beats it everywhere
    _point("mid", 0.80, 150, 0.03, 5.0),
    _point("twin-of-mid", 0.80, 150, 0.03, 5.0, l1_max_entries=10),
]


def test_the_pareto_front_leaves_out_exactly_the_dominated_points():
    front = {POINTS[i]["id"] for i in pareto.pareto_front(POINTS)}
    assert front == {"small-short", "small-long", "big-short", "big-long", "mid", "twin-of-mid"}
    assert pareto.pareto_front([*POINTS, {"id": "unmeasured", "hit_ratio": None}]) == pareto.pareto_front(
        POINTS
    )


def test_the_recommendation_is_the_feasible_front_best_first():
    constraints = parse_constraints({"max_staleness": "5s", "max_memory": "180MB", "min_hit_ratio": 0.5})
    found = pareto.recommend(POINTS, constraints)

    ranked = [POINTS[i]["id"] for i in found.ranked]
    # Identical figures are one outcome: listed once, the smaller bound first (twin-of-mid has
    # l1_max_entries=10), the other named as its equivalent.
    assert ranked == ["twin-of-mid", "small-short"]
    assert found.equivalents == {6: [5]}
    assert found.found
    verdict = found.verdict(POINTS)
    assert verdict.startswith("Run twin-of-mid: the best of the Pareto front that meets --max-staleness 5s")
    assert "(1 other configuration gave the same figures; 1 more on the feasible front)" in verdict


def test_when_nothing_fits_the_binding_constraint_is_named_with_the_best_reachable_value():
    constraints = parse_constraints({"max_staleness": "5s", "min_hit_ratio": "0.95"})
    found = pareto.recommend(POINTS, constraints)

    assert not found.found and found.ranked == []
    assert [b.dropped for b in found.binding] == [["min_hit_ratio"]]
    verdict = found.verdict(POINTS)
    assert verdict.startswith("No configuration meets --max-staleness 5s and --min-hit-ratio 0.95.")
    assert "--min-hit-ratio 0.95 binds: the best hit ratio among points that meet the other constraints is" \
           " 0.800 (mid)" in verdict  # fmt: skip


def test_two_constraints_that_conflict_are_both_named():
    # Each alone can be met, not both together: either one binds.
    constraints = parse_constraints({"max_staleness": "2s", "min_hit_ratio": "0.85"})
    found = pareto.recommend(POINTS, constraints)

    assert sorted(b.dropped for b in found.binding) == [["max_staleness"], ["min_hit_ratio"]]
    assert "staleness age among points that meet the other constraints is 30.0 s (big-long)" in found.verdict(
        POINTS
    )


# -- the sweep file and the grid -------------------------------------------------------------------


def _sweep_file(tmp_path, text: str):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


SMALL = """
label = "t"
target = "l1"
scenario = "read_heavy"
users = 8
rate_per_s = 200
warmup_s = 1
duration_s = 3
workers = 2
steady_state_requests = 5000
steady_state_ttls = 3
[settings]
origin_latency_ms = 5
[grid]
l1_ttl_s = [1, 10]
l1_max_entries = [100, 1000]
[simulate]
l1_ttl_s = [0.5, 1, 10]
l1_max_entries = [100, 1000]
invalidation = ["ttl", "delete"]
[constraints]
max_staleness = "5s"
min_hit_ratio = 0.2
"""


def test_the_live_grid_becomes_a_matrix_with_one_variant_per_point(tmp_path):
    spec = sweep_run.load_sweep(_sweep_file(tmp_path, SMALL))
    points = sweep_run.make_points(
        spec, sweep_run.grid_points(spec.grid), [*spec.grid, *spec.simulate], "live"
    )
    matrix = sweep_run.sweep_matrix(spec, points)

    assert list(matrix.settings) == ["l1ttl1-l1n100-delete", "l1ttl1-l1n1000-delete", "l1ttl10-l1n100-delete",
                                     "l1ttl10-l1n1000-delete"]  # fmt: skip
    assert matrix.settings["l1ttl10-l1n100-delete"] == {
        "origin_latency_ms": 5,
        "l1_ttl_s": 10,
        "l1_max_entries": 100,
        "invalidation": "delete",
    }
    assert matrix.targets == ["l1"] and matrix.scenarios == ["read_heavy"] and matrix.workers == 2
    assert (matrix.modes[0].kind, matrix.modes[0].offered_rate_per_s) == ("fixed_rate", 200)
    # Each point carries its settings, resolved once when it was made.
    assert (points[0].settings.l1_ttl_s, points[0].settings.origin_latency_ms) == (1.0, 5.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nl1_ttls = [1]\n", "unknown setting 'l1_ttls' as a sweep axis"),
        ("[grid]\nl1_ttl_s = []\n", "needs a non-empty list"),
        ("scenario = 'nope'\n", "unknown scenario 'nope'"),
        ("[constraints]\nmax_memory = 'lots'\n", "--max-memory: 'lots' is not a size"),
        ("engine = 'quantum'\n", "engine must be one of fast, layered"),
    ],
)
def test_bad_sweep_files_fail_with_the_reason(tmp_path, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sweep_run.load_sweep(_sweep_file(tmp_path, text))


def test_a_missing_sweep_file_is_one_clear_error(tmp_path):
    with pytest.raises(sweep_run.SweepError, match="does not exist"):
        sweep_run.load_sweep(tmp_path / "none.toml")


def test_scenario_workloads_come_from_the_scenarios_own_defaults():
    assert sweep_run.scenario_workload("read_heavy", {}, 42).write_ratio == 0.05
    assert sweep_run.scenario_workload("write_heavy", {"keys": 500}, 42).keys == 500
    stampede = sweep_run.scenario_workload("stampede", {"zipf-alpha": 1.2}, 7)
    assert (stampede.keys, stampede.distribution, stampede.zipf_alpha, stampede.seed) == (
        5,
        "uniform",
        1.2,
        7,
    )
    with pytest.raises(sweep_run.SweepError, match="cannot be simulated"):
        sweep_run.scenario_workload("per_user", {}, 42)


# -- a simulated sweep end to end ------------------------------------------------------------------


def test_a_simulated_sweep_writes_its_report_into_a_results_folder(tmp_path):
    spec = sweep_run.load_sweep(_sweep_file(tmp_path, SMALL))
    run_dir = sweep_run.run_sweep(spec, simulate_only=True, results_root=tmp_path / "results")

    assert read_manifest(run_dir).status == "complete"
    results = SweepResults.read(run_dir / "sweep.json")
    points, recommendation = results.points, results.recommendation
    # Simulated only: the live grid's points too, no duplicates (live ones are 'delete' points).
    assert len(points) == 12 and {p.source for p in points} == {"simulated"}
    assert len({p.id for p in points}) == 12
    assert {p.horizon for p in points} == {"steady"}
    assert recommendation.recommended, recommendation.verdict
    # At steady state: ≥ 3 × the largest TTL (10 s) and ≥ the requests asked for, and it says so.
    horizon = results.simulator.steady_state
    assert horizon.horizon.duration_s >= 30 and horizon.measured_requests >= 5_000
    assert "steady state" in recommendation.verdict
    # The memory axis is what the caches hold: entries × measured bytes per entry, not RSS.
    per_entry = results.simulator.entry_bytes
    assert per_entry.value_bytes < per_entry.l1_entry_bytes < 3 * per_entry.value_bytes
    for point in points:
        assert point.memory_bytes == pytest.approx(point.l1_entries_peak * per_entry.l1_entry_bytes)
        assert point.l1_entries_peak <= 2 * point.settings.l1_max_entries
        # Settings travel resolved: the sweep file's fixed ones, then the point's axes.
        assert point.settings.origin_latency_ms == 5 and point.settings.l1_ttl_s == point.axes["l1_ttl_s"]
    best = next(p for p in points if p.id == recommendation.recommended[0])
    assert best.staleness_age_max_s <= 5 and best.hit_ratio >= 0.2 and best.on_front and best.recommended
    assert results.simulator.simulated_points == 12 and results.simulator.simulated_requests_per_cpu_s > 0
    with (run_dir / "sweep.csv").open() as rows:
        table = list(csv.DictReader(rows))
    assert len(table) == 12 and {"l1_ttl_s", "l1_hit_ratio", "hit_ratio", "on_front"} <= set(table[0])
    page = (run_dir / "sweep_report.html").read_text()
    assert "Recommendation" in page and recommendation.verdict.split(":")[0] in page
    assert page.count("data:image/png;base64,") >= 5  # 4 heatmaps and the front
    assert not re.search(r"""(src|href)=["']https?:""", page), "the report must be self-contained"
    for name in ("hit_ratio", "stale_read_ratio", "memory_bytes", "staleness_age_max_s"):
        assert (run_dir / "heatmaps" / f"simulated-{name}.png").stat().st_size > 1000
    summary = (run_dir / "sweep_summary.md").read_text()
    assert "## Recommendation" in summary and "## Pareto front" in summary
    assert check_folder(run_dir) == (["manifest.json", "sweep.json"], [])


def test_settings_are_resolved_once_per_point_and_travel_resolved(tmp_path, monkeypatch):
    resolved = []

    def counting(**values):
        resolved.append(values)
        return load_settings(**values)

    monkeypatch.setattr(sweep_spec, "load_settings", counting)
    spec = sweep_run.load_sweep(_sweep_file(tmp_path, SMALL))
    sweep_run.run_sweep(spec, simulate_only=True, results_root=tmp_path / "results")

    # 12 points (the live grid's 4 among them), and the fixed settings once per grid and for the
    # bytes per entry: never again per point, in an engine or in the report.
    assert len(resolved) == 12 + 3, resolved


def test_the_one_pass_is_checked_only_where_it_made_the_recommended_point(tmp_path):
    # TTL jitter has no one-pass model: every point comes from the fast engine, nothing to check.
    jittered = SMALL.replace("origin_latency_ms = 5", "origin_latency_ms = 5\nttl_jitter = 0.1")
    spec = sweep_run.load_sweep(_sweep_file(tmp_path, jittered))
    run_dir = sweep_run.run_sweep(spec, simulate_only=True, results_root=tmp_path / "results")

    steady = SweepResults.read(run_dir / "sweep.json").simulator.steady_state
    assert (steady.one_pass_points, steady.engine_points, steady.check) == (0, 12, None)


def test_recommending_again_under_other_constraints_needs_no_new_run(tmp_path):
    spec = sweep_run.load_sweep(_sweep_file(tmp_path, SMALL))
    run_dir = sweep_run.run_sweep(spec, simulate_only=True, results_root=tmp_path / "results")
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    args = parser.parse_args(["sweep", "--from", str(run_dir), "--min-hit-ratio", "0.99"])

    assert cmd_sweep(args) == 0
    recommendation = SweepResults.read(run_dir / "sweep.json").recommendation
    assert recommendation.recommended == []
    assert recommendation.verdict.startswith("No configuration meets")
    assert "--min-hit-ratio 0.99 binds" in recommendation.verdict
    assert "No configuration meets" in (run_dir / "sweep_report.html").read_text()


def test_cli_errors_are_value_errors_with_the_reason(tmp_path):
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    path = _sweep_file(tmp_path, SMALL)
    with pytest.raises(ValueError, match="--max-memory: 'much' is not a size"):
        cmd_sweep(parser.parse_args(["sweep", "--bench", str(path), "--simulate", "--max-memory", "much"]))
    with pytest.raises(ValueError, match="fixed rate"):
        cmd_sweep(parser.parse_args(["sweep", "--bench", str(path), "--simulate", "--rate", "0"]))
    with pytest.raises(ValueError, match="not a sweep results folder"):
        cmd_sweep(parser.parse_args(["sweep", "--from", str(tmp_path)]))
