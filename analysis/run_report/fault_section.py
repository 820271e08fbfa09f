"""The report's fault section: per strategy a timeline with the faults shaded, a table per phase, the goals.

Reads what the runner wrote for cells run with a fault schedule (``faults.json``: windows,
phases before / during / after each fault, goals) and the cells' per-second series.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import rendering
from analysis.results_frames import Run, strategy_order
from analysis.run_report.figures.style import color
from cachebench.results import (
    FAULTS_FILE,
    LAYER,
    SAMPLE,
    FaultPhase,
    FaultsEvaluation,
    FaultsFile,
    layer_column,
    write_atomic,
)

#: The timeline's panels: (label, [(column, legend)]) from the cell's per-second series (Locust's
#: counts, and the samples' columns under their samples.csv names).
PANELS = [
    ("requests/s", [("completed_per_s", "completed")]),
    ("p99 ms", [("p99_ms", "p99 (per second)")]),
    (
        "hit ratio",
        [(layer_column("l1", LAYER.hit_ratio), "L1"), (layer_column("redis", LAYER.hit_ratio), "Redis")],
    ),
    (
        "per s",
        [
            (SAMPLE.server_5xx_per_s, "5xx"),
            ("error", "failed requests"),
            (layer_column("redis", LAYER.errors_per_s), "failed Redis calls"),
            (layer_column("redis", LAYER.open_timeouts_per_s), "Redis timeouts waited, breaker open"),
        ],
    ),
    ("breaker open", [(layer_column("redis", LAYER.circuit_open_workers), "workers with it open")]),
]
#: The phase table's columns: (figure of the phase, label, format).
PHASE_COLUMNS: list[tuple[Callable[[FaultPhase], float | None], str, str]] = [
    (lambda phase: phase.requests, "requests", "{:,.0f}"),
    (lambda phase: phase.errors, "failed", "{:,.0f}"),
    (lambda phase: phase.server_5xx, "5xx", "{:,.0f}"),
    (lambda phase: phase.p99_ms, "p99 ms", "{:,.1f}"),
    (lambda phase: phase.redis_errors, "failed Redis calls", "{:,.0f}"),
    (lambda phase: phase.redis_open_timeouts, "timeouts waited while open", "{:,.0f}"),
    (lambda phase: phase.stale_reads, "stale reads", "{:,.0f}"),
    (lambda phase: phase.staleness_max_s, "oldest stale s", "{:.2f}"),
]


@dataclass
class FaultCell:
    """One cell run with faults: its strategy, what faults.json says and its timeline PNG."""

    cell: str
    target: str
    faults: FaultsEvaluation
    png: bytes | None = None


@dataclass
class Section:
    cells: list[FaultCell] = field(default_factory=list)


def build(run: Run, with_figures: bool = True) -> Section | None:
    """The fault section of a run, or None when no cell ran a fault schedule."""
    found = []
    for cell in run.cells.itertuples(index=False):
        faults = FaultsFile.read_if_present(run.cell_dir(cell.cell) / FAULTS_FILE)
        if faults is not None:
            found.append(FaultCell(cell.cell, cell.target, faults))
    if not found:
        return None
    order = {name: i for i, name in enumerate(strategy_order(c.target for c in found))}
    found.sort(key=lambda c: (order[c.target], c.cell))
    if with_figures:
        series = run.timeseries
        for fault_cell in found:
            own = series[series["cell"] == fault_cell.cell] if not series.empty else series
            fault_cell.png = rendering.to_png(timeline(fault_cell, own))
    return Section(found)


def timeline(fault_cell: FaultCell, series: pd.DataFrame):
    """Throughput, p99, hit ratio by layer, 5xx and errors, breaker state; faults shaded."""
    figure, axes = rendering.new_figure(len(PANELS), 1, figsize=(11, 9), sharex=True)
    started = fault_cell.faults.started_unix_s
    # Each second is drawn at its middle, so it lines up with the shaded fault times.
    x = series["second"] + 0.5 - started if not series.empty else pd.Series(dtype=float)
    for ax, (label, columns) in zip(axes, PANELS, strict=True):
        for i, (column, legend) in enumerate(columns):
            if column in series and series[column].notna().any():
                line = "-" if i == 0 else "--" if i == 1 else ":"
                ax.plot(
                    x,
                    series[column],
                    line,
                    color=color(fault_cell.target),
                    marker=".",
                    markersize=3,
                    label=legend,
                )
        for window in fault_cell.faults.windows:
            ax.axvspan(
                window.from_unix_s - started,
                window.to_unix_s - started,
                color="#f4b6b6",
                alpha=0.5,
                lw=0,
            )
        ax.set_ylabel(label, fontsize=8)
        if len(columns) > 1 and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right")
    for window in fault_cell.faults.windows:
        axes[0].annotate(
            window.kind,
            (window.from_unix_s - started, 1.02),
            xycoords=("data", "axes fraction"),
            fontsize=8,
        )
    axes[-1].set_xlabel("seconds since the measured phase began (faults shaded)")
    axes[0].set_title(f"{fault_cell.target}: {fault_cell.cell}", fontsize=10, pad=14)
    return figure


def _fmt(value: object, pattern: str) -> str:
    return "–" if value is None or (isinstance(value, float) and pd.isna(value)) else pattern.format(value)


def phase_rows(fault_cell: FaultCell) -> list[list[str]]:
    """Per fault and phase: the figures, and on "after" the time to the first Redis hit."""
    windows = fault_cell.faults.windows
    rows = []
    for phase in fault_cell.faults.phases:
        first = windows[phase.fault].first_redis_hit_s if phase.phase == "after" else None
        rows.append(
            [
                f"{phase.fault + 1} {phase.kind}",
                phase.phase,
                _fmt(phase.seconds, "{:.1f}"),
                *(_fmt(figure(phase), pattern) for figure, _, pattern in PHASE_COLUMNS),
                _fmt(first, "{:.2f}"),
            ]
        )
    return rows


def _header() -> list[str]:
    return ["fault", "phase", "s", *(label for _, label, _ in PHASE_COLUMNS), "first Redis hit after, s"]


def goal_lines(fault_cell: FaultCell) -> list[tuple[bool | None, str]]:
    """Each goal: met, missed or not applicable (None), and its line."""
    return [(goal.met, goal.line()) for goal in fault_cell.faults.goals]


def render_html(section: Section) -> list[str]:
    out = [
        '<h2 id="faults">Faults</h2>',
        "<p>Each strategy under the same fault schedule (shaded: from the fault's start to Redis answering "
        "again). Phases: before, during and after each fault; p99 from per-second latency buckets (≤ 2.2% "
        "wide); staleness from the read and write records.</p>",
    ]
    for fault_cell in section.cells:
        out.append(f"<h3>{html.escape(fault_cell.target)}</h3><ul>")
        for met, line in goal_lines(fault_cell):
            style = ' style="color:#c33"' if met is False else ""
            out.append(f"<li{style}>{html.escape(line)}</li>")
        out.append("</ul>")
        if fault_cell.png is not None:
            caption = f"{fault_cell.target}: the fault timeline"
            out.append(
                f"<figure>{rendering.embedded_png(fault_cell.png, caption)}"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        rows = [[html.escape(c) for c in row] for row in phase_rows(fault_cell)]
        out.append(rendering.table(_header(), rows))
    return out


def render_markdown(section: Section) -> list[str]:
    out = ["", "## Faults", ""]
    for fault_cell in section.cells:
        out += [f"### `{fault_cell.target}`", ""]
        out += [
            f"- {'**MISSED**' + line[6:] if met is False else line}" for met, line in goal_lines(fault_cell)
        ]
        header = _header()
        out += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(row) + " |" for row in phase_rows(fault_cell)]
        out.append("")
    return out


def write_figures(section: Section, figures_dir: Path) -> None:
    for fault_cell in section.cells:
        if fault_cell.png is not None:
            write_atomic(figures_dir / f"faults-{fault_cell.cell}.png", fault_cell.png)
