"""The sweep's figures: heatmaps over the TTL × size grid and the Pareto front, as PNG bytes.

``analysis.sweep_report.sweep_page`` writes them to files and embeds them in its page.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from matplotlib.patches import Rectangle

from analysis.rendering import new_figure, to_png

#: Heatmaps drawn per source: (metric, title, value format, higher is better).
HEATMAPS = {
    "live": [
        ("hit_ratio", "hit ratio (reads a cache answered)", "{:.2f}", True),
        ("p99_ms", "p99 latency (ms)", "{:.1f}", False),
        ("stale_read_ratio", "stale-read ratio", "{:.3f}", False),
        ("staleness_age_max_s", "staleness age, max (s)", "{:.1f}", False),
        ("memory_bytes", "memory the caches hold (MB)", "{:.1f}", False),
    ],
    "simulated": [
        ("hit_ratio", "hit ratio", "{:.2f}", True),
        ("stale_read_ratio", "stale-read ratio", "{:.3f}", False),
        ("staleness_age_max_s", "staleness age, max (s)", "{:.1f}", False),
        ("memory_bytes", "memory the caches hold (MB)", "{:.1f}", False),
    ],
}
_SCALE = {"memory_bytes": 1e-6}


def _varied(points: list[dict[str, Any]], axes: list[str]) -> list[str]:
    return [a for a in axes if len({_key(p.get(a)) for p in points}) > 1]


def _key(value: Any) -> Any:
    return str(value) if isinstance(value, str | bool) or value is None else float(value)


def _sorted_values(points: list[dict[str, Any]], axis: str) -> list[Any]:
    values = {_key(p.get(axis)): p.get(axis) for p in points}
    return [values[k] for k in sorted(values, key=lambda k: (isinstance(k, str), k))]


def value_label(value: Any) -> str:
    """How a setting's value reads on an axis or in a table: ``0.5``, ``1000``, ``delete``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def heatmap_png(
    points: list[dict[str, Any]], axes: list[str], metric: str, title: str, fmt: str, higher_is_better: bool
) -> bytes | None:
    """One PNG: ``metric`` over the first two varied axes, one panel per value of the others.
    Points on the Pareto front are outlined, the recommended one is starred."""
    varied = _varied(points, axes)
    if not varied or all(p.get(metric) is None for p in points):
        return None
    x_axis = varied[0]
    y_axis = varied[1] if len(varied) > 1 else None
    facet_axes = varied[2:]
    facets = list(itertools.product(*(_sorted_values(points, a) for a in facet_axes))) or [()]
    xs = _sorted_values(points, x_axis)
    ys = _sorted_values(points, y_axis) if y_axis else [None]
    columns = min(len(facets), 3)
    rows = (len(facets) + columns - 1) // columns
    figure, grid = new_figure(
        rows,
        columns,
        figsize=(max(5.5, 0.75 * len(xs) * columns + 1.6), 0.5 * len(ys) * rows + 1.4 * rows + 0.6),
        squeeze=False,
    )
    scale = _SCALE.get(metric, 1.0)
    known = [p[metric] * scale for p in points if p.get(metric) is not None]
    low, high = min(known), max(known)
    colormap = "viridis" if higher_is_better else "viridis_r"
    for panel, facet in itertools.zip_longest(grid.flat, facets):
        if facet is None:
            panel.axis("off")
            continue
        chosen = [
            p
            for p in points
            if all(_key(p.get(a)) == _key(v) for a, v in zip(facet_axes, facet, strict=True))
        ]
        values = np.full((len(ys), len(xs)), np.nan)
        marks: list[tuple[int, int, dict]] = []
        for point in chosen:
            col = [_key(x) for x in xs].index(_key(point.get(x_axis)))
            row = [_key(y) for y in ys].index(_key(point.get(y_axis))) if y_axis else 0
            if point.get(metric) is not None:
                values[row, col] = point[metric] * scale
            marks.append((row, col, point))
        image = panel.imshow(
            values,
            cmap=colormap,
            vmin=low,
            vmax=high if high > low else low + 1e-9,
            aspect="auto",
            origin="lower",
        )
        for row, col, point in marks:
            value = values[row, col]
            text = "–" if np.isnan(value) else fmt.format(value)
            if point.get("recommended"):
                text = "★ " + text
            panel.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white"
                if not np.isnan(value) and _dark(value, low, high, higher_is_better)
                else "black",
            )
            if point.get("on_front"):
                panel.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, lw=1.6, ec="red"))
        panel.set_xticks(range(len(xs)), [value_label(x) for x in xs], fontsize=7)
        panel.set_yticks(range(len(ys)), [value_label(y) for y in ys] if y_axis else [""], fontsize=7)
        panel.set_xlabel(x_axis, fontsize=8)
        if y_axis:
            panel.set_ylabel(y_axis, fontsize=8)
        if facet_axes:
            panel.set_title(
                ", ".join(f"{a}={value_label(v)}" for a, v in zip(facet_axes, facet, strict=True)), fontsize=8
            )
        figure.colorbar(image, ax=panel, shrink=0.8)
    figure.suptitle(f"{title}\nred outline: on the Pareto front · ★ recommended", fontsize=9)
    figure.tight_layout()
    return to_png(figure)


def _dark(value: float, low: float, high: float, higher_is_better: bool) -> bool:
    share = (value - low) / (high - low) if high > low else 0.5
    return (share < 0.5) if higher_is_better else (share > 0.5)


def front_png(candidates: list[dict[str, Any]], staleness_metric: str) -> bytes | None:
    """Hit ratio against the stale-read ratio (an objective) and against the staleness age (the
    constraint), colour = memory; the front outlined in red, the recommendation starred."""
    shown = [
        p for p in candidates if p.get("hit_ratio") is not None and p.get("stale_read_ratio") is not None
    ]
    if not shown:
        return None
    figure, panels = new_figure(1, 2, figsize=(12, 4.6), sharey=True)
    memory = [(p.get("memory_bytes") or 0) / 1e6 for p in shown]
    low, high = min(memory), max(memory) if max(memory) > min(memory) else min(memory) + 1
    scatter = None
    for panel, x_metric in zip(panels, ("stale_read_ratio", staleness_metric), strict=True):
        for source, marker in (("live", "o"), ("simulated", "s")):
            chosen = [i for i, p in enumerate(shown) if p["source"] == source and p.get(x_metric) is not None]
            if not chosen:
                continue
            scatter = panel.scatter(
                [shown[i][x_metric] for i in chosen],
                [shown[i]["hit_ratio"] for i in chosen],
                c=[memory[i] for i in chosen],
                cmap="viridis_r",
                marker=marker,
                s=34,
                label=source,
                edgecolors=["red" if shown[i].get("on_front") else "none" for i in chosen],
                linewidths=1.4,
                vmin=low,
                vmax=high,
            )
        for point in shown:
            if point.get("recommended") and point.get(x_metric) is not None:
                panel.scatter(
                    [point[x_metric]],
                    [point["hit_ratio"]],
                    marker="*",
                    s=260,
                    c="gold",
                    edgecolors="black",
                    zorder=5,
                    label="recommended",
                )
        panel.set_xlabel(x_metric.replace("_", " "))
        panel.grid(alpha=0.3)
    panels[0].set_ylabel("hit ratio")
    panels[0].legend(fontsize=8, loc="lower right")
    if scatter is not None:
        figure.colorbar(scatter, ax=panels, label="memory (MB)")
    figure.suptitle(
        "Every candidate; red edge = Pareto front (hit ratio ↑, memory ↓, stale-read ratio ↓)", fontsize=9
    )
    return to_png(figure)
