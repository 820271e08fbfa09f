"""What the hit-path benchmark reports: the summary table, one line per requirement (progress lines go to
``cachebench.perf.console`` too)."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from rich.table import Table

from cachebench.perf.console import console
from cachebench.perf.entry_memory import MEMORY_REQUIREMENT

if TYPE_CHECKING:
    from cachebench.perf.hit_path import TargetResult

#: A library's hit (in memory or over Redis) may be at most this share of our L1 hit: ours at
#: least 1.5x theirs.
LIBRARY_SHARE_MAX = 1 / 1.5


def verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]MISS[/]"


def required_text(result: TargetResult) -> str:
    return "-" if result.required is None else f">= {result.required}"


def share_of_l1(result: TargetResult, l1: TargetResult | None) -> float | None:
    """Hit throughput as a share of our l1 hit's: the ratio of their hit/constant ratios, so each
    side is taken against the same constant endpoint within its own pairs (the machine's drift
    between the two targets' runs cancels)."""
    if l1 is None or not l1.pairs or not result.pairs:
        return None
    return result.ratio / l1.ratio


def print_report(results: list[TargetResult], memory: list[dict[str, float]], rounds: int) -> int:
    """The summary table and one line per requirement or library; returns the exit status."""
    table = Table(title=f"Cache hit vs constant bytes, one uvicorn worker (median of {rounds} pairs)")
    columns = ("target", "constant req/s", "hit req/s", "ratio", "of l1 hit", "required", "",
               "ratio per CPU-s", "worker CPU", "wrk CPU max", "repeated", "checks")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "", "checks") else "right")
    missed = untrusted = False
    l1 = next((result for result in results if result.strategy == "l1"), None)
    for result in results:
        untrusted |= bool(result.problems) or not result.pairs
        if not result.pairs:
            table.add_row(result.strategy, *["-"] * 4, required_text(result), "[red]ERROR[/]",
                          *["-"] * 4, "; ".join(result.problems))  # fmt: skip
            continue
        share = share_of_l1(result, l1)
        missed |= not result.passed
        runs = result.runs()
        checks = "; ".join(result.problems) or f"{result.cache_status}, counter = requests"
        table.add_row(
            result.strategy, f"{result.constant_rps:.0f}", f"{result.hit_rps:.0f}", f"{result.ratio:.3f}",
            "-" if share is None else f"{share:.2f}", required_text(result),
            verdict(result.passed) if result.required is not None else "", f"{result.cpu_ratio:.3f}",
            f"{statistics.median(run.worker_cpu for run in runs):.0%}",
            f"{max(run.wrk_cpu for run in runs):.0%}", str(result.repeated), checks,
        )  # fmt: skip
    console.print()
    console.print(table)
    for result in results:
        if result.pairs and result.required is not None:
            console.print(
                f"ratio {result.strategy} {result.ratio:.3f} (hit {result.hit_rps:.0f} / constant "
                f"{result.constant_rps:.0f} req/s; required >= {result.required}) {verdict(result.passed)}"
            )
        elif result.pairs:
            share = share_of_l1(result, l1)
            ok = share is None or share <= LIBRARY_SHARE_MAX  # not judged without l1 beside it
            missed |= not ok
            judged = (
                "of our l1 hit: not measured (run l1 too)"
                if share is None
                else f"{share:.2f} of our l1 hit (required <= {LIBRARY_SHARE_MAX:.2f}: ours >= 1.5x) "
                + verdict(ok)
            )
            console.print(
                f"library {result.strategy} {result.ratio:.3f} of constant (hit {result.hit_rps:.0f} / "
                f"constant {result.constant_rps:.0f} req/s); {judged}"
            )
    for report in memory:
        ok = report["ratio"] <= MEMORY_REQUIREMENT
        missed |= not ok
        console.print(
            f"l1 memory {report['entries']} entries: RSS +{report['rss_delta_bytes'] / 2**20:.1f} MiB for "
            f"{report['value_bytes'] / 2**20:.1f} MiB of values = {report['ratio']:.3f}x "
            f"(required <= {MEMORY_REQUIREMENT}) {verdict(ok)}"
        )
    if untrusted:
        console.print("[red]the run cannot be trusted: see the checks column[/]")
        return 2
    return 1 if missed else 0
