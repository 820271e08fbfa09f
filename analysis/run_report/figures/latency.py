"""Latency figures from the HDR histograms: the percentile spectrum per strategy, and per cache outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis.rendering import new_figure
from analysis.results_frames import strategy_order
from analysis.run_report.figures.style import color, empty_panel, legend_name, select, title

OUTCOME_STYLES = {
    "all": {"color": "black", "linewidth": 2.2, "label": "all requests"},
    "l1_hit": {"color": "#1f77b4", "label": "L1 hit"},
    "redis_hit": {"color": "#d62728", "label": "Redis hit"},
    "client_local": {"color": "#2ca02c", "label": "answered by the browser cache"},
    "not_modified": {"color": "#bcbd22", "label": "304 Not Modified"},
    "miss": {"color": "#ff7f0e", "label": "miss (origin read)"},
    "error": {"color": "#7f7f7f", "linestyle": ":", "label": "error"},
}
PERCENTILE_TICKS = (50, 90, 99, 99.9, 99.99, 99.999, 99.9999)


def _percentile_axis(ax: Axes, max_count: float) -> None:
    """x = 1 / (1 - q): each further nine of the percentile gets the same width; x = 1 is the min."""
    ax.set_xscale("log")
    right = max(10.0, max_count * 1.6)
    ticks = [p for p in PERCENTILE_TICKS if 1.0 / (1.0 - p / 100.0) <= right]
    ax.set_xticks([1.0 / (1.0 - p / 100.0) for p in ticks])
    ax.set_xticklabels([f"p{p:g}" for p in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(1.0, right)
    ax.set_xlabel("percentile (each tick adds a nine; lines start at the min and end at the max, the dot)")


def _latency_axis(ax: Axes) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("latency (ms, log scale)")
    ax.grid(True, which="major", alpha=0.3)


def _spectrum_line(ax: Axes, rows: pd.DataFrame, **style: object) -> None:
    rows = rows.sort_values("percentile")
    body = rows[rows["percentile"] < 100]
    x = 1.0 / (1.0 - body["percentile"].to_numpy() / 100.0)
    line = ax.plot(x, body["latency_ms"], **style)[0]
    peak = rows[rows["percentile"] == 100]
    if not peak.empty:
        # The max sits where the data ends: at the count-th request, x = count.
        ax.plot(
            [x[-1], rows["count"].iloc[0]],
            [body["latency_ms"].iloc[-1], peak["latency_ms"].iloc[0]],
            color=line.get_color(),
            linestyle=line.get_linestyle(),
            linewidth=line.get_linewidth(),
        )
        ax.plot(
            rows["count"].iloc[0],
            peak["latency_ms"].iloc[0],
            marker="o",
            markersize=3,
            color=line.get_color(),
        )


def _kind_note(spectrum: pd.DataFrame) -> str:
    kinds = set(spectrum["latency_kind"]) if "latency_kind" in spectrum else set()
    if kinds == {"corrected"}:
        return (
            "Fixed rate: latency measured from each request's intended send time (corrected for "
            "coordinated omission). HDR histograms, all repetitions merged; dot = max."
        )
    return "Closed loop: service time per request. HDR histograms, all usable repetitions merged; dot = max."


def latency_spectrum(spectrum: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """Latency at every percentile for all requests, one line per strategy."""
    rows = select(spectrum, scenario, variant, mode)
    figure, ax = new_figure(figsize=(9, 5))
    rows = rows[rows["outcome"] == "all"] if not rows.empty else rows
    if rows.empty:
        empty_panel(ax, "no latency histograms in these cells")
        return figure
    for target in strategy_order(rows["target"]):
        own = rows[rows["target"] == target]
        flag = own["flag"].iloc[0]
        _spectrum_line(
            ax,
            own,
            color=color(target),
            linewidth=2,
            linestyle="--" if isinstance(flag, str) else "-",
            label=legend_name(target, flag, int(own["repetitions"].iloc[0]), own["left_out"].iloc[0]),
        )
    _percentile_axis(ax, rows["count"].max())
    _latency_axis(ax)
    ax.legend(title="strategy (repetitions)", fontsize=9, loc="lower right")
    title(figure, "Latency percentile spectrum, all requests", scenario, variant, mode, _kind_note(rows))
    return figure


def latency_by_outcome(spectrum: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """One panel per strategy: the spectrum split by cache outcome (hit, miss, browser...)."""
    rows = select(spectrum, scenario, variant, mode)
    targets = strategy_order(rows["target"]) if not rows.empty else []
    columns = min(3, max(1, len(targets)))
    lines = max(1, int(np.ceil(len(targets) / columns)))
    figure, axes = new_figure(
        lines, columns, figsize=(4.2 * columns, 3.6 * lines), sharey=True, squeeze=False
    )
    flat = axes.ravel()
    if not targets:
        empty_panel(flat[0], "no latency histograms in these cells")
        return figure
    for ax, target in zip(flat, targets, strict=False):
        own = rows[rows["target"] == target]
        for outcome in [o for o in OUTCOME_STYLES if o in set(own["outcome"])]:
            part = own[own["outcome"] == outcome]
            style = {"linewidth": 1.6, **OUTCOME_STYLES[outcome]}
            share = ""
            if outcome != "all":
                total = own[own["outcome"] == "all"]["count"].max()
                share = f" ({part['count'].iloc[0] / total:.0%})" if total else ""
            style["label"] = f"{style['label']}{share}"
            _spectrum_line(ax, part, **style)
        flag = own["flag"].iloc[0]
        ax.set_title(
            target + (f" — {flag}" if isinstance(flag, str) else ""),
            color=color(target),
            fontweight="bold",
            fontsize=10,
        )
        _percentile_axis(ax, rows["count"].max())
        _latency_axis(ax)
        ax.set_xlabel("percentile")
        ax.legend(fontsize=7, loc="lower right")
    for ax in flat[len(targets) :]:
        ax.set_visible(False)
    for ax in axes[:, 1:].ravel():
        ax.set_ylabel("")
    title(figure, "Latency by cache outcome (share of requests)", scenario, variant, mode, _kind_note(rows))
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return figure
