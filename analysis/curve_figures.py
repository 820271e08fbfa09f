"""The sweep's first figure: hit ratio against L1 size, one line per TTL, the recommendation starred.

Drawn from the sweep's points (any sweep whose axes include ``l1_max_entries``), plus, when the
sweep ran the one-pass curves (``cachebench sweep --trace``), the exact size-bound and TTL-bound
curves beside them. ``analysis.sweep_report`` puts it at the top of the page.
"""

from __future__ import annotations

from typing import Any

from analysis.rendering import new_figure, to_png
from analysis.sweep_figures import value_label

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
    points: list[dict[str, Any]], axes: list[str], curves: dict[str, Any] | None = None
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
            panel.plot(curves["sizes"], curves["hit_ratio_by_size"], "k--", lw=1.4, label="no TTL (exact)")
        for point in chosen:
            if point.get("recommended"):
                panel.scatter([point[SIZE_AXIS]], [point["hit_ratio"]], marker="*", s=280, c="gold",
                              edgecolors="black", zorder=5, label="recommended")  # fmt: skip
        panel.set_xscale("log")
        panel.set_xlabel("L1 size (entries)")
        panel.set_ylabel("hit ratio")
        panel.set_ylim(0, 1)
        panel.grid(alpha=0.3)
        panel.set_title(title or "hit ratio against L1 size, one line per TTL", fontsize=9)
        panel.legend(fontsize=6, loc="upper left", ncol=3)
    if curves:
        panel = grid[0][-1]
        panel.plot(curves["ttls_s"], curves["hit_ratio_by_ttl"], marker="o", c="tab:purple")
        panel.set_xscale("log")
        panel.set_xlabel("L1 TTL (s), no size bound")
        panel.set_ylim(0, 1)
        panel.grid(alpha=0.3)
        panel.set_title("hit ratio against TTL (exact, one pass)", fontsize=9)
    figure.tight_layout()
    return to_png(figure)
