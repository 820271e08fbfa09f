"""``cachebench compare RUN_A RUN_B``: did B get better or worse than A, metric by metric?

Cells are matched by (target, scenario, variant, mode). For each match and metric: the means
over usable repetitions, the ratio B/A with a bootstrap 95% interval across repetitions, and a
mark in the style of asv: ``+`` worse, ``-`` better, ``~`` not significant (or a negligible
change, under 1%), ``?`` no confidence can be given (a side with 1 repetition). Where the
measured code (``code_sha256``) or a cell's settings differ, the numbers are still shown but
flagged "not comparable"; flagged cells (failed, generator-bound...) never enter a mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import results_frames
from analysis.results_frames import CELL_KEY
from analysis.run_report.tables import NEGLIGIBLE, Metric
from analysis.stats import bootstrap_ratio
from cachebench.results.manifest import Machine

COMPARE_METRICS = (
    Metric("throughput_per_s", "throughput", "req/s", True, digits=0),
    Metric("p50_ms", "p50", "ms", False, digits=2),
    Metric("p99_ms", "p99", "ms", False, digits=1),
    Metric("p999_ms", "p99.9", "ms", False, digits=1),
    Metric("origin_reads_per_request", "origin reads per request", "", False, digits=3),
    Metric("l1_hit_ratio", "L1 hit ratio", "", True, digits=3),
    Metric("redis_hit_ratio", "Redis hit ratio", "", True, digits=3),
    Metric("memory_bytes", "peak memory", "MB", False, scale=1e6, digits=1),
)
#: A cell's parameters that must match for its numbers to be comparable.
SETTING_COLUMNS = (
    "settings",
    "users",
    "offered_rate_per_s",
    "duration_s",
    "warmup_s",
    "workers",
    "locust_processes",
    "scenario_options",
)
WORSE, BETTER, SAME, UNSURE = "+", "-", "~", "?"


@dataclass
class Comparison:
    run_a: results_frames.Run
    run_b: results_frames.Run
    rows: pd.DataFrame
    notes: list[str]
    only_a: list[str]
    only_b: list[str]

    @property
    def comparable(self) -> bool:
        return bool(self.rows.empty or self.rows["comparable"].all())

    def regressions(self) -> pd.DataFrame:
        """Significantly worse (+) rows where the runs are comparable."""
        if self.rows.empty:
            return self.rows
        return self.rows[(self.rows["mark"] == WORSE) & self.rows["comparable"]]

    def count(self, mark: str) -> int:
        return int((self.rows["mark"] == mark).sum()) if not self.rows.empty else 0


def _setting_differences(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    first_a, first_b = a.iloc[0], b.iloc[0]
    changed = []
    for column in SETTING_COLUMNS:
        if column in a and column in b and str(first_a[column]) != str(first_b[column]):
            changed.append(f"{column} {first_a[column]} → {first_b[column]}")
    return changed


def _machine_differences(a: Machine, b: Machine) -> list[str]:
    """A note per figure of the machine that bears on the numbers, where the runs' differ."""
    figures = (
        ("cpu_model", a.cpu_model, b.cpu_model),
        ("usable_cores", a.usable_cores, b.usable_cores),
        ("memory_bytes", a.memory_bytes, b.memory_bytes),
    )
    return [f"The machines differ ({name}: {was} → {now})." for name, was, now in figures if was != now]


