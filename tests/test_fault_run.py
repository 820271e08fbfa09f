"""One short real fault cell: redis paused 3 s inside a 10 s measured phase, its timeline and goals."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.run_report import run_page
from cachebench.results import FAULTS_FILE, SUMMARY_FILE, FaultsFile, read_manifest, read_summary
from cachebench.results.schema import check_folder
from cachebench.run.driver import run_bench
from cachebench.run.matrix import load_matrix

pytestmark = pytest.mark.timeout(120)

COOLDOWN_S = 1.0
TIMEOUT_S = 0.1


def test_a_paused_redis_cell_writes_its_fault_timeline_and_meets_its_goals(tmp_path):
    matrix = load_matrix(
        None,
        {
            "label": "fault-test",
            "targets": ["redis"],
            "duration_s": 8,  # 2 s before the pause, 3 s of it, 3 s after (recovery: ≤ 2 s)
            "warmup_s": 2,
            "steady_state": False,
            "settings": {
                "fault": {
                    "origin_latency_ms": 2,
                    "origin_items": 500,
                    "redis_timeout_s": TIMEOUT_S,
                    "redis_cooldown_s": COOLDOWN_S,
                }
            },
            "modes": [{"kind": "fixed_rate", "users": 8, "offered_rate_per_s": 60}],
            "scenario_options": {"keys": 200},
            "faults": [{"kind": "pause", "at_s": 2, "duration_s": 3}],
        },
    )
    run_dir = run_bench(matrix, results_root=tmp_path)
    (cell,) = read_manifest(run_dir).cells
    assert cell.status == "complete", cell.reason
    cell_dir = run_dir / "cells" / cell.name
    faults = FaultsFile.read(cell_dir / FAULTS_FILE)
    assert check_folder(run_dir)[1] == []  # faults.json among every file, each as its model says

    assert [e.action for e in faults.events] == ["pause", "resume"]
    assert all(e.applied for e in faults.events)
    window = faults.windows[0]
    assert 2.5 <= window.to_unix_s - window.from_unix_s <= 3.5
    phases = {p.phase: p for p in faults.phases}
    assert list(phases) == ["before", "during", "after"]
    assert all(phases[name].requests > 0 for name in phases)
    # Calls met the paused Redis and failed; whether a request waited for them depends on who met
    # it first: a request, or the background retry of a delete a write left pending (which then
    # opens the breaker, and no request waits). Either way no request waits for more than its
    # read and its store timing out once each before the breaker opens (the origin takes 2 ms).
    assert phases["during"].p99_ms <= 2 * TIMEOUT_S * 1000 + 50
    assert phases["during"].redis_errors > 0 and phases["before"].redis_errors == 0
    assert sum(p.server_5xx for p in phases.values()) == 0

    goals = {g.goal: g for g in faults.goals}
    assert goals["no_5xx"].met is True, goals["no_5xx"]
    assert goals["redis_hits_resume"].met is True, goals["redis_hits_resume"]
    assert 0 <= window.first_redis_hit_s <= COOLDOWN_S + 1
    assert goals["one_timeout_per_cooldown"].met is not False, goals["one_timeout_per_cooldown"]

    samples = pd.read_csv(cell_dir / "samples.csv")
    assert samples["redis_circuit_open_workers"].max() == 1  # the sampler saw the breaker open
    assert samples["redis_errors_per_s"].sum() > 0
    assert samples["server_5xx_per_s"].sum() == 0
    summary = read_summary(cell_dir / SUMMARY_FILE)
    assert any(line.startswith("met: 0 5xx") for line in summary.headline.fault_goals)

    html_path, md_path = run_page.write(run_dir)
    markdown = md_path.read_text()
    assert "## Faults" in markdown and "met: 0 5xx through every fault" in markdown
    assert "| 1 pause | during |" in markdown
    assert 'id="faults"' in html_path.read_text()
    assert (run_dir / "figures" / f"faults-{cell.name}.png").stat().st_size > 10_000
