"""The report's table of every cell: status, saturation verdict, flag and raw figures."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from analysis import rendering

CELL_COLUMNS = [
    ("throughput_per_s", "req/s", 0, 1.0),
    ("p50_ms", "p50 ms", 2, 1.0),
    ("p99_ms", "p99 ms", 1, 1.0),
    ("p999_ms", "p99.9 ms", 1, 1.0),
    ("origin_reads_per_s", "origin reads/s", 0, 1.0),
    ("l1_hit_ratio", "L1 hit", 2, 1.0),
    ("redis_hit_ratio", "Redis hit", 2, 1.0),
    ("target_rss_bytes_max", "peak RSS MB", 1, 1e6),
    ("error_ratio", "errors", 3, 1.0),
]


def cells_table(cells: pd.DataFrame, wide: pd.DataFrame) -> str:
    """Every cell with its status, verdict and raw figures — flagged cells highlighted."""
    wide = wide.set_index("cell") if not wide.empty else pd.DataFrame()
    header = ["#", "cell", "status", "saturation", "flag", *(label for _, label, _, _ in CELL_COLUMNS)]
    rows, classes = [], []
    for cell in cells.itertuples(index=False):
        values = []
        for metric, _, digits, scale in CELL_COLUMNS:
            value = wide.at[cell.cell, metric] if cell.cell in wide.index and metric in wide else np.nan
            values.append("–" if pd.isna(value) else f"{value / scale:,.{digits}f}")
        flag = cell.flag if isinstance(cell.flag, str) else ""
        if flag and isinstance(cell.reason, str):
            flag += f" ({cell.reason})"
        rows.append(
            [
                str(cell.index),
                f"<code>{html.escape(cell.cell)}</code>",
                cell.status,
                str(cell.saturation or "–"),
                html.escape(flag),
                *values,
            ]
        )
        classes.append("flagged" if flag else None)
    return rendering.table(header, rows, classes)
