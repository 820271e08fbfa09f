"""Latency spectra: latency at many percentiles per strategy (or per cell) and cache outcome."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from hdrh.histogram import HdrHistogram

from analysis.hdr import SPECTRUM_PERCENTILES, add_by_outcome, merged_histograms, percentiles_us
from analysis.results_frames import CELL_KEY, Run, as_runs


def latency_spectrum(runs: Run | Sequence[Run], by: str = "strategy") -> pd.DataFrame:
    """Latency (ms) at ``SPECTRUM_PERCENTILES`` per cache outcome, with ``count`` requests.

    ``by="strategy"`` merges the histograms of a strategy's repetitions — only its usable ones
    when it has any, else its flagged ones, with ``flag`` saying so; ``by="cell"`` keeps cells apart.
    Percentiles beyond the data (above 1 - 1/count) are left out: they would only repeat the max.
    """
    if by not in ("strategy", "cell"):
        raise ValueError(f"by must be 'strategy' or 'cell', not {by!r}")
    rows = []
    for run in as_runs(runs):
        table = run.cells
        if table.empty:
            continue
        table = table[[_has_histograms(run, cell) for cell in table["cell"]]]
        keys = ["cell"] if by == "cell" else CELL_KEY
        for _, group in table.groupby(keys, sort=False):
            chosen = group[group["usable"]] if group["usable"].any() else group
            merged: dict[str, HdrHistogram] = {}
            for cell, kind in zip(chosen["cell"], chosen["latency_kind"], strict=True):
                for outcome, histogram in merged_histograms(run.latency(cell), kind).items():
                    add_by_outcome(merged, outcome, histogram)
            first = chosen.iloc[0]
            flags = sorted({f for f in chosen["flag"] if isinstance(f, str)})
            dropped = group[~group["cell"].isin(chosen["cell"])]
            left_out = sorted({f for f in dropped["flag"] if isinstance(f, str)})
            base = {
                "run": run.name,
                **{k: first[k] for k in CELL_KEY},
                "latency_kind": first["latency_kind"],
                "repetitions": len(chosen),
                "flag": ", ".join(flags) or None,
                "left_out": f"{len(dropped)} {', '.join(left_out)} left out" if len(dropped) else None,
            }
            if by == "cell":
                base.update(cell=first["cell"], repetition=first["repetition"])
            for outcome, histogram in merged.items():
                count = histogram.get_total_count()
                limit = 100.0 * (1.0 - 1.0 / count) if count > 1 else 0.0
                grid = [p for p in SPECTRUM_PERCENTILES if p <= limit + 1e-9]
                values = percentiles_us(histogram, [*grid, 100.0]) / 1000.0
                for pct, value in zip([*grid, 100.0], values, strict=True):
                    rows.append(
                        {**base, "outcome": outcome, "count": count, "percentile": pct, "latency_ms": value}
                    )
    return pd.DataFrame(rows)


def _has_histograms(run: Run, cell: str) -> bool:
    latency = run.latency(cell)
    return latency is not None and bool(latency.histograms)
