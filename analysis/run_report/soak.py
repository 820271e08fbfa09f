"""Soak: does memory keep growing once the caches are full? A least-squares slope per memory series.

For each cell measured long enough (``MIN_SAMPLES`` per-second samples), over the measured phase
(which starts after the warm-up): the slope of the largest target process's RSS (a worker), of
Redis ``used_memory`` and of L1's bytes, in MB per minute with a 95% interval. A series is
flagged when it grows faster than what its cache holds can explain: its interval lies above
the upper end of the cache's own slope (L1 bytes per worker for RSS, Redis's keys at their mean
size for Redis), by more than ``TOLERANCE_MB_PER_MIN``. A cache still filling grows; one at
its bound (entries or TTL) stays flat, so growth beyond it is a leak, not the cache.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import rendering
from analysis.results_frames import Run, strategy_order
from cachebench.results import FAULTS_FILE, SAMPLE

MIN_SAMPLES = 30
TOLERANCE_MB_PER_MIN = 0.05
MB = 1e6
#: Two-sided 95% Student t quantiles by degrees of freedom (the normal's 1.96 beyond 120).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 8: 2.31, 10: 2.23, 15: 2.13, 20: 2.09,
        30: 2.04, 60: 2.00, 120: 1.98}  # fmt: skip


def t95(dof: int) -> float:
    """The quantile for ``dof`` degrees of freedom (the nearest tabulated one below: conservative)."""
    if dof > 120:
        return 1.96
    return _T95[max(k for k in _T95 if k <= max(dof, 1))]


@dataclass(frozen=True)
class Slope:
    """A least-squares slope in MB per minute and its 95% interval."""

    mb_per_min: float
    low: float
    high: float
    samples: int


def slope(t_s: np.ndarray | pd.Series, values_bytes: np.ndarray | pd.Series) -> Slope | None:
    """The ordinary least-squares slope of bytes over seconds, with its t interval; None below 3 points."""
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(values_bytes, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep] / 60.0, y[keep] / MB
    if len(t) < 3 or np.ptp(t) == 0:
        return None
    t_centered = t - t.mean()
    sxx = float((t_centered**2).sum())
    beta = float((t_centered * (y - y.mean())).sum() / sxx)
    residuals = y - (y.mean() + beta * t_centered)
    standard_error = float(np.sqrt((residuals**2).sum() / (len(t) - 2) / sxx))
    half = t95(len(t) - 2) * standard_error
    return Slope(beta, beta - half, beta + half, len(t))


def beyond_bound(memory: Slope, cache: Slope | None) -> bool:
    """Memory grows significantly faster than the cache's own contents do."""
    explained = max(cache.high, 0.0) if cache is not None else 0.0
    return memory.low > explained + TOLERANCE_MB_PER_MIN


def cell_slopes(samples: pd.DataFrame) -> list[dict[str, object]]:
    """Per memory series of one cell: its slope, the cache's slope it is held against, the flag."""
    if samples.empty or SAMPLE.t_s not in samples or len(samples) < MIN_SAMPLES:
        return []
    t = samples[SAMPLE.t_s]
    workers = samples.get(SAMPLE.target_processes, pd.Series(1, index=samples.index)).clip(lower=1)
    l1_bytes, redis_bytes = samples.get(SAMPLE.l1_bytes), samples.get(SAMPLE.redis_used_memory_bytes)
    series = []
    if SAMPLE.target_rss_max_process_bytes in samples:
        l1 = slope(t, l1_bytes / workers) if l1_bytes is not None else None
        series.append(("worker RSS", samples[SAMPLE.target_rss_max_process_bytes], l1, "L1 bytes per worker"))
    if redis_bytes is not None and redis_bytes.notna().any():
        keys = samples.get(SAMPLE.redis_keys)
        per_key = (redis_bytes / keys.where(keys > 0)).mean() if keys is not None else None
        held = slope(t, keys * per_key) if keys is not None and pd.notna(per_key) else None
        series.append(("Redis used_memory", redis_bytes, held, "Redis keys × mean size"))
    if l1_bytes is not None and l1_bytes.notna().any():
        series.append(("L1 bytes", l1_bytes, None, "none (it is the cache)"))
    rows = []
    for name, values, cache, against in series:
        found = slope(t, values)
        if found is None:
            continue
        flagged = beyond_bound(found, cache) if name != "L1 bytes" else False
        rows.append({"series": name, "slope": found, "cache": cache, "against": against, "flagged": flagged})
    return rows


def build(run: Run) -> list[tuple[str, str, list[dict[str, object]]]]:
    """(target, cell, slopes) for every cell with enough samples, in strategy order."""
    found = []
    cells = run.cells
    for target in strategy_order(cells["target"]):
        for cell in cells[cells["target"] == target].itertuples(index=False):
            if (run.cell_dir(cell.cell) / FAULTS_FILE).exists():
                continue  # memory under faults is the fault section's, not a soak
            slopes = cell_slopes(run.samples(cell.cell))
            if slopes:
                found.append((target, cell.cell, slopes))
    return found


def _slope_text(found: Slope | None) -> str:
    if found is None:
        return "–"
    return f"{found.mb_per_min:+.3f} [{found.low:+.3f}, {found.high:+.3f}]"


def _rows(section: list[tuple[str, str, list[dict[str, object]]]]) -> list[list[str]]:
    rows = []
    for target, _, slopes in section:
        for item in slopes:
            flag = "grows beyond the cache's bound" if item["flagged"] else ""
            rows.append([target, str(item["series"]), _slope_text(item["slope"]), str(item["against"]),
                         _slope_text(item["cache"]), flag])  # fmt: skip
    return rows


HEADER = ["strategy", "memory", "MB/min [95% interval]", "held against", "its MB/min", "flag"]
INTRO = (
    "Memory over the measured phase (after warm-up): least-squares slope in MB per minute with its 95% "
    "interval, held against the growth of what the cache itself holds; flagged when memory grows "
    f"faster by more than {TOLERANCE_MB_PER_MIN} MB/min."
)


def render_html(section: list[tuple[str, str, list[dict[str, object]]]]) -> list[str]:
    rows = [[html.escape(c) for c in row] for row in _rows(section)]
    classes = ["flagged" if row[-1] else None for row in rows]
    return [
        '<h2 id="soak">Memory over time (soak)</h2>',
        f"<p>{html.escape(INTRO)}</p>",
        rendering.table(HEADER, rows, classes),
    ]


def render_markdown(section: list[tuple[str, str, list[dict[str, object]]]]) -> list[str]:
    out = [
        "",
        "## Memory over time (soak)",
        "",
        INTRO,
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    out += [
        "| " + " | ".join(f"**{c}**" if c and i == 5 else c for i, c in enumerate(row)) + " |"
        for row in _rows(section)
    ]
    return out
