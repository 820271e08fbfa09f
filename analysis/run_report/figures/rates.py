"""Per-strategy bars: throughput with its saturation verdict, hit ratio per layer, origin reads/s."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.rendering import new_figure
from analysis.results_frames import BASELINE, strategy_order
from analysis.run_report.figures.style import FLAG_HATCH, color, empty_panel, select, title


def _bars(ax: Axes, wide: pd.DataFrame, metric: str, scale: float = 1.0, digits: int = 0) -> list[str]:
    """Mean of usable repetitions as bars, every repetition as a dot; flagged ones hatched/hollow."""
    targets = strategy_order(wide["target"])
    for i, target in enumerate(targets):
        own = wide[(wide["target"] == target) & wide[metric].notna()] if metric in wide else wide.iloc[0:0]
        usable = own[own["usable"].astype(bool)]
        chosen = usable if not usable.empty else own
        if chosen.empty:
            continue
        height = chosen[metric].mean() / scale
        flagged = usable.empty
        ax.bar(
            i,
            height,
            color=color(target),
            alpha=0.35 if flagged else 0.85,
            edgecolor=color(target),
            hatch=FLAG_HATCH if flagged else None,
            width=0.65,
        )
        ax.annotate(
            f"{height:,.{digits}f}",
            (i, height),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
        for _, row in own.iterrows():
            is_flagged = not bool(row["usable"])
            ax.plot(
                i + 0.18,
                row[metric] / scale,
                marker="o",
                markersize=5,
                linestyle="",
                markerfacecolor="white" if is_flagged else "black",
                markeredgecolor="red" if is_flagged else "black",
            )
        flags = sorted({f for f in own["flag"] if isinstance(f, str)})
        if flags:
            ax.annotate(
                "\n".join(flags),
                (i, 0),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="red",
                rotation=90,
                va="bottom",
            )
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels(targets, rotation=15)
    ax.grid(True, axis="y", alpha=0.3)
    return targets


def throughput(wide: pd.DataFrame, cells: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """Requests per second per strategy, with each cell's saturation verdict under its bar."""
    rows = select(wide, scenario, variant, mode)
    group_cells = select(cells, scenario, variant, mode)
    figure, ax = new_figure(figsize=(9, 4.8))
    if rows.empty or "throughput_per_s" not in rows:
        empty_panel(ax, "no throughput measured in these cells")
        return figure
    targets = _bars(ax, rows, "throughput_per_s")
    # The sends the generator meant to make, counted: what the answers are held against.
    column = "intended_rate_per_s"
    intended = rows[column].dropna() if column in rows else pd.Series(dtype=float)
    if not intended.empty:
        label = f"intended (fixed) rate {intended.mean():,.0f}/s"
        ax.axhline(intended.mean(), color="black", linestyle="--", linewidth=1, label=label)
        ax.legend(loc="lower right", fontsize=8, framealpha=1)
    ax.margins(y=0.1)
    labels = []
    for target in targets:
        verdicts = group_cells[group_cells["target"] == target]["saturation"].fillna("–").tolist()
        shares = group_cells[group_cells["target"] == target]["generator_cpu_share"].dropna()
        cpu = f"\ngenerator CPU {shares.mean():.0%}" if not shares.empty else ""
        labels.append(f"{target}\n{', '.join(sorted(set(verdicts)))}{cpu}")
    ax.set_xticklabels(labels, rotation=0, fontsize=8)
    ax.set_ylabel("requests per second (achieved)")
    note = (
        "Bar = mean of usable repetitions, dot = one repetition (hollow red = flagged, not averaged in). "
        "Under each bar: saturation verdict — generator-bound means Locust, not the target, was the limit."
    )
    title(figure, "Throughput", scenario, variant, mode, note)
    return figure


def cache_effect(wide: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """Hit ratio per cache layer (and browser-local share), and origin reads per second."""
    rows = select(wide, scenario, variant, mode)
    figure, (left, right) = new_figure(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    if rows.empty:
        empty_panel(left, "no cells")
        empty_panel(right, "no cells")
        return figure
    layers = [
        ("l1_hit_ratio", "L1 hit ratio"),
        ("redis_hit_ratio", "Redis hit ratio"),
        ("browser_local_share", "answered by browser cache"),
    ]
    layers = [(m, label) for m, label in layers if m in rows and rows[m].notna().any()]
    targets = strategy_order(rows["target"])
    if layers:
        width = 0.8 / len(layers)
        hatches = (None, "..", "xx")
        for j, (metric, label) in enumerate(layers):
            for i, target in enumerate(targets):
                own = rows[(rows["target"] == target) & rows[metric].notna()]
                usable = own[own["usable"].astype(bool)]
                chosen = usable if not usable.empty else own
                if chosen.empty:
                    continue
                value = chosen[metric].mean()
                x = i - 0.4 + width * (j + 0.5)
                left.bar(
                    x,
                    value,
                    width=width * 0.95,
                    color=color(target),
                    hatch=hatches[j],
                    edgecolor="white",
                    alpha=0.4 if usable.empty else 0.9,
                )
                left.annotate(
                    f"{value:.0%}",
                    (x, value),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
            left.bar(np.nan, np.nan, color="#999999", hatch=hatches[j], edgecolor="white", label=label)
        for i, target in enumerate(targets):
            own = rows[rows["target"] == target]
            if not any(own[m].notna().any() for m, _ in layers):
                left.text(i, 0.02, "no cache\nlayer", ha="center", va="bottom", fontsize=8, color="#777777")
        left.set_ylim(0, 1.08)
        left.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        left.legend(fontsize=8, loc="upper left")
    else:
        empty_panel(left, "no cache layers in these cells")
    left.set_xticks(range(len(targets)))
    left.set_xticklabels(targets, rotation=15)
    left.set_ylabel("share of lookups answered by the layer")
    left.set_title("Hit ratio per layer", fontsize=10)
    left.grid(True, axis="y", alpha=0.3)
    if "origin_reads_per_s" in rows:
        _bars(right, rows, "origin_reads_per_s")
        base = rows[(rows["target"] == BASELINE) & rows["usable"].astype(bool)]["origin_reads_per_s"]
        if not base.empty:
            right.axhline(base.mean(), color=color(BASELINE), linestyle=":", linewidth=1)
    else:
        empty_panel(right, "no /metrics from these targets")
    right.set_ylabel("origin (SQLite) reads per second")
    right.set_title("Origin load", fontsize=10)
    note = "Hit ratio = hits / (hits + misses) of the layer's own lookups in the measured phase (/metrics)."
    title(figure, "Cache effect", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure
