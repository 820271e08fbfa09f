"""Capacity at the latency SLO: the answer a report leads with, per scenario × settings variant.

From the capacity-search cells (``slo`` mode; ``cachebench.run.capacity.capacity_run``): each strategy's
highest rate with p99 within the SLO, what bound it (origin, target CPU, Redis, or the load
generator, in which case the figure is a lower bound), the figures at that rate, and a figure
of p99 against the offered rate with every step the search took. One search per strategy: the
table gives no interval, and the answer says so; the fixed-rate repetitions carry the intervals.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import rendering, results_frames
from analysis.results_frames import BASELINE
from analysis.run_report.figures.style import color
from cachebench.settings import load_settings
from targets import TARGETS

#: What a bound means, in the words the answer uses.
BOUND_TEXT = {
    "origin": "origin-bound (its connection pool was busy)",
    "target CPU": "bound by the target's cores (its CPU, and Redis's where Redis shares them)",
    "Redis": "bound by Redis's CPU",
    "load generator": "a lower bound: the load generator ran out of CPU",
    "latency": "p99 past the SLO with no resource 70% busy (an SLO near the latency itself, or stalls)",
}


@dataclass
class Section:
    """One scenario × variant: its strategies' capacities, steps, answer and figure."""

    scenario: str
    variant: str
    slo_p99_ms: float
    table: pd.DataFrame
    steps: pd.DataFrame
    answer: str
    figure: bytes | None = None
    caveats: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return f"capacity-{self.scenario}-{self.variant}"


