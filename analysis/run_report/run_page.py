"""``cachebench report RUN_DIR``: one self-contained HTML report and a Markdown summary of a run.

Written into the run folder: ``report.html`` (the answer first, then per scenario group the
headline table against ``nocache`` and every figure, embedded as base64 PNG — no external
CSS, JS or images, so it opens offline), ``summary.md`` (the answers, caveats and headline
tables in GitHub Markdown, for a pull request) and ``figures/*.png`` (the same figures).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import rendering
from analysis.results_frames import BASELINE, CELL_KEY, GROUP_KEY, Run, load_run, strategy_order, wide_metrics
from analysis.run_report import analytic_check, capacity_section, fault_section, question, soak, tables
from analysis.run_report import figures as fig
from analysis.run_report.cells_table import cells_table
from analysis.run_report.tables import HEADLINE_METRICS, METRICS_BY_NAME
from analysis.spectrum import latency_spectrum
from cachebench.results import FIGURES_DIR, REPORT_FILE, REPORT_SUMMARY_FILE, Manifest, write_atomic

#: Where the report also writes its figures as PNG files, in the run folder.
#: Cells measured for less than this are a smoke test, and the report says so.
SHORT_CELL_S = 10.0
#: Repetitions below this give rough bootstrap intervals.
FEW_REPETITIONS = 5


@dataclass
class Group:
    """One comparison: a scenario × settings variant × load mode, with its strategies."""

    scenario: str
    variant: str
    mode: str
    mode_kind: str
    load: str
    table: pd.DataFrame
    answer: str
    figures: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return tables.group_label(self.scenario, self.variant, self.mode) + f" ({self.load})"

    @property
    def slug(self) -> str:
        return "-".join(part for part in (self.scenario, self.variant, self.mode))


@dataclass
class Report:
    """Everything the HTML and Markdown renderings show, computed once from the run's files."""

    run: Run
    cells: pd.DataFrame
    wide: pd.DataFrame
    headline: pd.DataFrame
    groups: list[Group]
    caveats: list[str]
    faults: fault_section.Section | None = None
    soak: list = field(default_factory=list)
    capacity: list[capacity_section.Section] = field(default_factory=list)

    @property
    def answers(self) -> list[str]:
        """Capacity at the SLO first (the question users decide on), then each comparison group."""
        return [section.answer for section in self.capacity] + [group.answer for group in self.groups]


def build(run_dir: Path | str, with_figures: bool = True) -> Report:
    """Load a run and compute its tables, answers, caveats and (optionally) figures."""
    run = load_run(run_dir)
    cells = run.cells
    if cells.empty:
        raise ValueError(f"{run.path} has no cells to report on")
    wide = wide_metrics(run.metrics)
    headline = tables.headline(run.metrics, cells)
    spectrum = latency_spectrum(run) if with_figures else pd.DataFrame()
    groups = []
    for values, group_cells in cells.groupby(GROUP_KEY, sort=False):
        scenario, variant, mode = values
        first = group_cells.iloc[0]
        if first["mode_kind"] == "slo":
            continue  # capacity searches have their own section
        offered = float(first["offered_rate_per_s"])
        load_text = tables.load_text(first["mode_kind"], int(first["users"]), offered)
        table = (
            headline[
                (headline["scenario"] == scenario)
                & (headline["variant"] == variant)
                & (headline["mode"] == mode)
            ]
            if not headline.empty
            else headline
        )
        text = (
            tables.answer(table, first["mode_kind"], load_text)
            if not table.empty
            else (f"For {scenario} ({load_text}): no cell produced measurements.")
        )
        browser_rows = fig.select(run.browser, scenario, variant, mode)
        if not browser_rows.empty:
            text += " " + tables.browser_text(browser_rows)
        group = Group(scenario, variant, mode, first["mode_kind"], load_text, table, text)
        if with_figures:
            made = fig.group_figures(
                spectrum, wide, cells, run.timeseries, run.browser, scenario, variant, mode
            )
            group.figures = [(slug, caption, rendering.to_png(figure)) for slug, caption, figure in made]
        groups.append(group)
    faults = fault_section.build(run, with_figures)
    notes = caveats(run, cells) + [analytic_check.sentence(c) for c in analytic_check.checks(run, wide)]
    return Report(
        run, cells, wide, headline, groups, notes, faults, soak.build(run),
        capacity_section.build(run, with_figures),
    )  # fmt: skip


