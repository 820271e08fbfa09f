"""One matplotlib figure per question, for one comparison group (scenario × settings variant × mode).

Every function takes the tidy frames of ``analysis.load`` and returns a ``Figure`` (nothing is
shown or saved here; ``analysis.rendering.to_png`` encodes one). Each strategy keeps its colour in
every figure; flagged measurements (generator-bound, incomplete, failed, erroring) are drawn
hatched or dashed and named in the legend, never blended in silently.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from analysis.load import BASELINE, strategy_order
from analysis.rendering import new_figure

STRATEGY_COLORS = {
    "nocache": "#6b6b6b",
    "l1": "#1f77b4",
    "redis": "#d62728",
    "hierarchical": "#9467bd",
    "client-headers": "#2ca02c",
}
EXTRA_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
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
FLAG_HATCH = "///"


def color(target: str) -> str:
    if target in STRATEGY_COLORS:
        return STRATEGY_COLORS[target]
    return EXTRA_COLORS[sum(map(ord, target)) % len(EXTRA_COLORS)]


def select(frame: pd.DataFrame, scenario: str, variant: str, mode: str) -> pd.DataFrame:
    """The rows of one comparison group."""
    if frame.empty:
        return frame
    mask = (frame["scenario"] == scenario) & (frame["variant"] == variant) & (frame["mode"] == mode)
    return frame[mask]


def _title(figure: Figure, what: str, scenario: str, variant: str, mode: str, note: str = "") -> None:
    where = f"{scenario} · {mode}" + (f" · settings {variant}" if variant != "default" else "")
    figure.suptitle(f"{what} — {where}", fontsize=12, fontweight="bold", x=0.01, ha="left")
    if note:
        # Wrapped by hand: matplotlib's wrap=True ignores the figure's right edge under bbox_inches="tight".
        text = textwrap.fill(note, width=int(figure.get_figwidth() * 15))
        figure.text(0.01, -0.01, text, fontsize=8, color="#444444", ha="left", va="top")


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend_name(target: str, flag: object, n: int | None = None, left_out: object = None) -> str:
    detail = [f"n={n}"] if n is not None else []
    if isinstance(left_out, str) and left_out:
        detail.append(left_out)
    name = target + (f" ({'; '.join(detail)})" if detail else "")
    return name + (f" — {flag}" if isinstance(flag, str) and flag else "")


# -- latency ---------------------------------------------------------------------------------


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
        _empty(ax, "no latency histograms in these cells")
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
            label=_legend_name(target, flag, int(own["repetitions"].iloc[0]), own["left_out"].iloc[0]),
        )
    _percentile_axis(ax, rows["count"].max())
    _latency_axis(ax)
    ax.legend(title="strategy (repetitions)", fontsize=9, loc="lower right")
    _title(figure, "Latency percentile spectrum, all requests", scenario, variant, mode, _kind_note(rows))
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
        _empty(flat[0], "no latency histograms in these cells")
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
    _title(figure, "Latency by cache outcome (share of requests)", scenario, variant, mode, _kind_note(rows))
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return figure


# -- throughput, cache effect, memory -----------------------------------------------------------


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
        _empty(ax, "no throughput measured in these cells")
        return figure
    targets = _bars(ax, rows, "throughput_per_s")
    offered = rows["offered_rate_per_s"].dropna() if "offered_rate_per_s" in rows else pd.Series(dtype=float)
    if not offered.empty:
        label = f"offered (fixed) rate {offered.mean():,.0f}/s"
        ax.axhline(offered.mean(), color="black", linestyle="--", linewidth=1, label=label)
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
    _title(figure, "Throughput", scenario, variant, mode, note)
    return figure


def cache_effect(wide: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """Hit ratio per cache layer (and browser-local share), and origin reads per second."""
    rows = select(wide, scenario, variant, mode)
    figure, (left, right) = new_figure(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    if rows.empty:
        _empty(left, "no cells")
        _empty(right, "no cells")
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
        _empty(left, "no cache layers in these cells")
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
        _empty(right, "no /metrics from these targets")
    right.set_ylabel("origin (SQLite) reads per second")
    right.set_title("Origin load", fontsize=10)
    note = "Hit ratio = hits / (hits + misses) of the layer's own lookups in the measured phase (/metrics)."
    _title(figure, "Cache effect", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure


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
                _legend_name(target, part["flag"].iloc[0]) if repetition == own["repetition"].min() else None
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
        _empty(rss_ax, "no memory samples")
    else:
        rss_ax.legend(fontsize=7)
    rss_ax.set_title("Target RSS per worker process", fontsize=10)
    rss_ax.set_ylabel("MB")
    rss_ax.set_xlabel("seconds (0 = first full second at full load)")
    if ts.empty or not _time_lines(redis_ax, ts, "redis_used_memory_bytes", 1e6):
        _empty(redis_ax, "no Redis in these cells")
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
        _empty(entry_ax, "no server-side cache entries")
    entry_ax.set_title("Bytes per cached entry (end of run)", fontsize=10)
    note = (
        "RSS per worker = target RSS / worker processes, sampled each second. L1 bytes count cached "
        "values only (cachebench_l1_bytes / cachebench_l1_entries), not Python's per-object overhead."
    )
    has_redis = "redis_used_memory_bytes_max" in rows and rows["redis_used_memory_bytes_max"].notna().any()
    if has_redis and not any(m == "redis_bytes_per_key" for m, _ in entries):
        note += " Redis bytes per key needs the key count, which this run's samples do not record."
    _title(figure, "Memory", scenario, variant, mode, note)
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
            _empty(ax, f"no {label.splitlines()[0]} recorded")
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
    _title(figure, "Over the run", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    return figure


def browser(frame: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """browser_clients: how requests were answered (locally, 304, full) and the bytes saved."""
    rows = select(frame, scenario, variant, mode)
    figure, (left, right) = new_figure(1, 2, figsize=(11, 4.4))
    if rows.empty:
        _empty(left, "no browser-cache counts (browser_clients scenario only)")
        _empty(right, "")
        return figure
    targets = strategy_order(rows["target"])
    parts = [
        ("browser_local_share", "answered locally (no request sent)", "#2ca02c"),
        ("browser_not_modified_share", "304 Not Modified (no body)", "#bcbd22"),
        ("browser_network_share", "full response", "#c7c7c7"),
    ]
    means = rows.groupby("target")[
        [p for p, _, _ in parts] + ["browser_bytes_saved", "browser_bytes_saved_share"]
    ].mean()
    bottom = np.zeros(len(targets))
    for metric, label, fill in parts:
        values = np.array([means.loc[t, metric] if t in means.index else 0.0 for t in targets], dtype=float)
        values = np.nan_to_num(values)
        left.bar(range(len(targets)), values, bottom=bottom, color=fill, label=label, edgecolor="white")
        for i, (value, base) in enumerate(zip(values, bottom, strict=True)):
            if value >= 0.04:
                left.text(i, base + value / 2, f"{value:.0%}", ha="center", va="center", fontsize=8)
        bottom += values
    left.set_xticks(range(len(targets)))
    left.set_xticklabels(targets)
    left.set_ylim(0, 1)
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    left.set_ylabel("share of the browsers' item reads")
    left.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.12), ncols=3)
    left.set_title("How the browsers' reads were answered", fontsize=10)
    raw = [means.loc[t, "browser_bytes_saved"] if t in means.index else 0.0 for t in targets]
    scale, unit = (1e6, "MB") if max(raw, default=0) >= 1e6 else (1e3, "kB")
    saved = [value / scale for value in raw]
    share = [means.loc[t, "browser_bytes_saved_share"] if t in means.index else np.nan for t in targets]
    right.bar(range(len(targets)), saved, color=[color(t) for t in targets], alpha=0.85)
    for i, (value, fraction) in enumerate(zip(saved, share, strict=True)):
        text = f"{value:,.1f} {unit}" + (f"\n({fraction:.0%} of body bytes)" if np.isfinite(fraction) else "")
        right.annotate(text, (i, value), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8)
    right.set_xticks(range(len(targets)))
    right.set_xticklabels(targets)
    right.set_ylabel(f"response body {unit} not sent (mean per cell)")
    right.set_title("Bytes saved by local answers and 304s", fontsize=10)
    right.grid(True, axis="y", alpha=0.3)
    right.margins(y=0.2)
    note = (
        "Each simulated user keeps a private HTTP cache (max-age, ETag revalidation); mean over repetitions."
    )
    _title(figure, "Browser caches", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure


def group_figures(
    spectrum: pd.DataFrame,
    wide: pd.DataFrame,
    cells: pd.DataFrame,
    series: pd.DataFrame,
    browser_frame: pd.DataFrame,
    scenario: str,
    variant: str,
    mode: str,
) -> list[tuple[str, str, Figure]]:
    """Every figure of one group as (slug, caption, figure), browser only where there is data."""
    made: list[tuple[str, str, Figure]] = [
        ("latency", "Latency percentile spectrum", latency_spectrum(spectrum, scenario, variant, mode)),
        (
            "latency-outcome",
            "Latency by cache outcome",
            latency_by_outcome(spectrum, scenario, variant, mode),
        ),
        ("throughput", "Throughput and saturation", throughput(wide, cells, scenario, variant, mode)),
        ("cache", "Hit ratio and origin load", cache_effect(wide, scenario, variant, mode)),
        ("memory", "Memory", memory(wide, series, scenario, variant, mode)),
        ("timeseries", "Over the run", timeseries(series, scenario, variant, mode)),
    ]
    if not select(browser_frame, scenario, variant, mode).empty:
        made.append(("browser", "Browser caches", browser(browser_frame, scenario, variant, mode)))
    return made