def rows(run: results_frames.Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per capacity-search cell, one row per step of every search)."""
    cells = run.cells
    searched = cells[cells["mode_kind"] == "slo"] if not cells.empty else cells
    found, steps = [], []
    for cell in searched.itertuples(index=False):
        summary = run.summary(cell.cell)
        headline = summary.get("headline") or {}
        settings = load_settings(**json.loads(cell.settings))
        ids = {"cell": cell.cell, "target": cell.target, "scenario": cell.scenario, "variant": cell.variant}
        found.append(
            {
                **ids,
                **headline,
                "flag": cell.flag,
                "reason": cell.reason,
                "step_s": (summary.get("cell") or {}).get("search", {}).get("step_s"),
                "lead_in_s": (summary.get("cell") or {}).get("search", {}).get("lead_in_s"),
                "origin_capacity_per_s": settings.origin_concurrency
                * int(cell.workers)
                / (settings.origin_latency_ms / 1000)
                if settings.origin_latency_ms
                else None,
            }
        )
        for step in summary.get("steps") or []:
            steps.append({**ids, **{k: v for k, v in step.items() if k not in ("headline", "failures")}})
    return pd.DataFrame(found), pd.DataFrame(steps)


def _rate(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _rate_or_dash(value: object) -> str:
    return f"{_rate(value)} req/s" if isinstance(value, (int, float)) and np.isfinite(value) else "–"


def capacity_text(row: pd.Series) -> str:
    """``470 req/s`` or ``≥ 4,650 req/s`` (a lower bound), or why there is none."""
    capacity = row.get("capacity_at_slo_per_s")
    if capacity is None or not np.isfinite(capacity):
        return f"below {_rate(row.get('failed_at_per_s'))} req/s"
    return ("≥ " if row.get("lower_bound") else "") + f"{_rate(capacity)} req/s"


def bound_text(row: pd.Series) -> str:
    bound = row.get("bound")
    text = BOUND_TEXT.get(bound, str(bound))
    if bound == "load generator" and row.get("generator_processes_needed"):
        text += f"; about {int(row['generator_processes_needed'])} generator processes would measure it"
    share = row.get("bound_utilisation")
    if bound in ("origin", "target CPU", "Redis") and share is not None and np.isfinite(share):
        text += f", {share:.0%} busy"
    return text


def answer(table: pd.DataFrame, scenario: str, slo_p99_ms: float) -> str:
    """The capacities in words: the baseline, then each strategy as a multiple of it."""
    where = f"For {scenario}, capacity at p99 ≤ {slo_p99_ms:g} ms (open loop, one search per strategy)"
    parts = []
    base = table[table["target"] == BASELINE]
    base_capacity = base["capacity_at_slo_per_s"].iloc[0] if not base.empty else np.nan
    for row in (r for _, r in table.iterrows()):
        text = f"**{row['target']}** {capacity_text(row)}, {bound_text(row)}"
        if row["target"] == BASELINE and row.get("bound") == "origin" and row.get("origin_capacity_per_s"):
            text += f" (pool ÷ origin latency ≈ {_rate(row['origin_capacity_per_s'])} operations/s)"
        capacity = row.get("capacity_at_slo_per_s")
        if row["target"] != BASELINE and np.isfinite(base_capacity) and np.isfinite(capacity or np.nan):
            text += f"; {'≥ ' if row.get('lower_bound') else ''}{capacity / base_capacity:.1f}× {BASELINE}"
        if isinstance(row.get("flag"), str):
            text += f" (flagged {row['flag']})"
        parts.append(text)
    if not parts:
        return f"{where}: no search produced a figure."
    step_s, lead_in_s = (_first(table, column) for column in ("step_s", "lead_in_s"))
    caching = [t for t in table["target"] if t in TARGETS and TARGETS[t].caches]
    note = ""
    if caching and step_s:
        # The steps follow each other on the cache as the previous ones left it: at a higher rate a
        # TTL cache comes to hold more, but only over a TTL, longer than a step.
        run_for = f"{lead_in_s:g} s unrecorded, then {step_s:g} s" if lead_in_s else f"{step_s:g} s"
        note = (
            f" Each step offers its rate for {run_for}, with requests of its own, to the cache as the "
            "steps before left it, so "
            f"{', '.join(caching)} are measured as the load rises: a cache that has settled at that rate "
            "answers more, and takes at least this much."
        )
    if len(parts) > 1:
        # Measured: twelve default runs on 2 cores gave nocache 403 to 480 req/s, redis 583 to 926
        # (1,104 in a search flagged busy machine), hierarchical 698 to 1,030 (555 busy), and under
        # browser_clients nocache 335 to 472 (README, `slo` mode).
        note += (
            " Each knee lies between the capacity and the rate its search failed next (table), and the "
            "same search varies from run to run (by up to 1.6× in twelve runs on 2 cores, most where p99 "
            "nears the SLO slowly as the rate rises): capacities closer than that do not rank the strategies."
        )
    return f"{where}: " + "; ".join(parts) + "." + note


def _first(table: pd.DataFrame, column: str) -> float | None:
    values = table[column].dropna() if column in table else pd.Series(dtype=float)
    return float(values.iloc[0]) if not values.empty else None


def figure(steps: pd.DataFrame, scenario: str, slo_p99_ms: float) -> Figure:
    """p99 against the offered rate, every step of every search; failed steps hollow."""
    fig, ax = rendering.new_figure(figsize=(8, 4.2))
    for target in results_frames.strategy_order(steps["target"]):
        own = steps[steps["target"] == target].sort_values("offered_rate_per_s")
        ax.plot(own["offered_rate_per_s"], own["p99_ms"], "-", color=color(target), alpha=0.5)
        for passed, marker_face in ((True, color(target)), (False, "none")):
            part = own[own["passed"] == passed]
            ax.scatter(
                part["offered_rate_per_s"], part["p99_ms"], s=28, facecolors=marker_face,
                edgecolors=color(target), label=target if passed else None,
            )  # fmt: skip
    ax.axhline(slo_p99_ms, color="#444444", linestyle="--", linewidth=1)
    ax.text(ax.get_xlim()[0], slo_p99_ms, f" SLO p99 {slo_p99_ms:g} ms", va="bottom", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (req/s, open loop)")
    ax.set_ylabel("p99, corrected (ms)")
    ax.legend(fontsize=8, title="filled: within the SLO", title_fontsize=8)
    fig.suptitle(f"Capacity search — {scenario}", fontsize=12, fontweight="bold", x=0.01, ha="left")
    return fig


def build(run: results_frames.Run, with_figures: bool = True) -> list[Section]:
    """One section per scenario × variant that has capacity searches."""
    table, steps = rows(run)
    if table.empty:
        return []
    sections = []
    for (scenario, variant), own in table.groupby(["scenario", "variant"], sort=False):
        order = results_frames.strategy_order(own["target"])
        own = own.set_index("target").loc[order].reset_index()
        slo = float(own["slo_p99_ms"].iloc[0])
        own_steps = (
            steps[(steps["scenario"] == scenario) & (steps["variant"] == variant)]
            if not steps.empty
            else steps
        )
        section = Section(scenario, variant, slo, own, own_steps, answer(own, scenario, slo))
        if with_figures and not own_steps.empty:
            section.figure = rendering.to_png(figure(own_steps, scenario, slo))
        sections.append(section)
    return sections


COLUMNS = (
    ("capacity at SLO", capacity_text),
    ("bound", bound_text),
    ("p99 at capacity (ms)", lambda r: _number(r.get("p99_ms_at_capacity"), 1)),
    ("origin reads/s at capacity", lambda r: _number(r.get("origin_reads_per_s_at_capacity"), 0)),
    ("L1 hit", lambda r: _share(r.get("l1_hit_ratio"))),
    ("Redis hit", lambda r: _share(r.get("redis_hit_ratio"))),
    ("next step failed at", lambda r: _rate_or_dash(r.get("failed_at_per_s"))),
    ("steps", lambda r: _number(r.get("search_steps"), 0)),
)


def _number(value: object, digits: int) -> str:
    if value is None or not np.isfinite(float(value)):
        return "–"
    return f"{float(value):,.{digits}f}"


def _share(value: object) -> str:
    if value is None or not np.isfinite(float(value)):
        return "–"
    return f"{float(value):.1%}"


def markdown(section: Section) -> list[str]:
    header = ["strategy", *(name for name, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in section.table.iterrows():
        lines.append("| " + " | ".join([f"`{row['target']}`", *(f(row) for _, f in COLUMNS)]) + " |")
    return lines


def html_table(section: Section) -> str:
    header = ["strategy", *(name for name, _ in COLUMNS)]
    body = [
        [f"<code>{html.escape(row['target'])}</code>", *(html.escape(f(row)) for _, f in COLUMNS)]
        for _, row in section.table.iterrows()
    ]
    return rendering.table(header, body)