def caveats(run: Run, cells: pd.DataFrame) -> list[str]:
    """What the reader must know before trusting the numbers."""
    notes = []
    manifest = run.manifest
    if manifest.status != "complete":
        notes.append(f"The run's status is **{manifest.status}**: some cells did not finish or failed.")
    for cell in cells[cells["flag"].notna()].itertuples(index=False):
        reason = f": {cell.reason}" if isinstance(cell.reason, str) and cell.reason else ""
        notes.append(
            f"Cell `{cell.cell}` is flagged **{cell.flag}**{reason} — shown marked, left out of every mean."
        )
    # A capacity search runs once per strategy: its precision is its bisection's, not repetitions'.
    usable = cells[cells["usable"] & cells["mode_kind"].ne("slo")]
    if not usable.empty:
        reps = usable.groupby(CELL_KEY)["repetition"].nunique()
        if reps.max() <= 1:
            notes.append(
                "Every cell ran once: **no confidence can be given (1 repetition)**; the ratios are single "
                f"measurements. Run with `--repeat {FEW_REPETITIONS}` for confidence intervals."
            )
        elif reps.min() < FEW_REPETITIONS:
            count = f"{reps.min()}" if reps.min() == reps.max() else f"{reps.min()}–{reps.max()}"
            notes.append(
                f"Intervals rest on {count} repetitions; with so few the bootstrap intervals "
                f"are rough (too narrow). Use `--repeat {FEW_REPETITIONS}` or more before deciding."
            )
    if not (cells["target"] == BASELINE).any():
        notes.append(f"No `{BASELINE}` cells in this run: there is no baseline to compare against.")
    measured = cells[cells["mode_kind"].ne("slo")]
    duration = measured["duration_s"].max()
    settled = measured["warmup_kind"].eq("steady_state") & measured["warmup_settled"].eq(True)
    if measured.empty or duration >= SHORT_CELL_S:
        pass
    elif settled.all():
        # Short cells at steady state answer medians and hit ratios (the model check holds them);
        # a p99 of a few thousand requests rests on a few dozen of them.
        notes.append(
            f"Fixed-rate cells measure {duration:g} s each, at steady state: enough for medians and "
            "hit ratios, rough for p99, which rests on the slowest 1% of each cell's requests. "
            "Longer cells (`--duration`) narrow the p99 intervals."
        )
    else:
        notes.append(
            f"Cells were measured for only {duration:g} s after a {measured['warmup_s'].max():g} s "
            "warm-up: a smoke run, not a basis for conclusions."
        )
    if "warmup_settled" in cells:
        unsettled = cells[cells["warmup_kind"].eq("steady_state") & cells["warmup_settled"].eq(False)]
        if not unsettled.empty:
            notes.append(
                f"{len(unsettled)} of {len(cells)} cells were measured before their caches reached steady "
                f"state (the warm-up stopped at its {unsettled['warmup_s'].max():g} s bound): their hit "
                "ratios and what follows from them describe a cache still filling."
            )
        transient = cells[cells["warmup_kind"] == "transient"]
        if not transient.empty:
            names = ", ".join(sorted(set(transient["scenario"])))
            notes.append(f"{names}: measured as a transient on purpose (the hit ratio is meant to move).")
    if manifest.git.dirty:
        notes.append("The measured code had uncommitted changes (git dirty); record the code hash below.")
    return notes


# -- formatting ------------------------------------------------------------------------------


def _cell_text(row: pd.Series, markdown: bool) -> str:
    metric = METRICS_BY_NAME[row["metric"]]
    value = metric.show(row["mean"])
    if row["target"] == BASELINE:
        return f"{value} ({row['flags']}: not valid)" if row["flagged_only"] else f"{value} (baseline)"
    ratio = tables.ratio_text(row)
    if ratio == "–":
        return value
    if row["improvement"] is True:
        ratio = f"**{ratio}** better" if markdown else f"<b>{html.escape(ratio)}</b> better"
    elif row["improvement"] is False:
        ratio = f"{ratio} worse" if markdown else f"{html.escape(ratio)} worse"
    elif not markdown:
        ratio = html.escape(ratio)
    return f"{value} · {ratio}" if markdown else f"{html.escape(value)}<br><small>{ratio}</small>"


