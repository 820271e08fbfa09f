"""``cachebench report`` and ``cachebench compare``: turn results folders into answers.

cachebench report [RUN_DIR]                  report.html + summary.md in the run folder (default: newest run)
cachebench compare RUN_A RUN_B [--out FILE] [--fail-on-regression]

The analysis libraries (pandas, matplotlib) load only when one of these commands runs.
Problems are raised as ValueError with a one-line message; ``cachebench.cli.main`` prints it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cachebench.results import RESULTS_ROOT


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.results_frames import newest_run
    from analysis.run_report import run_page

    run_dir = args.run_dir or newest_run(args.results)
    html_path, md_path = run_page.write(run_dir)
    print(f"cachebench: report {html_path}")
    print(f"cachebench: summary {md_path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from analysis import results_frames
    from analysis.run_report import compare

    comparison = compare.compare(results_frames.load_run(args.run_a), results_frames.load_run(args.run_b))
    text = compare.render_markdown(comparison)
    if args.out is not None:
        from cachebench.results import write_atomic

        write_atomic(args.out, text)
        print(f"cachebench: comparison {args.out}")
    else:
        print(text)
    if args.fail_on_regression and not comparison.regressions().empty:
        return 1
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register ``report`` and ``compare`` on the ``cachebench`` subcommands."""
    report = commands.add_parser(
        "report",
        help="write report.html and summary.md for a run",
        description="Write a self-contained report.html (figures embedded) and a Markdown summary.md into a "
        "results folder: which strategy wins, by how much, and how sure.",
    )
    report.add_argument(
        "run_dir", nargs="?", type=Path, metavar="RUN_DIR", help="a results folder (default: the newest one)"
    )
    report.add_argument(
        "--results",
        type=Path,
        default=RESULTS_ROOT,
        help=f"where to look for the newest run (default {RESULTS_ROOT})",
    )
    report.set_defaults(func=cmd_report)

    compare = commands.add_parser(
        "compare",
        help="regression report between two runs",
        description="Compare run B with run A cell by cell: ratio B/A per metric with a 95%% interval, "
        "marked + worse, - better, ~ not significant; 'not comparable' where code or settings differ.",
    )
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help="the reference results folder")
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help="the results folder to judge")
    compare.add_argument("--out", type=Path, help="write the Markdown report to this file instead of stdout")
    compare.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when a metric of a comparable cell is significantly worse (+)",
    )
    compare.set_defaults(func=cmd_compare)
