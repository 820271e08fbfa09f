"""What every run figure shares: strategy colours, group rows, titles, empty panels, legend names."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STRATEGY_COLORS = {
    "nocache": "#6b6b6b",
    "l1": "#1f77b4",
    "redis": "#d62728",
    "hierarchical": "#9467bd",
    "client-headers": "#2ca02c",
}
EXTRA_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
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


def title(figure: Figure, what: str, scenario: str, variant: str, mode: str, note: str = "") -> None:
    where = f"{scenario} · {mode}" + (f" · settings {variant}" if variant != "default" else "")
    figure.suptitle(f"{what} — {where}", fontsize=12, fontweight="bold", x=0.01, ha="left")
    if note:
        # Wrapped by hand: matplotlib's wrap=True ignores the figure's right edge under bbox_inches="tight".
        text = textwrap.fill(note, width=int(figure.get_figwidth() * 15))
        figure.text(0.01, -0.01, text, fontsize=8, color="#444444", ha="left", va="top")


def empty_panel(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def legend_name(target: str, flag: object, n: int | None = None, left_out: object = None) -> str:
    detail = [f"n={n}"] if n is not None else []
    if isinstance(left_out, str) and left_out:
        detail.append(left_out)
    name = target + (f" ({'; '.join(detail)})" if detail else "")
    return name + (f" — {flag}" if isinstance(flag, str) and flag else "")
