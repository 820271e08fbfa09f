"""A real capacity search: nocache over a small origin pool is origin-bound near pool ÷ latency,
and the report leads with that answer."""

from __future__ import annotations

from analysis.run_report import run_page
from cachebench.results import (
    LATENCY_FILE,
    STEPS_DIR,
    SUMMARY_FILE,
    LatencyRecord,
    cell_dir,
    read_manifest,
    read_summary,
)
from cachebench.run.driver import run_bench
from cachebench.run.matrix import load_matrix

POOL, LATENCY_MS = 4, 10.0
ORIGIN_CAPACITY = POOL / (LATENCY_MS / 1000)  # 400 operations/s


def test_nocache_capacity_is_origin_bound_near_pool_over_latency(tmp_path):
    matrix = load_matrix(
        None,
        {
            "label": "capacity",
            "targets": ["nocache"],
            "warmup_s": 1,
            "duration_s": 3,
            "reuse_processes": True,
            "slo_p99_ms": 60,
            "settings": {
                "small-pool": {
                    "origin_concurrency": POOL,
                    "origin_latency_ms": LATENCY_MS,
                    "origin_jitter_ms": 0,
                },
            },  # fmt: skip
            "modes": [
                {"kind": "fixed_rate", "offered_rate_per_s": 160},
                {"kind": "slo", "offered_rate_per_s": 160, "step_s": 2, "lead_in_s": 1, "max_steps": 4},
            ],
        },
    )
    run_dir = run_bench(matrix, results_root=tmp_path)
    manifest = read_manifest(run_dir)
    assert [c.status for c in manifest.cells] == ["complete", "complete"], [c.reason for c in manifest.cells]
    fixed, searched = manifest.cells
    steps_dir = cell_dir(run_dir, searched.name) / STEPS_DIR
    summary = read_summary(cell_dir(run_dir, searched.name) / SUMMARY_FILE)
    headline = summary.headline
    # Beyond the origin's pool no rate can be served: the queue grows without end. Below it the
    # search must get within its bisection precision plus the queueing an SLO allows.
    assert headline.capacity_at_slo_per_s <= 1.05 * ORIGIN_CAPACITY
    assert headline.lower_bound is False
    # Other work on a shared machine can push the p99 over before the pool fills; the search
    # then says so (busy machine) rather than blame the origin. On a machine left to it:
    if not headline.machine_busy:
        assert headline.capacity_at_slo_per_s >= 0.6 * ORIGIN_CAPACITY
        assert headline.bound == "origin" and headline.bound_utilisation >= 0.7
    steps = summary.steps
    fixed_summary = read_summary(cell_dir(run_dir, fixed.name) / SUMMARY_FILE)
    # The fixed-rate cell at the start rate is step one, unless other work shared the machine
    # while it was measured: then, as the busy-machine rule promises, step one is measured afresh.
    if fixed_summary.headline.machine_busy:
        assert steps[0].dir != fixed.name and (steps_dir / steps[0].dir).is_dir()
    else:
        assert steps[0].dir == fixed.name
    assert any(not step.passed for step in steps) and any(step.passed for step in steps)
    measured = [step for step in steps if step.dir != fixed.name]
    assert all((steps_dir / step.dir).is_dir() for step in measured)
    # Each step recorded only what it sent after its lead-in.
    for step in measured:
        step_latency = LatencyRecord.read(steps_dir / step.dir / LATENCY_FILE)
        assert step_latency.options["lead_in_s"] == 1
        assert step_latency.window.from_unix_s >= int(step_latency.measured_from_unix_s)
    # The fixed-rate cell ran on the same warmed processes and measured its CPU cost net of idle.
    assert fixed_summary.idle_cpu.target_cpu_percent is not None
    assert fixed_summary.headline.target_cpu_us_per_request > 0
    # No keep-warm for a target without a cache; Locust's process ended after its recorded phase.
    assert fixed_summary.after_recorded_s.keep_warm_resumed_s is None
    assert fixed_summary.after_recorded_s.generator_exited_s > 0

    built = run_page.build(run_dir, with_figures=False)
    assert built.answers[0].startswith("For read_heavy, capacity at p99 ≤ 60 ms")
    assert "origin-bound" in built.answers[0] or headline.machine_busy
    markdown = run_page.render_markdown(built)
    assert "## read_heavy · capacity at p99 ≤ 60 ms" in markdown
