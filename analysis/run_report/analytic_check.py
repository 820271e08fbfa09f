"""Measured steady-state hit ratios held against the analytic models, in the report itself.

For every fixed-rate group where ``l1`` ran a Zipf workload with every key fitting in L1 (so the
TTL alone bounds it), the report states the L1 hit ratio measured over the repetitions beside
the TTL model's steady state (``analysis.analytic_hit_ratio.ttl_hit_ratio``, with the scenario's deleting
writes and the achieved rate). Within TOLERANCE they agree: the cells were measured at steady
state; further apart, the caveat says the cache was still filling (or something else is off).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import results_frames
from analysis.analytic_hit_ratio import ttl_hit_ratio, zipf_popularity
from cachebench.settings import Settings

#: Measured and analytic steady state within this agree (the issue's bound: 1 percentage point).
TOLERANCE = 0.01
TARGET = "l1"


def expected_l1_hit_ratio(options: dict, resolved: Settings, achieved_rate_per_s: float) -> float | None:
    """The TTL model's L1 hit ratio for one cell (its settings as the run resolved them), or None
    where the model does not apply."""
    keys = int(options.get("keys") or 0)
    if (
        options.get("distribution") != "zipf"
        or float(options.get("hotspot_shift_s") or 0) > 0
        or not keys
        or resolved.l1_max_entries < keys  # size-bound too: the TTL model alone does not hold
    ):
        return None
    write_ratio = float(options.get("write_ratio") or 0)
    mean_ttl_s = resolved.l1_ttl_s * (1 - resolved.ttl_jitter / 2)
    return ttl_hit_ratio(
        zipf_popularity(keys, float(options["zipf_alpha"])),
        achieved_rate_per_s * (1 - write_ratio),
        mean_ttl_s,
        achieved_rate_per_s * write_ratio,
    )


def checks(run: results_frames.Run, wide: pd.DataFrame) -> list[dict[str, object]]:
    """One check per fixed-rate group with usable l1 cells: measured mean, range, expected."""
    cells = run.cells
    if cells.empty or wide.empty or "l1_hit_ratio" not in wide:
        return []
    own = cells[(cells["target"] == TARGET) & (cells["mode_kind"] == "fixed_rate") & cells["usable"]]
    resolved = {cell.name: cell.resolved for cell in run.manifest.cells}
    found = []
    for (scenario, variant, mode), group in own.groupby(results_frames.GROUP_KEY, sort=False):
        measured, expected = [], []
        for cell in group.itertuples(index=False):
            figures = wide[wide["cell"] == cell.cell]
            latency = run.latency(cell.cell)
            if figures.empty or latency is None or not latency.achieved_rate_per_s:
                continue
            model = expected_l1_hit_ratio(latency.options, resolved[cell.cell], latency.achieved_rate_per_s)
            if model is None or pd.isna(figures["l1_hit_ratio"].iloc[0]):
                continue
            measured.append(float(figures["l1_hit_ratio"].iloc[0]))
            expected.append(model)
        if measured:
            found.append(
                {
                    "scenario": scenario, "variant": variant, "mode": mode, "n": len(measured),
                    "measured": float(np.mean(measured)), "low": min(measured), "high": max(measured),
                    # Standard error of the mean over repetitions (None from one): the noise bound.
                    "stderr": _stderr(measured),
                    "expected": float(np.mean(expected)),
                }
            )  # fmt: skip
    return found


def _stderr(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None


def sentence(check: dict[str, object]) -> str:
    measured, expected = float(check["measured"]), float(check["expected"])
    gap_pp = (measured - expected) * 100
    spread = f", {check['n']} repetitions {check['low']:.1%}–{check['high']:.1%}" if check["n"] > 1 else ""
    noise_pp = 2 * 100 * float(check["stderr"]) if check.get("stderr") is not None else None
    if abs(gap_pp) <= TOLERANCE * 100:
        verdict = f"{gap_pp:+.1f} pp, within {TOLERANCE * 100:g} pp: measured at steady state"
    elif noise_pp is not None and abs(gap_pp) <= noise_pp:
        verdict = (
            f"{gap_pp:+.1f} pp, beyond {TOLERANCE * 100:g} pp but within the repetitions' own noise "
            f"(±{noise_pp:.1f} pp, two standard errors): longer cells would tell"
        )
    else:
        verdict = (
            f"**{gap_pp:+.1f} pp off**: not the steady state the model describes "
            "(still filling, or its assumptions do not hold)"
        )
    where = f"{check['scenario']} · {check['mode']}"
    return (
        f"Model check, {where}: {TARGET}'s L1 hit ratio {measured:.1%}{spread}, against {expected:.1%} "
        f"for a TTL cache at steady state (Poisson arrivals, Zipf, deleting writes): {verdict}."
    )
