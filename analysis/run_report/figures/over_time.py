"""Figures over the run, second by second: memory, and requests, p99 and the share cached."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from analysis.rendering import new_figure
from analysis.results_frames import strategy_order
from analysis.run_report.figures.style import color, empty_panel, legend_name, select, title
from cachebench.results import SAMPLE


def _time_lines(ax: Axes, series: pd.DataFrame, column: str, scale: float = 1.0) -> bool:
    drawn = False
    for target in strategy_order(series["target"]):
        own = series[(series["target"] == target)]
        for repetition, part in own.groupby("repetition"):
            part = part.dropna(subset=[column]) if column in part else part.iloc[0:0]
            if part.empty:
                continue
            flagged = not bool(part["usable"].iloc[0])
            label = (
                legend_name(target, part["flag"].iloc[0]) if repetition == own["repetition"].min() else None
            )
            ax.plot(
                part["t_s"],
                part[column] / scale,
                color=color(target),
                linewidth=1.5,
                linestyle="--" if flagged else "-",
                alpha=0.9 if repetition == 1 else 0.55,
                marker=".",
                markersize=4,
                label=label,
            )
            drawn = True
    return drawn


def _shade_outside_window(ax: Axes, series: pd.DataFrame) -> None:
    inside = series[series["in_window"].astype(bool)]["t_s"]
    if inside.empty:
        return
    low, high = series["t_s"].min(), series["t_s"].max()
    ax.axvspan(low - 0.5, inside.min() - 0.5, color="#dddddd", alpha=0.6, linewidth=0)
    ax.axvspan(inside.max() + 0.5, high + 0.5, color="#dddddd", alpha=0.6, linewidth=0)


def memory(wide: pd.DataFrame, series: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """Target RSS per worker and Redis used_memory over the run, and bytes per cached entry."""
    rows = select(wide, scenario, variant, mode)
    ts = select(series, scenario, variant, mode)
    figure, axes = new_figure(1, 3, figsize=(14, 4.4), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    rss_ax, redis_ax, entry_ax = axes
    if ts.empty or not _time_lines(rss_ax, ts, "target_rss_per_worker_bytes", 1e6):
        empty_panel(rss_ax, "no memory samples")
    else:
        rss_ax.legend(fontsize=7)
    rss_ax.set_title("Target RSS per worker process", fontsize=10)
    rss_ax.set_ylabel("MB")
    rss_ax.set_xlabel("seconds (0 = first full second at full load)")
    if ts.empty or not _time_lines(redis_ax, ts, SAMPLE.redis_used_memory_bytes, 1e6):
        empty_panel(redis_ax, "no Redis in these cells")
    else:
        redis_ax.legend(fontsize=7)
        redis_ax.set_ylabel("MB")
    redis_ax.set_title("Redis used_memory", fontsize=10)
    redis_ax.set_xlabel("seconds (0 = first full second at full load)")
    for ax in (rss_ax, redis_ax):
        ax.grid(True, alpha=0.3)
    entries = [
        ("l1_bytes_per_entry", "L1 values"),
        ("redis_bytes_per_key", "Redis per key"),
    ]
    entries = [(m, label) for m, label in entries if m in rows and rows[m].notna().any()]
    if entries:
        labels, values, colors = [], [], []
        for metric, label in entries:
            for target in strategy_order(rows["target"]):
                own = rows[(rows["target"] == target) & rows[metric].notna()]
                if own.empty:
                    continue
                labels.append(f"{target}\n{label}")
                values.append(own[metric].mean())
                colors.append(color(target))
        entry_ax.bar(range(len(values)), values, color=colors, alpha=0.85)
        for i, value in enumerate(values):
            entry_ax.annotate(
                f"{value:,.0f} B",
                (i, value),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        entry_ax.set_xticks(range(len(values)))
        entry_ax.set_xticklabels(labels, fontsize=8)
        entry_ax.set_ylabel("bytes per cached entry")
        entry_ax.grid(True, axis="y", alpha=0.3)
    else:
        empty_panel(entry_ax, "no server-side cache entries")
    entry_ax.set_title("Bytes per cached entry (end of run)", fontsize=10)
    note = (
        "RSS per worker = target RSS / worker processes, sampled each second. L1 bytes count cached "
        "values only (cachebench_l1_bytes / cachebench_l1_entries), not Python's per-object overhead."
    )
    has_redis = "redis_used_memory_bytes_max" in rows and rows["redis_used_memory_bytes_max"].notna().any()
    if has_redis and not any(m == "redis_bytes_per_key" for m, _ in entries):
        note += " Redis bytes per key needs the key count, which this run's samples do not record."
    title(figure, "Memory", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure


def timeseries(series: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """Requests/s, p99 and the share answered from a cache, second by second."""
    ts = select(series, scenario, variant, mode)
    figure, axes = new_figure(3, 1, figsize=(10, 8), sharex=True)
    p99 = ("p99_ms", "p99 (ms, HDR,\nper second)", 1.0)
    if "p99_ms" not in ts or ts["p99_ms"].isna().all():
        p99 = ("p99_ms_locust", "p99 (ms), Locust's\n10 s rolling window,\nrounded", 1.0)
    panels = [
        ("completed_per_s", "requests completed / s", 1.0),
        p99,
        ("cached_share", "share answered by a\ncache (L1, Redis, browser)", 1.0),
    ]
    for ax, (column, label, scale) in zip(axes, panels, strict=True):
        if ts.empty or not _time_lines(ax, ts, column, scale):
            empty_panel(ax, f"no {label.splitlines()[0]} recorded")
        else:
            _shade_outside_window(ax, ts[ts[column].notna()] if column in ts else ts)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(True, alpha=0.3)
    if "cached_share" in ts and ts["cached_share"].notna().any():
        axes[2].set_ylim(-0.02, 1.02)
        axes[2].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(
            handles,
            labels,
            fontsize=8,
            loc="lower left",
            bbox_to_anchor=(0, 1.01),
            frameon=False,
            ncols=min(5, len(handles)),
        )
    axes[-1].set_xlabel("seconds (0 = first full second with every user running)")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    note = (
        "Grey: ramp-up and wind-down, outside the window the headline rates use. "
        "The warm-up (unrecorded, same load) ran before t = 0, so caches start warm; "
        "a cached share that still changes shows the caches had not settled. "
        "Fainter lines = later repetitions."
    )
    title(figure, "Over the run", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    return figure
