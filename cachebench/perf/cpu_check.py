"""CPU per L1 hit measured two ways, which must agree: wrk at saturation, and the runner at a rate.

wrk's figure is the worker's CPU per hit while one worker serves hits as fast as it can (median
over the l1 pairs: 1 / requests per CPU-second). The runner's is what ``make bench`` reports: a
fixed-rate cell of ``read_only`` with a single key (after its first read, every read is an L1
hit), the target's CPU over the measured phase minus its CPU at rest, per request. Both count
the same work (parse, route, look up, respond), so they agree within AGREEMENT unless the
runner's accounting is off — or per-request overheads that batching hides at saturation
(one event-loop wake-up per request at a modest rate) are larger than thought, which the printed
ratio then shows.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
from pathlib import Path

from rich.console import Console

from cachebench.results import SUMMARY_FILE, Headline, cell_dir, read_manifest, read_summary
from cachebench.run.driver import run_bench
from cachebench.run.matrix import load_matrix

#: The runner's CPU per hit within this share of wrk's.
AGREEMENT = 0.15
RATE_PER_S = 2000.0
DURATION_S = 6.0


def runner_cpu_per_hit(rate_per_s: float = RATE_PER_S, duration_s: float = DURATION_S) -> Headline:
    """A fixed-rate cell of pure L1 hits through the runner: its headline (CPU µs per request, hit ratio)."""
    matrix = load_matrix(
        None,
        {
            "label": "perf-cpu", "targets": ["l1"], "scenarios": ["read_only"],
            "scenario_options": {"keys": 1}, "warmup_s": 2, "steady_state": False,
            "duration_s": duration_s,
            "modes": [{"kind": "fixed_rate", "users": 32, "offered_rate_per_s": rate_per_s}],
        },
    )  # fmt: skip
    # cachebench.perf pins itself to the load CPU; the runner plans its own CPUs from this process's.
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        with (
            tempfile.TemporaryDirectory(prefix="cachebench-perf-cpu-") as scratch,
            open(os.devnull, "w") as quiet,
        ):
            run_dir = run_bench(matrix, results_root=Path(scratch), console=Console(file=quiet))
            cell = read_manifest(run_dir).cells[0]
            return read_summary(cell_dir(run_dir, cell.name) / SUMMARY_FILE).headline
    finally:
        os.sched_setaffinity(0, allowed)


def wrk_cpu_per_hit(per_cpu_s: list[float]) -> float:
    """µs of worker CPU per hit from wrk's hit runs (requests per CPU-second), their median."""
    return 1e6 / statistics.median(per_cpu_s)


def agreement_line(wrk_us: float, runner: Headline) -> tuple[str, bool]:
    cpu_us = runner.target_cpu_us_per_request or math.nan
    ratio = cpu_us / wrk_us
    ok = abs(ratio - 1) <= AGREEMENT
    busy = ", busy machine" if runner.machine_busy else ""
    ci95_us = runner.target_cpu_us_per_request_ci95
    # The summary gives no interval under three full-rate seconds: say so, not "± nan".
    spread = " µs (no interval)" if ci95_us is None else f" ± {ci95_us:.0f} µs"
    hit_ratio = runner.hit_ratio_by_layer.get("l1") or 0.0
    text = (
        f"CPU per l1 hit: wrk at saturation {wrk_us:.0f} µs; runner at {RATE_PER_S:g} req/s, idle "
        f"subtracted, {cpu_us:.0f}{spread} "
        f"(hit ratio {hit_ratio:.3f}{busy}); runner ÷ wrk {ratio:.2f} "
        f"(goal within ±{AGREEMENT:.0%})"
    )
    return text, ok
