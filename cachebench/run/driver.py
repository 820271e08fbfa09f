"""Drive a whole run: make the results folder, run its sessions and record each cell's state in the
manifest, show live progress, print the summary table."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from cachebench.results import (
    LAYER,
    RESULTS_ROOT,
    SAMPLE,
    CellSpec,
    Headline,
    Manifest,
    SearchHeadline,
    by_layer,
    new_run_dir,
)
from cachebench.run.matrix import Matrix, expand
from cachebench.run.processes.redis_server import RedisServer
from cachebench.run.runner import CellRunner
from cachebench.run.sampling import Sampler
from cachebench.run.session import sessions

#: Seconds a cell costs besides warm-up and measurement (start, verify, stop), for time-left estimates.
CELL_OVERHEAD_S = 8.0


def _redis_version() -> str | None:
    try:
        with RedisServer() as server:
            return server.version
    except RuntimeError:
        return None


class Progress:
    """The live line: cell i of n, phase, time left, current req/s, hit ratio, generator CPU."""

    def __init__(self, cells: list[CellSpec], console: Console) -> None:
        self.cells = cells
        self.console = console
        self.live = Live(console=console, refresh_per_second=2, transient=True)

    def tick(self, cell: CellSpec, sampler: Sampler | None, phase: str, ends_at: float) -> None:
        phase_left_s = max(0.0, ends_at - time.monotonic())
        later = self.cells[cell.index :]
        run_left_s = phase_left_s + sum(_expected_s(c, self.cells) for c in later)
        if phase == "warm-up":
            run_left_s += cell.duration_s
        latest = sampler.latest if sampler is not None else {}
        table = Table.grid(padding=(0, 2))
        table.add_row(
            f"[bold]cell {cell.index}/{len(self.cells)}[/] {cell.target} · {cell.scenario} · {cell.mode}",
            f"{phase} {phase_left_s:4.0f}s left",
            f"run ≈{run_left_s / 60:4.1f} min left",
        )
        hit_ratios = ", ".join(
            f"{layer} {v:.0%}" for layer, v in by_layer(latest, LAYER.hit_ratio).items() if v is not None
        )
        rps = latest.get(SAMPLE.requests_per_s)
        cpu = latest.get(SAMPLE.generator_cpu_percent)
        table.add_row(
            f"req/s {rps:,.0f}" if rps is not None else "req/s –",
            f"hit {hit_ratios or '–'}",
            f"generator CPU {cpu:.0f}%" if cpu is not None else "",
        )
        self.live.update(table)


def _expected_s(cell: CellSpec, cells: list[CellSpec]) -> float:
    """A rough time a cell takes: a search as if it took half its steps; a warm-up only where a
    session starts (its later cells reuse the warmed processes)."""
    if cell.search:
        step_s = cell.search.step_s + cell.search.lead_in_s
        return cell.search.max_steps / 2 * (step_s + CELL_OVERHEAD_S / 2)
    starts = cell.session is None or cell.index == 1 or cells[cell.index - 2].session != cell.session
    return (cell.warmup_s + CELL_OVERHEAD_S if starts else CELL_OVERHEAD_S / 2) + cell.duration_s


def summary_table(manifest: Manifest) -> Table:
    table = Table(title="cachebench summary", show_lines=False)
    for column in ("cell", "target", "scenario", "mode", "req/s", "p50 ms", "p99 ms", "hit ratio",
                   "origin reads/s", "verdict", "status"):  # fmt: skip
        table.add_column(
            column, justify="right" if column not in ("target", "scenario", "status") else "left"
        )
    for cell in manifest.cells:
        headline = cell.summary
        if isinstance(headline, SearchHeadline):  # the rate it found (≥: a lower bound), what bound it
            figures = headline.at_capacity
            rate = _fmt(headline.capacity_at_slo_per_s, ("≥" if headline.lower_bound else "") + "{:,.0f}")
            verdict = f"{headline.bound} at p99 ≤ {headline.slo_p99_ms:g} ms"
        else:
            figures = headline
            rate = _fmt(headline.achieved_rate_per_s if headline else None, "{:,.0f}")
            verdict = (headline.saturation if headline else None) or "–"
        hits = [
            f"{layer} {ratio:.1%}"
            for layer, ratio in (figures.hit_ratio_by_layer if figures else {}).items()
            if ratio is not None
        ]
        table.add_row(
            str(cell.index),
            cell.target,
            cell.scenario,
            cell.mode,
            rate,
            _fmt(figures.p50_ms if figures else None, "{:.3f}"),
            _fmt(figures.p99_ms if figures else None, "{:.3f}"),
            ", ".join(hits) or "–",
            _fmt(figures.origin_reads_per_s if figures else None, "{:,.0f}"),
            verdict + (", busy machine" if headline is not None and headline.machine_busy else ""),
            cell.status + (f" ({cell.reason})" if cell.reason else ""),
        )
    return table


def _fmt(value: object, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def run_cells(
    cells: list[CellSpec],
    run_dir: Path,
    manifest: Manifest,
    on_tick: Callable[..., None] = lambda *a: None,
    external_url: str | None = None,
) -> str:
    """Run every cell, session by session, recording each one's status; returns the run's status."""
    runner = CellRunner(run_dir, on_tick, external_url)
    status = "complete"
    for session in sessions(cells):
        pending = list(session)
        manifest.set_cell(pending[0].index, "running")
        try:
            for cell, outcome in runner.run_session(session):
                pending.remove(cell)
                if pending:
                    manifest.set_cell(pending[0].index, "running")
                if isinstance(outcome, Exception):
                    manifest.set_cell(cell.index, "failed", f"{type(outcome).__name__}: {outcome}")
                    status = "complete_with_failures"
                    continue
                state = "complete" if outcome.complete else "incomplete"
                if state != "complete":
                    status = "complete_with_failures"
                manifest.set_cell(cell.index, state, outcome.incomplete_reason, summary=outcome.headline)
        except KeyboardInterrupt:
            manifest.set_cell(pending[0].index, "incomplete", "interrupted")
            for later in cells[pending[0].index :]:
                manifest.set_cell(later.index, "not_run", "run interrupted")
            manifest.finish("incomplete")
            raise
        except Exception as exc:  # a session that could not start must not end the run
            for cell in pending:
                manifest.set_cell(cell.index, "failed", f"{type(exc).__name__}: {exc}")
            status = "complete_with_failures"
    manifest.finish(status)
    return status


def run_bench(
    matrix: Matrix,
    results_root: Path = RESULTS_ROOT,
    console: Console | None = None,
    external_url: str | None = None,
) -> Path:
    """Run the matrix into a new results folder and print the summary; returns the folder."""
    # A pipe or CI log gets rich's 80 columns, too narrow for the summary table.
    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    cells = expand(matrix)
    run_dir = new_run_dir(matrix.label, results_root)
    manifest = Manifest.start(run_dir, matrix.model_dump(mode="json"), cells)
    manifest.redis_version = _redis_version()
    manifest.save()
    console.print(f"cachebench: {len(cells)} cells → {run_dir}")
    progress = Progress(cells, console)
    try:
        with progress.live:
            run_cells(cells, run_dir, manifest, progress.tick, external_url)
    finally:
        console.print(summary_table(manifest))
        for cell in manifest.cells:
            lines = (cell.summary.fault_goals if isinstance(cell.summary, Headline) else None) or []
            if lines:
                console.print(f"fault goals, {cell.name}:", *(f"  {line}" for line in lines), sep="\n")
        console.print(f"results: {run_dir} ({manifest.status})")
    return run_dir
