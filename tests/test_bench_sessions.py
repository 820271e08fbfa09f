"""Bench files that share warmed processes per target, search capacity at an SLO, and pick targets
per scenario: how they expand into cells, and the errors bad ones get."""

from __future__ import annotations

import pytest

from cachebench.results import SearchSpec
from cachebench.run.matrix import BenchFileError, expand, load_matrix
from cachebench.run.session import sessions

SLO_MODES = [
    {"kind": "slo", "offered_rate_per_s": 100, "step_s": 2},
    {"kind": "fixed_rate", "offered_rate_per_s": 100},
]


def test_shared_processes_run_each_targets_repetitions_together_and_search_once_last():
    matrix = load_matrix(
        None,
        {
            "targets": ["nocache", "l1", "client-headers"],
            "scenarios": ["read_heavy", "browser_clients"],
            "scenario_targets": {"browser_clients": ["nocache", "client-headers"]},
            "repeat": 3,
            "reuse_processes": True,
            "modes": SLO_MODES,
            "slo_p99_ms": 40,
        },
    )
    cells = expand(matrix)
    groups = [[(c.mode, c.repetition) for c in group] for group in sessions(cells)]
    assert [group[0].session for group in sessions(cells)] == [
        "read_heavy-default-nocache", "read_heavy-default-l1", "read_heavy-default-client-headers",
        "browser_clients-default-nocache", "browser_clients-default-client-headers",
    ]  # fmt: skip
    assert all(g == [("rate100", 1), ("rate100", 2), ("rate100", 3), ("slo", 1)] for g in groups)
    search = [c.search for c in cells if c.mode == "slo"]
    assert search[0] == SearchSpec(
        slo_p99_ms=40.0, max_rate_per_s=20_000.0, step_s=2.0, lead_in_s=3.0, max_steps=10
    )
    assert len({c.name for c in cells}) == len(cells) == 20


def test_without_sharing_every_cell_is_a_session_of_its_own():
    matrix = load_matrix(None, {"targets": ["nocache", "l1"], "repeat": 2, "modes": SLO_MODES})
    cells = expand(matrix)
    assert [len(group) for group in sessions(cells)] == [1] * len(cells)
    assert [c.repetition for c in cells] == [1, 1, 1, 1, 2, 2, 2, 2]  # repetitions stay outermost


def test_zero_generator_processes_means_one_per_generator_cpu():
    cells = expand(load_matrix(None, {"targets": ["nocache"], "locust_processes": 0}))
    assert cells[0].locust_processes >= 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"modes": [{"kind": "slo"}]}, "rate_per_s .*first step"),
        ({"modes": [{"kind": "slo", "offered_rate_per_s": 500, "max_rate_per_s": 100}]}, "max_rate_per_s"),
        ({"slo_p99_ms": 0}, "slo_p99_ms"),
        (
            {"scenario_targets": {"read_only": ["nocache"]}},
            "'read_only' is not one of the matrix's scenarios",
        ),
        (
            {"targets": ["nocache"], "scenario_targets": {"read_heavy": ["l1"]}},
            "scenario_targets.read_heavy: 'l1' is not one of the matrix's targets",
        ),
    ],
)
def test_bad_search_and_scenario_targets_are_named(overrides, message):
    with pytest.raises(BenchFileError, match=message):
        load_matrix(None, overrides)


def test_command_line_targets_and_scenarios_narrow_the_files_per_scenario_targets(tmp_path):
    bench = tmp_path / "bench.toml"
    bench.write_text(
        'targets = ["nocache", "l1", "redis", "client-headers"]\n'
        'scenarios = ["read_heavy", "browser_clients"]\n'
        "[scenario_targets]\n"
        'read_heavy = ["nocache", "l1", "redis"]\n'
        'browser_clients = ["nocache", "client-headers"]\n'
    )
    only_redis = load_matrix(bench, {"targets": ["redis"]})
    # The strategy asked for runs where the file had it, and where the file had none of those asked.
    assert only_redis.targets_for("read_heavy") == ["redis"]
    assert only_redis.targets_for("browser_clients") == ["redis"]
    one_scenario = load_matrix(bench, {"scenarios": ["read_heavy"]})
    assert [c.target for c in expand(one_scenario)] == ["nocache", "l1", "redis"]
    both = load_matrix(bench, {"targets": ["l1", "client-headers"], "scenarios": ["browser_clients"]})
    assert both.targets_for("browser_clients") == ["client-headers"]


def test_a_fixed_rate_lead_in_goes_to_its_cells_and_a_search_keeps_its_own():
    modes = [
        {"kind": "fixed_rate", "offered_rate_per_s": 100, "lead_in_s": 0.5},
        {"kind": "fixed_rate", "offered_rate_per_s": 150},
        {"kind": "slo", "offered_rate_per_s": 100},
    ]
    cells = expand(load_matrix(None, {"targets": ["nocache"], "modes": modes}))
    assert [(c.mode, c.lead_in_s) for c in cells] == [("rate100", 0.5), ("rate150", 0.0), ("slo", 0.0)]
    assert cells[2].search.lead_in_s == 3.0  # a search step's lead-in, unless the mode sets one
