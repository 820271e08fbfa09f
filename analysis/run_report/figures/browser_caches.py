"""The browser_clients figure: how the browsers' reads were answered and what their caches saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.rendering import new_figure
from analysis.results_frames import strategy_order
from analysis.run_report.figures.style import color, empty_panel, select, title


def browser(frame: pd.DataFrame, scenario: str, variant: str, mode: str) -> Figure:
    """browser_clients: how requests were answered (locally, 304, full) and the bytes saved."""
    rows = select(frame, scenario, variant, mode)
    figure, (left, right) = new_figure(1, 2, figsize=(11, 4.4))
    if rows.empty:
        empty_panel(left, "no browser-cache counts (browser_clients scenario only)")
        empty_panel(right, "")
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
    title(figure, "Browser caches", scenario, variant, mode, note)
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure
