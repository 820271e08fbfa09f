"""Capacity at the latency SLO: the answer a report leads with, per scenario × settings variant.

From the capacity-search cells (``slo`` mode; ``cachebench.run.capacity.capacity_run``): each strategy's
highest rate with p99 within the SLO, what bound it (origin, target CPU, Redis, or the load
generator, in which case the figure is a lower bound), the figures at that rate, and a figure
of p99 against the offered rate with every step the search took. One search per strategy: the
table gives no interval, and the answer says so; the fixed-rate repetitions carry the intervals.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from analysis import rendering, results_frames
from analysis.results_frames import BASELINE
from analysis.run_report.figures.style import color
from cachebench.results import AtCapacity, SearchHeadline, SearchSpec, SearchSummary, StepRecord
from targets import TARGETS

#: What a bound means, in the words the answer uses.
BOUND_TEXT = {
    "origin": "origin-bound (its connection pool was busy)",
    "target CPU": "bound by the target's cores (its CPU, and Redis's where Redis shares them)",
    "Redis": "bound by Redis's CPU",
    "load generator": "a lower bound: the load generator ran out of CPU",
    "latency": "p99 past the SLO with no resource 70% busy (an SLO near the latency itself, or stalls)",
}


@dataclass(frozen=True)
class Search:
    """One strategy's capacity search: its cell, its summary's headline and steps (none when it
    wrote no summary), its flag, and what the origin's pool can serve at most."""

    cell: str
    target: str
    scenario: str
    variant: str
    spec: SearchSpec
    headline: SearchHeadline | None = None
    steps: tuple[StepRecord, ...] = ()
    flag: str | None = None
    reason: str | None = None
    origin_capacity_per_s: float | None = None

    @property
    def capacity_per_s(self) -> float | None:
        return self.headline.capacity_at_slo_per_s if self.headline is not None else None

    @property
    def at_capacity(self) -> AtCapacity:
        return self.headline.at_capacity if self.headline is not None else AtCapacity()


@dataclass
class Section:
    """One scenario × variant: its strategies' searches, answer and figure."""

    scenario: str
    variant: str
    slo_p99_ms: float
    searches: list[Search]
    answer: str
    figure: bytes | None = None

    @property
    def slug(self) -> str:
        return f"capacity-{self.scenario}-{self.variant}"


def searches(run: results_frames.Run) -> list[Search]:
    """Every capacity-search cell of the run, in the manifest's order."""
    found = []
    for cell, row in zip(run.manifest.cells, run.cells.itertuples(index=False), strict=True):
        if cell.search is None:
            continue
        summary = run.summary(cell.name)
        searched = summary if isinstance(summary, SearchSummary) else None
        settings = cell.resolved
        found.append(
            Search(
                cell=cell.name,
                target=cell.target,
                scenario=cell.scenario,
                variant=cell.variant,
                spec=cell.search,
                headline=searched.headline if searched is not None else None,
                steps=tuple(searched.steps) if searched is not None else (),
                flag=row.flag if isinstance(row.flag, str) else None,
                reason=row.reason,
                origin_capacity_per_s=settings.origin_concurrency
                * cell.workers
                / (settings.origin_latency_ms / 1000)
                if settings.origin_latency_ms
                else None,
            )
        )
    return found


