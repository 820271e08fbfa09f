"""The headline comparison: every strategy against the ``nocache`` baseline, per scenario group.

``headline(metrics, cells)`` gives one row per group (scenario, variant, mode) × strategy × headline
metric: the mean over usable repetitions, the baseline's mean, their ratio with a bootstrap 95%
interval, and whether the difference is significant and an improvement. Flagged cells
(failed, incomplete, generator-bound, erroring) never enter a mean; a strategy with only
flagged cells gets its numbers shown with the flag and no verdict.

``answer(table, mode_kind, load)`` turns one group's rows into plain sentences: which strategy
wins (most throughput in a closed loop; lowest p99, else lowest p50, at a fixed rate), by how much,
and how sure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.results_frames import BASELINE, GROUP_KEY, strategy_order
from analysis.stats import bootstrap_ratio


@dataclass(frozen=True)
class Metric:
    """A headline metric: its column in the tidy metrics, how to show it, which way is better."""

    name: str
    label: str
    unit: str
    higher_is_better: bool
    scale: float = 1.0  # shown value = value / scale
    digits: int = 1
    #: Whether a ratio to the baseline means anything (not for a share the baseline has at 0).
    compare: bool = True

    def show(self, value: float | None) -> str:
        if value is None or not np.isfinite(value):
            return "–"
        shown = value / self.scale
        return f"{shown:,.{self.digits}f}"


HEADLINE_METRICS = (
    Metric("throughput_per_s", "throughput", "req/s", True, digits=0),
    Metric("p50_ms", "p50", "ms", False, digits=2),
    Metric("p99_ms", "p99", "ms", False, digits=1),
    Metric("cache_answered_share", "reads a cache answered", "%", True, scale=0.01, digits=1, compare=False),
    Metric("origin_reads_per_request", "origin reads per request", "", False, digits=3),
    Metric("target_cpu_us_per_request", "target CPU per request", "µs", False, digits=0),
    Metric("redis_cpu_us_per_request", "Redis CPU per request", "µs", False, digits=0, compare=False),
    Metric("memory_bytes", "peak memory, RSS + Redis", "MB", False, scale=1e6, digits=1),
)
METRICS_BY_NAME = {m.name: m for m in HEADLINE_METRICS}
#: A significant difference smaller than this (1%) is reported as negligible, not as a win or a loss.
NEGLIGIBLE = 0.01


def group_label(scenario: str, variant: str, mode: str) -> str:
    """``read_heavy · capacity`` (the settings variant only when it is not ``default``)."""
    parts = [scenario, mode]
    if variant != "default":
        parts.insert(1, f"settings {variant}")
    return " · ".join(parts)


def headline(
    metrics: pd.DataFrame,
    cells: pd.DataFrame | None = None,
    metric_list: tuple[Metric, ...] = HEADLINE_METRICS,
) -> pd.DataFrame:
    """One row per group × strategy × metric (see the module docstring).

    ``cells`` (``analysis.results_frames.cells``) counts and flags cells that left no metrics at all (a
    failed cell's folder may be empty); without it the cells are those the metrics mention.
    """
    rows: list[dict] = []
    if metrics.empty:
        return pd.DataFrame(rows)
    wanted = metrics[metrics["metric"].isin([m.name for m in metric_list])]
    everything = cells if cells is not None else metrics.drop_duplicates("cell")
    for group_values, group in everything.groupby(GROUP_KEY, sort=False):
        group_info = dict(zip(GROUP_KEY, group_values, strict=True))
        cells = group.drop_duplicates("cell")
        targets = strategy_order(cells["target"])
        baseline_cells = cells[cells["target"] == BASELINE]
        for target in targets:
            own = cells[cells["target"] == target]
            usable = own[own["usable"].astype(bool)]
            flags = sorted({f for f in own["flag"] if isinstance(f, str)})
            flagged_only = usable.empty
            for metric in metric_list:
                values = wanted[(wanted["cell"].isin(own["cell"])) & (wanted["metric"] == metric.name)]
                chosen = values[values["cell"].isin(usable["cell"])] if not flagged_only else values
                base = wanted[
                    wanted["cell"].isin(baseline_cells[baseline_cells["usable"].astype(bool)]["cell"])
                    & (wanted["metric"] == metric.name)
                ]
                row = {
                    **group_info,
                    "target": target,
                    "metric": metric.name,
                    "n_usable": len(usable),
                    "n_ratio": 0,
                    "n_cells": len(own),
                    "flags": ", ".join(flags) or None,
                    "flagged_only": flagged_only,
                    "mean": chosen["value"].mean() if not chosen.empty else np.nan,
                    "baseline_mean": base["value"].mean() if not base.empty else np.nan,
                    "ratio": np.nan,
                    "low": np.nan,
                    "high": np.nan,
                    "significant": None,
                    "verdict": None,
                    "improvement": None,
                }
                if metric.compare and target != BASELINE and not base.empty and not chosen.empty:
                    ci = bootstrap_ratio(chosen["value"].tolist(), base["value"].tolist())
                    if ci.ratio is not None:
                        row.update(ratio=ci.ratio, verdict=ci.verdict(), n_ratio=ci.n)
                        if ci.has_interval:
                            row.update(low=ci.low, high=ci.high)
                        if flagged_only:
                            row["verdict"] = f"not valid ({', '.join(flags)})"
                        else:
                            row["significant"] = ci.significant
                            if ci.significant and abs(ci.ratio - 1.0) < NEGLIGIBLE:
                                row["verdict"] = "negligible"
                            elif ci.significant:
                                better = ci.ratio > 1 if metric.higher_is_better else ci.ratio < 1
                                row["improvement"] = better
                rows.append(row)
    return pd.DataFrame(rows)


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def ratio_text(row: pd.Series) -> str:
    """``2.55× [2.31–2.80]``, ``1.02× [0.95–1.10] not significant``, ``2.55× (n=1, no CI)``."""
    if row["target"] == BASELINE:
        return "baseline"
    if not np.isfinite(row["ratio"]):
        return "–"
    text = _fmt_ratio(row["ratio"])
    if row["flagged_only"]:
        return f"{text} ({row['flags']}: not valid)"
    if np.isfinite(row["low"]):
        text += f" [{row['low']:.2f}–{row['high']:.2f}]"
        if not row["significant"]:
            text += " not significant"
        elif row["verdict"] == "negligible":
            text += " negligible (< 1%)"
    else:
        text += f" (n={row['n_ratio']}, no CI)"
    return text


def _row(table: pd.DataFrame, target: str, metric: str) -> pd.Series | None:
    found = table[(table["target"] == target) & (table["metric"] == metric)]
    return found.iloc[0] if not found.empty else None


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def load_text(mode_kind: str, users: int, offered_rate_per_s: float) -> str:
    """``closed loop, 32 users`` or ``fixed rate 200 req/s, 32 users``."""
    if mode_kind == "fixed_rate":
        return f"fixed rate {offered_rate_per_s:g} req/s, {users} users"
    return f"closed loop, {users} users"


def answer(table: pd.DataFrame, mode_kind: str, load: str = "") -> str:
    """One group's answer in plain words (``table`` holds that group's rows only)."""
    scenario = table["scenario"].iloc[0]
    variant = table["variant"].iloc[0]
    settings = f", settings {variant}" if variant != "default" else ""
    where = f"For {scenario} ({load or table['mode'].iloc[0]}{settings})"
    base = _row(table, BASELINE, "throughput_per_s")
    if base is None or not np.isfinite(base["mean"]):
        flags = base["flags"] if base is not None else "not in this run"
        return f"{where}: no valid {BASELINE} baseline ({flags}), so no strategy can be compared."
    candidates = table[(table["target"] != BASELINE) & ~table["flagged_only"].astype(bool)]
    if candidates.empty:
        return f"{where}: no strategy other than {BASELINE} has a valid measurement."
    if mode_kind == "capacity":
        return f"{where}: {_capacity_claim(table, candidates)}"
    return f"{where}: {_fixed_rate_claim(table, candidates)}"


def _best(candidates: pd.DataFrame, metric: str, highest: bool) -> pd.Series | None:
    scores = candidates[candidates["metric"] == metric].dropna(subset=["mean"])
    if scores.empty:
        return None
    return scores.loc[scores["mean"].idxmax() if highest else scores["mean"].idxmin()]


def _origin_text(table: pd.DataFrame, target: str) -> str:
    origin = _row(table, target, "origin_reads_per_request")
    if origin is None or not np.isfinite(origin["ratio"]):
        return ""
    return f" It needs {_fmt_ratio(origin['ratio'])} the origin reads per request of {BASELINE}."


def _capacity_claim(table: pd.DataFrame, candidates: pd.DataFrame) -> str:
    """Closed loop: the strategy that serves the most requests per second wins."""
    best = _best(candidates, "throughput_per_s", highest=True)
    if best is None:
        return f"no throughput to compare.{_lower_bounds(table, best)}"
    winner = best["target"]
    if best["ratio"] <= 1:
        claim = (
            f"no strategy served more than {BASELINE} ({best['baseline_mean']:,.0f} req/s); the closest, "
            f"**{winner}**, served {_fmt_ratio(best['ratio'])} as much."
        )
    else:
        claim = (
            f"**{winner}** serves **{_fmt_ratio(best['ratio'])}** the throughput of {BASELINE} "
            f"({best['mean']:,.0f} vs {best['baseline_mean']:,.0f} req/s)"
        )
        p99, base_p99 = _row(table, winner, "p99_ms"), _row(table, BASELINE, "p99_ms")
        if p99 is not None and base_p99 is not None and np.isfinite(p99["mean"]):
            claim += f" at p99 {_ms(p99['mean'])} ({BASELINE}: {_ms(base_p99['mean'])})"
        claim += "."
    return f"{claim}{_origin_text(table, winner)} {_sureness(best, 'throughput')}{_lower_bounds(table, best)}"


def _lower_bounds(table: pd.DataFrame, best: pd.Series | None) -> str:
    """A generator-bound strategy served what the load generator could send: at least that much.

    Left out of the comparison, it may still be the fastest; when its figure reaches the winner's,
    the answer must say that the winner is not known rather than crown the fastest valid one.
    """
    bounded = table[
        (table["metric"] == "throughput_per_s")
        & table["flagged_only"].astype(bool)
        & table["flags"].fillna("").str.contains("generator-bound")
    ].dropna(subset=["mean"])
    if best is not None:
        bounded = bounded[bounded["mean"] >= best["mean"]]
    if bounded.empty:
        return ""
    reached = ", ".join(f"**{row.target}** reached {row.mean:,.0f} req/s" for row in bounded.itertuples())
    above = f", already above {best['target']}'s {best['mean']:,.0f}" if best is not None else ""
    return (
        f" **The fastest strategy is not known from this run:** {reached} with the load generator out"
        f" of CPU (generator-bound): a lower bound{above}. Give the generator more CPU (more Locust"
        " processes, or another machine)."
    )


def _fixed_rate_claim(table: pd.DataFrame, candidates: pd.DataFrame) -> str:
    """Fixed rate: throughput is the offered rate, so latency decides. Only differences whose
    interval excludes 1 are claimed, those that got worse as well as those that got better; the
    tail gets its cause (misses waiting for the origin, or hits when fewer than 1% of reads miss)."""
    claims = []
    for metric, what in (("p50_ms", "median"), ("p99_ms", "p99")):
        rows = candidates[candidates["metric"] == metric].dropna(subset=["mean"])
        better = rows[rows["improvement"].eq(True)].sort_values("mean")
        worse = rows[rows["improvement"].eq(False)].sort_values("mean")
        if better.empty:
            # "Within the noise" only when nothing moved either way.
            claim = f"no strategy lowered the {what} significantly{_why_not(rows) if worse.empty else ''}"
        else:
            claim = f"{what} {_named(better)} vs {_ms(better['baseline_mean'].iloc[0])} for {BASELINE}"
        if not worse.empty:
            claim += f"; {_named(worse)} raised it (vs {_ms(worse['baseline_mean'].iloc[0])} for {BASELINE})"
        claims.append(claim)
    best = _best(candidates, "p50_ms", highest=False)
    tail = _tail_text(table, best["target"]) if best is not None else ""
    return "; ".join(claims) + "." + tail + (_origin_text(table, best["target"]) if best is not None else "")


def _named(rows: pd.DataFrame) -> str:
    """``**l1** 4.10 ms (0.18×, 95% CI 0.15–0.22×), ...``"""
    return ", ".join(
        f"**{r.target}** {_ms(r.mean)} ({_fmt_ratio(r.ratio)}, 95% CI {r.low:.2f}–{r.high:.2f}×)"
        for r in rows.itertuples()
    )


def _why_not(rows: pd.DataFrame) -> str:
    if rows.empty:
        return ""
    if rows["significant"].isna().all():
        n = int(rows["n_ratio"].max())
        return f" that can be shown (no interval from {n} repetition{'s' if n != 1 else ''})"
    span = f"{_ms(rows['mean'].min())}–{_ms(rows['mean'].max())}"
    return f" ({span} vs {_ms(rows['baseline_mean'].iloc[0])} for {BASELINE}: within the noise)"


def _tail_text(table: pd.DataFrame, target: str) -> str:
    """What sets ``target``'s p99: past 1% of reads missing, the p99 request is a miss."""
    answered = _row(table, target, "cache_answered_share")
    base_p50 = _row(table, BASELINE, "p50_ms")
    if answered is None or not np.isfinite(answered["mean"]):
        return ""
    miss = 1 - answered["mean"]
    wait = (
        f" and wait for the origin (≈ {_ms(base_p50['mean'])}, {BASELINE}'s median)"
        if base_p50 is not None
        else ""
    )
    if miss > 0.01:
        return f" {target}'s p99 is the origin: {miss:.0%} of its reads miss{wait}."
    return (
        f" {target}'s p99 is its hits: only {miss:.1%} of reads miss, fewer than the 1% the p99 leaves out."
    )


