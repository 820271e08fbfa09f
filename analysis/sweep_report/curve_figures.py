"""The sweep's first figures: hit ratio against L1 size, one line per TTL, and beside it staleness
against TTL; the recommendation starred on both.

Drawn from the rows of the sweep's candidates (any sweep whose axes include ``l1_max_entries`` or
``l1_ttl_s``), plus, when the sweep ran the one-pass curves (``cachebench sweep --trace``), the
exact size-bound and TTL-bound curves beside them. ``analysis.sweep_report.sweep_page`` puts them
at the top of the page.
"""

from __future__ import annotations

from typing import Any

from analysis.rendering import new_figure, to_png
from analysis.sweep_report.sweep_figures import value_label
from cachebench.results.sweep_record import CurvesRecord

SIZE_AXIS = "l1_max_entries"
TTL_AXIS = "l1_ttl_s"


def _panels(points: list[dict[str, Any]], axes: list[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """One panel per value of the first varied axis besides size and TTL (at most three)."""
    others = [a for a in axes if a not in (SIZE_AXIS, TTL_AXIS) and len({str(p.get(a)) for p in points}) > 1]
    if not others:
        return [("", points)]
    axis = others[0]
    values = list(dict.fromkeys(str(p.get(axis)) for p in points))[:3]
    return [(f"{axis}={v}", [p for p in points if str(p.get(axis)) == v]) for v in values]


def size_curves_png(
    points: list[dict[str, Any]], axes: list[str], curves: CurvesRecord | None = None, horizon: str = ""
) -> bytes | None:
    """Hit ratio against size per TTL (candidates only); None when size is not an axis."""
    shown = [p for p in points if p.get("candidate") and p.get("hit_ratio") is not None]
    if SIZE_AXIS not in axes or not shown:
        return None
    panels = _panels(shown, axes)
    columns = len(panels) + (1 if curves else 0)
    figure, grid = new_figure(1, columns, figsize=(5.2 * columns, 4.2), squeeze=False)
    for panel, (title, chosen) in zip(grid[0], panels, strict=False):
        ttls = sorted({p.get(TTL_AXIS) for p in chosen}, key=lambda v: (v is None, v or 0))
        for ttl in ttls:
            line = sorted((p for p in chosen if p.get(TTL_AXIS) == ttl), key=lambda p: p[SIZE_AXIS])
            label = f"TTL {value_label(ttl)} s" if ttl is not None else "no TTL"
            panel.plot([p[SIZE_AXIS] for p in line], [p["hit_ratio"] for p in line], marker=".", label=label)
        if curves:
            panel.plot(curves.sizes, curves.hit_ratio_by_size, "k--", lw=1.4, label="no TTL (exact)")
        for point in chosen:
            if point.get("recommended"):
                _star(panel, point[SIZE_AXIS], point["hit_ratio"])
        panel.set_xscale("log")
        panel.set_xlabel("L1 size (entries)")
        panel.set_ylabel("hit ratio")
        panel.set_ylim(0, 1)
        panel.grid(alpha=0.3)
        panel.set_title(", ".join(filter(None, [horizon, title])) or "hit ratio against L1 size", fontsize=9)
        panel.legend(fontsize=6, loc="upper left", ncol=3)
    if curves:
        panel = grid[0][-1]
        panel.plot(curves.ttls_s, curves.hit_ratio_by_ttl, marker="o", c="tab:purple")
        panel.set_xscale("log")
        panel.set_xlabel("L1 TTL (s), no size bound")
        panel.set_ylim(0, 1)
        panel.grid(alpha=0.3)
        panel.set_title("hit ratio against TTL (exact, one pass)", fontsize=9)
    figure.tight_layout()
    return to_png(figure)


def _star(panel: Any, x: float, y: float) -> None:
    panel.scatter([x], [y], marker="*", s=280, c="gold", edgecolors="black", zorder=5, label="recommended")


def staleness_png(
    points: list[dict[str, Any]], axes: list[str], age_metric: str, horizon: str = ""
) -> bytes | None:
    """Stale-read ratio and staleness age against TTL at the recommended size (one line per value of
    the first other varied axis, e.g. the invalidation mode); None when TTL is not an axis."""
    shown = [p for p in points if p.get("candidate") and p.get("stale_read_ratio") is not None]
    best = next((p for p in shown if p.get("recommended")), None)
    if TTL_AXIS not in axes or not shown:
        return None
    if SIZE_AXIS in axes:  # one size: the recommended one, else the largest
        size = best[SIZE_AXIS] if best else max(p[SIZE_AXIS] for p in shown)
        shown = [p for p in shown if p[SIZE_AXIS] == size]
    figure, panels = new_figure(1, 2, figsize=(10.4, 4.2))
    for panel, metric, label in (
        (panels[0], "stale_read_ratio", "stale-read ratio"),
        (panels[1], age_metric, age_metric.replace("_", " ").replace(" s", " (s)")),
    ):
        for title, chosen in _panels(shown, axes):
            line = sorted((p for p in chosen if p.get(metric) is not None), key=lambda p: p[TTL_AXIS])
            xs, ys = [p[TTL_AXIS] for p in line], [p[metric] for p in line]
            panel.plot(xs, ys, marker=".", label=title or "all")
        if best is not None and best.get(metric) is not None:
            _star(panel, best[TTL_AXIS], best[metric])
        panel.set_xscale("log")
        panel.set_xlabel("L1 TTL (s)")
        panel.set_ylabel(label)
        panel.grid(alpha=0.3)
        panel.legend(fontsize=6, loc="upper left")
    size_text = f", L1 size {value_label(shown[0][SIZE_AXIS])}" if SIZE_AXIS in axes else ""
    figure.suptitle(f"staleness against TTL{size_text}" + (f" ({horizon})" if horizon else ""), fontsize=9)
    figure.tight_layout()
    return to_png(figure)
