"""Hit-path speed benchmark: does a cache hit cost little more than serving constant bytes?

For each target (``l1``, ``hierarchical``, ``redis``) this starts one uvicorn worker pinned to
CPU 0, warms one hot item, and then measures on that same process, in pairs of back-to-back wrk
runs whose order alternates, ``GET /bench/constant`` (pre-encoded item-sized bytes: the
ceiling) and ``GET /items/<hot id>`` (an always-hit key). The load tool is wrk (C, one thread)
pinned to CPU 1; its CPU share is measured (from its rusage) and printed with every run, so
nobody has to take on trust that it was not the bottleneck. Every hit run is checked against the
target's own ``/metrics`` (hit counter growth = requests, no misses) and ``Cache-Status``.

The machine may be shared: a pair in which the worker did not get at least 90% of its core is
repeated (up to three times as many pairs as asked for), since it measured the other load.

It also measures what an L1 entry costs in memory: a fresh interpreter fills an ``L1Backend``
with seeded-shape items encoded by ``cachebench.serve.codec.encode`` (the bytes the targets cache) and
reports RSS growth per value byte.

The parts live beside this module in ``cachebench.perf``: ``wrk`` (the load tool), ``hit_path``
(one target's pairs and their checks), ``entry_memory`` (the L1 memory figure), ``perf_report``
(the summary and its verdicts) and ``console`` (where all of it is printed).

Requirements: hit/constant throughput >= 0.85 for ``l1`` and ``hierarchical`` (0.95 until
2026-12: the constant endpoint skips FastAPI's routing, which every hit pays), >= 0.6 for
``redis``; L1 RSS per value byte <= 1.3.

The cache libraries' targets (fastapi-cache2, cashews, aiocache, in memory and over Redis; the
``peers`` extra) are measured the same way: their hit/constant ratio, and their hit throughput as
a share of our ``l1`` hit's (the ratio of the two hit/constant ratios, so both are against the
same constant endpoint on their own pairs), which may be at most 1 / 1.5: an L1 hit of ours at
least 1.5x any library's hit, in memory or over Redis.

Last, the CPU per L1 hit from wrk is checked against the runner's figure at a fixed rate
(``cpu_check``): the two must agree within 15%.

Exit status: 0 when every figure meets its requirement, 1 when one misses, 2 when the run itself
cannot be trusted (wrk errors, hits that were not hits, a saturated load tool, a busy machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from cachebench.perf.cpu_check import agreement_line, runner_cpu_per_hit, wrk_cpu_per_hit
from cachebench.perf.entry_memory import MEMORY_ENTRY_COUNTS, measure_memory
from cachebench.perf.hit_path import THROUGHPUT_REQUIREMENTS, measure_target
from cachebench.perf.perf_report import print_report
from cachebench.perf.wrk import LOAD_CPU, SERVER_CPU, WRK_REPORT_LUA, find_wrk
from targets import library_targets

#: What --targets may name: ours with a requirement, then the libraries beside them.
MEASURABLE = [*THROUGHPUT_REQUIREMENTS, *library_targets()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cachebench.perf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=3.0, help="length of each wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="constant/hit pairs per target (default 5)")
    parser.add_argument("--targets", default=",".join(MEASURABLE), help="comma-separated")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--memory-entries",
        default=MEMORY_ENTRY_COUNTS,
        help=f"L1 sizes to measure (default {MEMORY_ENTRY_COUNTS})",
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the L1 memory measurement")
    parser.add_argument(
        "--skip-cpu", action="store_true", help="skip the CPU-per-hit check against the runner"
    )
    args = parser.parse_args(argv)

    strategies = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in strategies if name not in MEASURABLE]
    if unknown:
        choices = ", ".join(MEASURABLE)
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {choices}")
    if not {SERVER_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"error: needs CPUs {SERVER_CPU} and {LOAD_CPU} (one for the worker, one for wrk)")
    wrk = find_wrk()
    os.sched_setaffinity(0, {LOAD_CPU})  # this process only orchestrates: off the worker's core

    results = []
    with tempfile.TemporaryDirectory(prefix="cachebench-perf-") as scratch:
        script = Path(scratch) / "report.lua"
        script.write_text(WRK_REPORT_LUA)
        for strategy in strategies:
            results.append(
                measure_target(strategy, wrk, script, args.duration_s, args.rounds, args.connections)
            )
    entry_counts = [] if args.skip_memory else [int(n) for n in args.memory_entries.split(",")]
    memory = [measure_memory(entries) for entries in entry_counts]
    status = print_report(results, memory, args.rounds)
    l1 = next((r for r in results if r.strategy == "l1" and r.pairs), None)
    if l1 is not None and not args.skip_cpu:
        line, agreed = agreement_line(
            wrk_cpu_per_hit([pair.hit.per_cpu_s for pair in l1.counted]), runner_cpu_per_hit()
        )
        print(line, "PASS" if agreed else "MISS")
        status = max(status, 0 if agreed else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