def _sureness(best: pd.Series, what: str) -> str:
    if best["significant"] is None:
        n = best["n_ratio"]
        return f"No confidence can be given ({n} repetition{'s' if n != 1 else ''})."
    interval = f"95% CI {best['low']:.2f}–{best['high']:.2f}×, {best['n_ratio']} repetitions"
    if not best["significant"]:
        return f"The {what} difference is **not significant** ({interval})."
    if best["improvement"]:
        return f"The {what} difference is significant ({interval})."
    return f"The {what} is significantly worse than {BASELINE}'s ({interval})."


def browser_text(frame: pd.DataFrame) -> str:
    """browser_clients: how much the browsers' own caches answered, per strategy that had any."""
    parts = []
    for target in strategy_order(frame["target"]):
        own = frame[(frame["target"] == target) & frame["usable"].astype(bool)]
        if own.empty or not (own["client_local"].sum() + own["not_modified"].sum()):
            continue
        saved = own["bytes_saved"].mean()
        size = f"{saved / 1e6:,.1f} MB" if saved >= 1e6 else f"{saved / 1e3:,.0f} kB"
        parts.append(
            f"with {target} the browsers answered {own['browser_local_share'].mean():.0%} of their reads "
            f"locally and got {own['browser_not_modified_share'].mean():.0%} as 304s, saving {size} "
            f"({own['browser_bytes_saved_share'].mean():.0%}) of response bodies per cell"
        )
    if not parts:
        return "No strategy let the browsers cache anything (no Cache-Control/ETag)."
    return "Browser caches: " + "; ".join(parts) + "."
