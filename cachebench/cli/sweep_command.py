"""``cachebench sweep``: the command line of ``cachebench.tuning.sweep_run`` (wired into
``cachebench.cli.main``).

cachebench sweep [--bench FILE] [--simulate] [--target T] [--scenario S] [--duration S] [--rate R]
                 [--users N] [--workers N] [--label L] [--engine fast|layered]
                 [--max-staleness 5s] [--max-memory 256MB] [--min-hit-ratio 0.9] [--max-stale-ratio R]
                 [--max-p99 50ms] [--max-origin-reads N] [--staleness-stat max|p99|p50]
cachebench sweep --from RESULTS_DIR [constraints...]   (recommend again from an earlier sweep)
cachebench sweep --trace FILE [--trace-format F] [--key-query] [--key-user] [--sample-rate R] [constraints...]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# Light imports only: this module is loaded by every ``cachebench`` command.
from analysis.sweep_report.constraints import CONSTRAINT_KINDS, STALENESS_METRICS
from cachebench import arg_types as cli_args

_CONSTRAINT_HELP = {
    "max_staleness": "stale reads at most this old, e.g. 5s or 500ms (see --staleness-stat)",
    "max_memory": "memory the caches hold at most (L1 entries × bytes each, all workers, plus Redis), "
    "e.g. 16MB (10^6), 16MiB or 16M (2^20)",
    "min_hit_ratio": "share of reads a cache answers at least, e.g. 0.9 or 90%%",
    "max_stale_ratio": "share of reads that are stale at most, e.g. 0.01",
    "max_p99": "p99 latency at most, e.g. 50ms (known for live points only)",
    "max_origin_reads": "origin reads per second at most",
}


def add_parsers(commands: Any) -> None:
    """Register ``sweep`` on the ``cachebench`` subcommand parsers."""
    sweep = commands.add_parser(
        "sweep",
        help="sweep TTL × size (live and simulated) and recommend a configuration",
        description="Run a sweep file's grid (default bench/sweep.toml) live, simulate its larger grid, and "
        "report heatmaps, the Pareto front and the configurations that meet your constraints.",
    )
    source = sweep.add_mutually_exclusive_group()
    source.add_argument("--bench", type=Path, help="sweep file (TOML); default bench/sweep.toml")
    source.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        metavar="RESULTS_DIR",
        help="recommend again from an earlier sweep's results folder (no new runs)",
    )
    sweep.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="sweep your own traffic: an access log (Common/Combined Log Format, JSON lines or CSV "
        "timestamp,key[,size][,op]; plain or gzip); the grid's sizes and TTLs come from the sweep file",
    )
    sweep.add_argument(
        "--trace-format",
        choices=("auto", "clf", "combined", "jsonl", "csv"),
        default="auto",
        help="the access log's format (default: from its first line)",
    )
    sweep.add_argument("--key-query", action="store_true", help="the query string is part of the cache key")
    sweep.add_argument("--key-user", action="store_true", help="the log's user is part of the cache key")
    sweep.add_argument(
        "--sample-rate",
        type=float,
        metavar="R",
        help="sample keys at rate R in (0, 1] (SHARDS) for a long log; default: only above 5M requests",
    )
    sweep.add_argument(
        "--simulate", action="store_true", help="simulate every point (live grid too); start no process"
    )
    sweep.add_argument("--target", help="the target to sweep (l1, redis, hierarchical, nocache)")
    sweep.add_argument("--scenario", help="the scenario whose traffic is replayed")
    sweep.add_argument("--duration", type=cli_args.positive_float, help="measured seconds per point")
    sweep.add_argument("--warmup", type=cli_args.non_negative_float, help="warm-up seconds per point")
    sweep.add_argument(
        "--rate", type=cli_args.non_negative_float, help="total requests/s (0 = closed loop, live only)"
    )
    sweep.add_argument("--users", type=cli_args.positive_int, help="Locust users")
    sweep.add_argument("--workers", type=cli_args.positive_int, help="uvicorn workers of the target")
    sweep.add_argument("--label", help="name suffix of the results folder")
    sweep.add_argument(
        "--engine", help="simulator engine: fast (default) or layered (LayeredCache itself, slow)"
    )
    for name, kind in CONSTRAINT_KINDS.items():
        sweep.add_argument(kind.option, dest=name, metavar="BOUND", help=_CONSTRAINT_HELP[name])
    sweep.add_argument(
        "--staleness-stat",
        choices=tuple(STALENESS_METRICS),
        help="which staleness age --max-staleness bounds (default max)",
    )
    sweep.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or re-recommend) a sweep; errors are ValueErrors with one clear message."""
    from cachebench.tuning import sweep_run

    constraints = {name: getattr(args, name, None) for name in CONSTRAINT_KINDS}
    if args.from_dir is not None and getattr(args, "trace", None) is not None:
        raise ValueError("--trace sweeps a new log; --from re-recommends an earlier sweep: give one")
    if args.from_dir is not None:
        sweep_run.rerecommend(args.from_dir, constraints, args.staleness_stat)
        return 0
    overrides = {
        "target": args.target,
        "scenario": args.scenario,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "offered_rate_per_s": args.rate,
        "users": args.users,
        "workers": args.workers,
        "label": args.label,
        "engine": args.engine,
        "staleness_stat": args.staleness_stat,
        "constraints": {k: v for k, v in constraints.items() if v is not None} or None,
    }
    spec = sweep_run.load_sweep(args.bench, overrides)
    if args.trace is not None:
        from cachebench.load import access_log
        from cachebench.tuning import trace_sweep

        options = access_log.KeyOptions(query=args.key_query, user=args.key_user)
        trace_sweep.run_trace_sweep(spec, args.trace, args.trace_format, options, args.sample_rate)
        return 0
    run_dir = sweep_run.run_sweep(spec, simulate_only=args.simulate)
    return 0 if _complete(run_dir) else 1


def _complete(run_dir: Path) -> bool:
    from cachebench.results import read_manifest

    return read_manifest(run_dir).status == "complete"