def _rate(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _rate_or_dash(value: object) -> str:
    return f"{_rate(value)} req/s" if isinstance(value, (int, float)) and np.isfinite(value) else "–"


def capacity_text(search: Search) -> str:
    """``470 req/s`` or ``≥ 4,650 req/s`` (a lower bound), or why there is none."""
    capacity = search.capacity_per_s
    if capacity is None:
        failed_at = search.headline.failed_at_per_s if search.headline is not None else None
        return f"below {_rate(failed_at)} req/s"
    return ("≥ " if search.headline.lower_bound else "") + f"{_rate(capacity)} req/s"


def bound_text(search: Search) -> str:
    headline = search.headline
    if headline is None:
        return "–"
    bound = headline.bound
    text = BOUND_TEXT.get(bound, bound)
    if bound == "load generator" and headline.generator_processes_needed:
        text += f"; about {headline.generator_processes_needed} generator processes would measure it"
    share = headline.bound_utilisation
    if bound in ("origin", "target CPU", "Redis") and share is not None and np.isfinite(share):
        text += f", {share:.0%} busy"
    return text


def answer(found: list[Search], scenario: str, slo_p99_ms: float) -> str:
    """The capacities in words: the baseline, then each strategy as a multiple of it."""
    where = f"For {scenario}, capacity at p99 ≤ {slo_p99_ms:g} ms (open loop, one search per strategy)"
    parts = []
    base = next((search for search in found if search.target == BASELINE), None)
    base_capacity = base.capacity_per_s if base is not None else None
    for search in found:
        text = f"**{search.target}** {capacity_text(search)}, {bound_text(search)}"
        origin_bound = search.headline is not None and search.headline.bound == "origin"
        if search.target == BASELINE and origin_bound and search.origin_capacity_per_s:
            text += f" (pool ÷ origin latency ≈ {_rate(search.origin_capacity_per_s)} operations/s)"
        capacity = search.capacity_per_s
        if search.target != BASELINE and base_capacity and capacity is not None:
            at_least = "≥ " if search.headline.lower_bound else ""
            text += f"; {at_least}{capacity / base_capacity:.1f}× {BASELINE}"
        if search.flag:
            text += f" (flagged {search.flag})"
        parts.append(text)
    if not parts:
        return f"{where}: no search produced a figure."
    spec = found[0].spec
    caching = [s.target for s in found if s.target in TARGETS and TARGETS[s.target].caches]
    note = ""
    if caching:
        # The steps follow each other on the cache as the previous ones left it: at a higher rate a
        # TTL cache comes to hold more, but only over a TTL, longer than a step.
        run_for = f"{spec.step_s:g} s"
        if spec.lead_in_s:
            run_for = f"{spec.lead_in_s:g} s unrecorded, then {run_for}"
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


def figure(found: list[Search], scenario: str, slo_p99_ms: float) -> Figure:
    """p99 against the offered rate, every step of every search; failed steps hollow."""
    fig, ax = rendering.new_figure(figsize=(8, 4.2))
    for target in results_frames.strategy_order(search.target for search in found):
        steps = sorted(
            (step for search in found if search.target == target for step in search.steps),
            key=lambda step: step.offered_rate_per_s,
        )
        ax.plot(_rates(steps), _p99s(steps), "-", color=color(target), alpha=0.5)
        for passed, marker_face in ((True, color(target)), (False, "none")):
            part = [step for step in steps if step.passed == passed]
            ax.scatter(
                _rates(part), _p99s(part), s=28, facecolors=marker_face,
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


def _rates(steps: list[StepRecord]) -> list[float]:
    return [step.offered_rate_per_s for step in steps]


def _p99s(steps: list[StepRecord]) -> list[float]:
    return [np.nan if step.p99_ms is None else step.p99_ms for step in steps]


def build(run: results_frames.Run, with_figures: bool = True) -> list[Section]:
    """One section per scenario × variant that has capacity searches."""
    groups: dict[tuple[str, str], list[Search]] = {}
    for search in searches(run):
        groups.setdefault((search.scenario, search.variant), []).append(search)
    sections = []
    for (scenario, variant), own in groups.items():
        order = results_frames.strategy_order(search.target for search in own)
        own.sort(key=lambda search: order.index(search.target))
        slo = own[0].spec.slo_p99_ms
        section = Section(scenario, variant, slo, own, answer(own, scenario, slo))
        if with_figures and any(search.steps for search in own):
            section.figure = rendering.to_png(figure(own, scenario, slo))
        sections.append(section)
    return sections


def _number(value: object, digits: int) -> str:
    if value is None or not np.isfinite(float(value)):
        return "–"
    return f"{float(value):,.{digits}f}"


def _share(value: object) -> str:
    if value is None or not np.isfinite(float(value)):
        return "–"
    return f"{float(value):.1%}"


def _failed_at(search: Search) -> str:
    return _rate_or_dash(search.headline.failed_at_per_s if search.headline is not None else None)


def _step_count(search: Search) -> str:
    return _number(search.headline.search_steps if search.headline is not None else None, 0)


COLUMNS: tuple[tuple[str, Callable[[Search], str]], ...] = (
    ("capacity at SLO", capacity_text),
    ("bound", bound_text),
    ("p99 at capacity (ms)", lambda search: _number(search.at_capacity.p99_ms, 1)),
    ("origin reads/s at capacity", lambda search: _number(search.at_capacity.origin_reads_per_s, 0)),
    ("L1 hit", lambda search: _share(search.at_capacity.hit_ratio_by_layer.get("l1"))),
    ("Redis hit", lambda search: _share(search.at_capacity.hit_ratio_by_layer.get("redis"))),
    ("next step failed at", _failed_at),
    ("steps", _step_count),
)


def markdown(section: Section) -> list[str]:
    header = ["strategy", *(name for name, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for search in section.searches:
        lines.append("| " + " | ".join([f"`{search.target}`", *(f(search) for _, f in COLUMNS)]) + " |")
    return lines


def html_table(section: Section) -> str:
    header = ["strategy", *(name for name, _ in COLUMNS)]
    body = [
        [f"<code>{html.escape(search.target)}</code>", *(html.escape(f(search)) for _, f in COLUMNS)]
        for search in section.searches
    ]
    return rendering.table(header, body)