def _strategy_rows(group: Group) -> list[tuple[str, str, str, list[pd.Series]]]:
    """(target, repetitions text, flags, rows per headline metric) in table order."""
    found = []
    for target in strategy_order(group.table["target"]):
        own = group.table[group.table["target"] == target]
        rows = [
            own[own["metric"] == m.name].iloc[0] for m in HEADLINE_METRICS if (own["metric"] == m.name).any()
        ]
        if not rows:
            continue
        first = rows[0]
        reps = f"{first['n_usable']}/{first['n_cells']}"
        flags = first["flags"] if isinstance(first["flags"], str) else ""
        found.append((target, reps, flags, rows))
    return found


def _headers() -> list[str]:
    return [f"{m.label} ({m.unit})" if m.unit else m.label for m in HEADLINE_METRICS]


def markdown_table(group: Group) -> str:
    header = ["strategy", "usable reps", *_headers(), "flags"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for target, reps, flags, rows in _strategy_rows(group):
        cells = [f"`{target}`", reps, *(_cell_text(r, markdown=True) for r in rows)]
        cells += [""] * (len(header) - 1 - len(cells)) + [flags or ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _git(manifest: Manifest) -> str:
    commit = (manifest.git.commit or "–")[:12]
    return f"git {commit}" + (" (dirty)" if manifest.git.dirty else "")


def render_markdown(report: Report) -> str:
    run = report.run
    manifest = run.manifest
    out = [f"# cachebench report: `{run.name}`", ""]
    out += [" ".join(question.lines(manifest)), ""]
    out += [f"- {answer}" for answer in report.answers]
    if report.caveats:
        out += ["", "**Caveats**", ""] + [f"- {note}" for note in report.caveats]
    for section in report.capacity:
        out += ["", f"## {section.scenario} · capacity at p99 ≤ {section.slo_p99_ms:g} ms", ""]
        out += capacity_section.markdown(section)
    for group in report.groups:
        out += ["", f"## {group.title}", "", markdown_table(group)]
    if report.faults is not None:
        out += fault_section.render_markdown(report.faults)
    if report.soak:
        out += soak.render_markdown(report.soak)
    out += [
        "",
        "Ratios are strategy ÷ nocache, mean over usable repetitions, with a 95% bootstrap interval; "
        "an interval that spans 1 is *not significant*. Latency from HDR histograms (service time in "
        "closed loop, corrected for coordinated omission at a fixed rate). Origin load is origin reads per "
        "request; memory is peak target RSS plus peak Redis used_memory.",
        "",
        f"Run: {manifest.status}, {manifest.started_at} → {manifest.finished_at or '–'}; {_git(manifest)}; "
        f"code {manifest.code_sha256[:12]}; {manifest.machine.cpu_model}, "
        f"{manifest.machine.usable_cores} cores. Full report with figures: `{REPORT_FILE}`.",
        "",
    ]
    return "\n".join(out)


# -- HTML ------------------------------------------------------------------------------------


def _md_inline(text: str) -> str:
    """The few Markdown marks the answers use (**bold**, `code`) as HTML, everything else escaped."""
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def html_table(group: Group) -> str:
    header = ["strategy", "usable reps", *_headers(), "flags"]
    rows, classes = [], []
    for target, reps, flags, metric_rows in _strategy_rows(group):
        cells = [
            f"<code>{html.escape(target)}</code>",
            reps,
            *(_cell_text(r, markdown=False) for r in metric_rows),
        ]
        rows.append(cells + [""] * (len(header) - 1 - len(cells)) + [html.escape(flags)])
        classes.append("flagged" if flags else None)
    return rendering.table(header, rows, classes)


def render_html(report: Report) -> str:
    run = report.run
    manifest = run.manifest
    machine = manifest.machine
    meta = (
        f"{manifest.status} · {manifest.started_at} → {manifest.finished_at or '–'} · "
        f"{machine.cpu_model}, {machine.usable_cores} usable cores · "
        f"{_git(manifest)} · "
        f"code {manifest.code_sha256[:12]} · Redis {manifest.redis_version or '–'}"
    )
    out = [
        f"<h1>cachebench report — {html.escape(run.name)}</h1>",
        f'<p class="meta">{html.escape(meta)}</p>',
        *(f"<p>{_md_inline(line)}</p>" for line in question.lines(manifest)),
        '<div class="answer"><b>The answer</b><ul>',
        *(f"<li>{_md_inline(answer)}</li>" for answer in report.answers),
        "</ul></div>",
    ]
    if report.caveats:
        out += ['<div class="caveats"><b>Caveats</b><ul>']
        out += [f"<li>{_md_inline(note)}</li>" for note in report.caveats]
        out += ["</ul></div>"]
    out.append(
        "<p>Contents: "
        + " · ".join(
            [
                f'<a href="#{html.escape(c.slug)}">{html.escape(c.scenario)} · capacity</a>'
                for c in report.capacity
            ]
            + [f'<a href="#{html.escape(g.slug)}">{html.escape(g.title)}</a>' for g in report.groups]
        )
        + ' · <a href="#cells">all cells</a> · <a href="#method">method</a></p>'
    )
    for section in report.capacity:
        out += [
            f'<h2 id="{html.escape(section.slug)}">{html.escape(section.scenario)} · capacity at the SLO</h2>'
        ]
        out += [f"<p>{_md_inline(section.answer)}</p>", capacity_section.html_table(section)]
        if section.figure:
            out.append(f"<figure>{rendering.embedded_png(section.figure, 'Capacity search')}</figure>")
    for group in report.groups:
        out += [f'<h2 id="{html.escape(group.slug)}">{html.escape(group.title)}</h2>']
        out += [f"<p>{_md_inline(group.answer)}</p>", html_table(group)]
        out += [
            "<p><small>Each cell: mean over usable repetitions, then strategy ÷ nocache with its 95% "
            "bootstrap interval; <b>bold</b> = significantly better; “not significant” = the interval "
            "spans 1.</small></p>"
        ]
        for slug, caption, png in group.figures:
            out.append(
                f'<figure id="{html.escape(group.slug)}-{slug}">{rendering.embedded_png(png, caption)}'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    if report.faults is not None:
        out += fault_section.render_html(report.faults)
    if report.soak:
        out += soak.render_html(report.soak)
    out += ['<h2 id="cells">All cells</h2>', cells_table(report.cells, report.wide)]
    out += ['<h2 id="method">Method</h2>', f"<p>{html.escape(METHOD)}</p>"]
    return rendering.page(f"cachebench report — {run.name}", out)


METHOD = (
    "Each target runs on fresh processes (with a fresh Redis where needed), is checked against the HTTP "
    "contract, and is warmed up with the same load unrecorded until its caches reach steady state; with "
    "reuse_processes its repetitions and capacity search then run on those warmed processes, otherwise "
    "every cell starts afresh. A capacity search offers open-loop steps of one rate each (the start, just "
    "below the knee the start predicts, then 1.5x growth and bisection to 10%) and keeps the highest rate "
    "whose corrected p99 met the SLO with every intended request completed and no error; what bound it is "
    "read off the first failing step (origin pool, target CPU, Redis, or the load generator: then a lower "
    "bound). CPU per request subtracts the CPU the same processes use at rest. Latency comes from HDR "
    "histograms (1 µs – 60 s, 3 significant digits): service time in closed-loop cells, and at a fixed "
    "rate the latency from each request's intended send time (corrected for coordinated omission). "
    "Throughput is completed requests per second over the full seconds with every user running. Origin "
    "load, hit ratios and L1 bytes come from the target's /metrics before and after the measured phase; "
    "memory from per-second samples. Repetitions of a cell are compared as a ratio of means (strategy ÷ "
    "nocache) with a 95% two-sample percentile bootstrap interval (10,000 resamples); an interval that "
    "includes 1 is reported as not significant. Cells that failed, did not finish, were limited by the "
    "load generator (≥ 90% of its CPUs) or had more than 1% failed requests are marked and left out of "
    "every mean."
)


def write(run_dir: Path | str) -> tuple[Path, Path]:
    """Write report.html, summary.md and figures/*.png into the run folder; returns the two paths."""
    report = build(run_dir)
    run_path = report.run.path
    figures_dir = run_path / FIGURES_DIR
    for group in report.groups:
        for slug, _, png in group.figures:
            write_atomic(figures_dir / f"{group.slug}-{slug}.png", png)
    for section in report.capacity:
        if section.figure:
            write_atomic(figures_dir / f"{section.slug}.png", section.figure)
    if report.faults is not None:
        fault_section.write_figures(report.faults, figures_dir)
    html_path, md_path = run_path / REPORT_FILE, run_path / REPORT_SUMMARY_FILE
    write_atomic(html_path, render_html(report))
    write_atomic(md_path, render_markdown(report))
    return html_path, md_path