def compare(run_a: results_frames.Run, run_b: results_frames.Run) -> Comparison:
    """Every matched cell × metric of two runs (see the module docstring)."""
    notes = []
    code_differs = run_a.manifest.code_sha256 != run_b.manifest.code_sha256
    if code_differs:
        notes.append(
            f"**Not comparable**: the measured code differs (code_sha256 {run_a.manifest.code_sha256[:12]} → "
            f"{run_b.manifest.code_sha256[:12]}); the numbers are shown, flagged."
        )
    notes += _machine_differences(run_a.manifest.machine, run_b.manifest.machine)
    cells_a, cells_b = run_a.cells, run_b.cells
    metrics_a, metrics_b = run_a.metrics, run_b.metrics
    keys_a = set(map(tuple, cells_a[CELL_KEY].to_numpy().tolist()))
    keys_b = set(map(tuple, cells_b[CELL_KEY].to_numpy().tolist()))
    rows = []
    for key in sorted(
        keys_a & keys_b, key=lambda k: (k[1], k[2], k[3], results_frames.strategy_order([k[0]]))
    ):
        own_a = cells_a[(cells_a[CELL_KEY] == pd.Series(key, index=CELL_KEY)).all(axis=1)]
        own_b = cells_b[(cells_b[CELL_KEY] == pd.Series(key, index=CELL_KEY)).all(axis=1)]
        differences = _setting_differences(own_a, own_b)
        why = []
        if code_differs:
            why.append("code differs")
        if differences:
            why.append("settings differ: " + "; ".join(differences))
        usable_a, usable_b = own_a[own_a["usable"]], own_b[own_b["usable"]]
        flags = []
        if usable_a.empty:
            flags.append("A: " + ", ".join(sorted(set(own_a["flag"].dropna()))))
        if usable_b.empty:
            flags.append("B: " + ", ".join(sorted(set(own_b["flag"].dropna()))))
        for metric in COMPARE_METRICS:
            values_a = metrics_a[
                metrics_a["cell"].isin(usable_a["cell"]) & (metrics_a["metric"] == metric.name)
            ]
            values_b = metrics_b[
                metrics_b["cell"].isin(usable_b["cell"]) & (metrics_b["metric"] == metric.name)
            ]
            if values_a.empty and values_b.empty and not flags:
                continue
            row = dict(zip(CELL_KEY, key, strict=True))
            row.update(
                metric=metric.name,
                n_a=len(values_a),
                n_b=len(values_b),
                mean_a=values_a["value"].mean() if not values_a.empty else np.nan,
                mean_b=values_b["value"].mean() if not values_b.empty else np.nan,
                ratio=np.nan,
                low=np.nan,
                high=np.nan,
                mark="",
                comparable=not why,
                note="; ".join(flags + ([f"not comparable: {', '.join(why)}"] if why else [])),
            )
            if not values_a.empty and not values_b.empty:
                ci = bootstrap_ratio(values_b["value"].tolist(), values_a["value"].tolist())
                row["mark"] = _mark(ci.ratio, ci.significant, metric.higher_is_better)
                if ci.ratio is not None:
                    row.update(
                        ratio=ci.ratio,
                        low=ci.low if ci.has_interval else np.nan,
                        high=ci.high if ci.has_interval else np.nan,
                    )
            rows.append(row)
    if rows and any("settings differ" in r["note"] for r in rows):
        changed = sorted(
            {r["note"].split("settings differ: ")[1] for r in rows if "settings differ" in r["note"]}
        )
        notes.append("**Not comparable** where a cell's settings differ: " + " | ".join(changed) + ".")
    only_a = sorted("/".join(k) for k in keys_a - keys_b)
    only_b = sorted("/".join(k) for k in keys_b - keys_a)
    return Comparison(run_a, run_b, pd.DataFrame(rows), notes, only_a, only_b)


def _mark(ratio: float | None, significant: bool | None, higher_is_better: bool) -> str:
    if ratio is None:
        return ""
    if significant is None:
        return UNSURE
    if not significant or abs(ratio - 1.0) < NEGLIGIBLE:
        return SAME
    better = ratio > 1 if higher_is_better else ratio < 1
    return BETTER if better else WORSE


def _describe(run: results_frames.Run) -> str:
    manifest = run.manifest
    commit = (manifest.git.commit or "–")[:12]
    return f"`{run.name}` — code {manifest.code_sha256[:12]}, git {commit}, {manifest.started_at}"


def render_markdown(comparison: Comparison) -> str:
    """The regression report: verdict counts, notes, then one table row per cell × metric."""
    a, b = comparison.run_a, comparison.run_b
    out = [
        f"# cachebench compare: `{a.name}` → `{b.name}`",
        "",
        f"- A: {_describe(a)}",
        f"- B: {_describe(b)}",
        "",
        f"**{comparison.count(WORSE)} worse (+), {comparison.count(BETTER)} better (-), "
        f"{comparison.count(SAME)} not significant (~), {comparison.count(UNSURE)} without confidence (?)**"
        + ("" if comparison.comparable else " — **not comparable** (see notes)"),
    ]
    notes = list(comparison.notes)
    if comparison.count(UNSURE):
        notes.append("`?`: a side has 1 repetition, so no confidence can be given; run with `--repeat 5`.")
    if comparison.only_a:
        notes.append("Only in A: " + ", ".join(f"`{k}`" for k in comparison.only_a))
    if comparison.only_b:
        notes.append("Only in B: " + ", ".join(f"`{k}`" for k in comparison.only_b))
    if notes:
        out += [""] + [f"- {note}" for note in notes]
    out += ["", "| | cell | metric | A | B | B/A [95% CI] | note |", "|---|---|---|---|---|---|---|"]
    metrics = {m.name: m for m in COMPARE_METRICS}
    for row in comparison.rows.itertuples(index=False):
        metric = metrics[row.metric]
        unit = f" {metric.unit}" if metric.unit else ""
        ratio = "–" if np.isnan(row.ratio) else f"{row.ratio:.3f}"
        if not np.isnan(row.low):
            ratio += f" [{row.low:.3f}–{row.high:.3f}]"
        cell = f"{row.target} · {row.scenario} · {row.mode}" + (
            f" · {row.variant}" if row.variant != "default" else ""
        )
        out.append(
            f"| {row.mark} | {cell} | {metric.label} | {metric.show(row.mean_a)}{unit} (n={row.n_a}) | "
            f"{metric.show(row.mean_b)}{unit} (n={row.n_b}) | {ratio} | {row.note} |"
        )
    out += [
        "",
        "Marks: `+` worse, `-` better, `~` not significant or < 1%, `?` no confidence (1 repetition).",
        "",
    ]
    return "\n".join(out)
