"""The sweep's report: recommendation, Pareto front, heatmaps, and the simulator against live runs.

Read from the sweep's record (``SweepResults`` or ``TraceSweepResults``), whose points become flat
rows (``analysis.sweep_report.point_rows``); written into the sweep's results folder as PNGs, one
self-contained HTML file and a short Markdown summary (the figures are drawn by
``analysis.sweep_report.sweep_figures`` and ``curve_figures``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from analysis import rendering
from analysis.sweep_report.constraints import CONSTRAINT_KINDS, format_bytes, format_seconds
from analysis.sweep_report.curve_figures import size_curves_png, staleness_png
from analysis.sweep_report.pareto import equal_groups
from analysis.sweep_report.point_rows import point_rows, validation_rows
from analysis.sweep_report.sweep_figures import HEATMAPS, front_png, heatmap_png, value_label
from analysis.sweep_report.sweep_horizons import (
    candidates_text,
    check_html,
    entry_text,
    horizon_labels,
    horizon_note,
    simulator_text,
)
from analysis.sweep_report.trace_report import trace_html
from cachebench.results import (
    HEATMAP_DIR,
    PARETO_FRONT_FILE,
    SWEEP_POINTS_FILE,
    SWEEP_REPORT_FILE,
    SWEEP_SUMMARY_FILE,
    write_atomic,
)
from cachebench.results.sweep_record import ConstraintRecord, SweepDefinition, SweepOutcome, TraceSimulator

#: The sweep's figures as PNG files, in its results folder (the HTML report embeds them too).
CURVES_FILE = "hit_ratio_curves.png"
STALENESS_FILE = "staleness_curves.png"
#: The titles of the figures that open the page (the rest go under Heatmaps).
FIRST_FIGURES = ("hit ratio against L1 size", "staleness against TTL")


# -- tables ------------------------------------------------------------------------------------


def _ratio(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.1f}"


COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("hit_ratio", "hit ratio", _ratio),
    ("l1_hit_ratio", "L1 hit", _ratio),
    ("redis_hit_ratio", "Redis hit", _ratio),
    ("p50_ms", "p50 ms", _ms),
    ("p99_ms", "p99 ms", _ms),
    ("achieved_rate_per_s", "req/s", lambda v: "–" if v is None else f"{v:,.0f}"),
    ("origin_reads_per_s", "origin reads/s", lambda v: "–" if v is None else f"{v:,.1f}"),
    ("memory_bytes", "memory", format_bytes),
    ("stale_read_ratio", "stale ratio", lambda v: _ratio(v, 4)),
    ("staleness_age_p50_s", "age p50", format_seconds),
    ("staleness_age_p99_s", "age p99", format_seconds),
    ("staleness_age_max_s", "age max", format_seconds),
]


def _settings_text(point: dict[str, Any], axes: list[str]) -> str:
    text = ", ".join(f"{a}={value_label(point.get(a))}" for a in axes)
    same = point.get("_same")
    if same:
        text += f" (same figures: {', '.join(same)})"
    return text


def _collapsed(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per group of identical outcomes, best first, naming the other configurations."""
    rows = []
    for group in equal_groups(points, range(len(points))):
        rows.append({**points[group[0]], "_same": [points[i]["id"] for i in group[1:]]})
    return rows


def _html_table(points: list[dict[str, Any]], axes: list[str], extra: list[str] | None = None) -> str:
    head = ["#", "configuration", "source", *[c[1] for c in COLUMNS], *(extra or [])]
    rows = []
    for n, point in enumerate(points, 1):
        cells = [str(n), _settings_text(point, axes), point["source"]]
        cells += [fn(point.get(metric)) for metric, _, fn in COLUMNS]
        if extra:
            cells += ["yes" if point.get(e) else "" for e in extra]
        rows.append([html.escape(c) for c in cells])
    classes = ["recommended" if point.get("recommended") else None for point in points]
    return rendering.table(head, rows, classes, table_class="points")


def _md_table(points: list[dict[str, Any]], axes: list[str]) -> str:
    chosen = [c for c in COLUMNS if any(p.get(c[0]) is not None for p in points)]
    head = ["#", "configuration", "source", *[c[1] for c in chosen]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n, point in enumerate(points, 1):
        cells = [
            str(n),
            _settings_text(point, axes),
            point["source"],
            *[fn(point.get(m)) for m, _, fn in chosen],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _validation_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No live point to compare with (a simulated-only sweep, or a closed-loop load).</p>"
    head = [
        "point",
        "L1 hit live",
        "L1 hit sim",
        "error (pp)",
        "hit ratio live",
        "hit ratio sim",
        "error (pp)",
        "stale ratio live",
        "stale ratio sim",
    ]
    body = []
    for row in rows:
        cells = [
            row["id"],
            _ratio(row["live_l1_hit_ratio"]),
            _ratio(row["sim_l1_hit_ratio"]),
            _pp(row["l1_hit_ratio_error_pp"]),
            _ratio(row["live_hit_ratio"]),
            _ratio(row["sim_hit_ratio"]),
            _pp(row["hit_ratio_error_pp"]),
            _ratio(row["live_stale_read_ratio"], 4),
            _ratio(row["sim_stale_read_ratio"], 4),
        ]
        body.append([html.escape(c) for c in cells])
    return rendering.table(head, body)


def _pp(value: Any) -> str:
    return "–" if value is None else f"{value:+.2f}"


def validation_summary(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    def worst(metric: str) -> float | None:
        errors = [abs(r[f"{metric}_error_pp"]) for r in rows if r.get(f"{metric}_error_pp") is not None]
        return max(errors) if errors else None

    return {
        "max_abs_l1_hit_error_pp": worst("l1_hit_ratio"),
        "max_abs_hit_error_pp": worst("hit_ratio"),
        "points": len(rows),
    }


# -- the files ---------------------------------------------------------------------------------


def write(run_dir: Path, results: SweepOutcome) -> None:
    """Draw the heatmaps and write the HTML report and the Markdown summary."""
    rows = point_rows(results.points, results.spec)
    axes = results.axes
    recommendation = results.recommendation
    candidates = [row for row in rows if row["candidate"]]
    by_id = {row["id"]: row for row in candidates}
    same = recommendation.equivalents
    ranked = [{**by_id[i], "_same": same.get(i, [])} for i in recommendation.recommended]
    front = _collapsed([row for row in candidates if row["on_front"]])
    staleness_metric = next(
        (c.metric for c in results.constraints if c.name == "max_staleness"), "staleness_age_max_s"
    )
    images: list[tuple[str, bytes]] = []
    heatmap_dir = run_dir / HEATMAP_DIR
    horizons = horizon_labels(results)
    for source, maps in HEATMAPS.items():
        chosen = [row for row in rows if row["source"] == source and row["status"] != "failed"]
        for metric, title, fmt, higher in maps:
            titled = f"{horizons[source]}: {title}"
            png = heatmap_png(chosen, axes, metric, titled, fmt, higher) if chosen else None
            if png is not None:
                name = f"{source}-{metric}.png"
                write_atomic(heatmap_dir / name, png)
                images.append((titled, png))
    chosen_horizon = horizons["simulated"] if any(row["source"] == "simulated" for row in candidates) else ""
    curves = results.simulator.curves if isinstance(results.simulator, TraceSimulator) else None
    firsts = [
        (CURVES_FILE, FIRST_FIGURES[0], size_curves_png(rows, axes, curves, chosen_horizon)),
        (STALENESS_FILE, FIRST_FIGURES[1], staleness_png(rows, axes, staleness_metric, chosen_horizon)),
    ]
    for name, title, png in reversed(firsts):
        if png is not None:
            write_atomic(run_dir / name, png)
            images.insert(0, (title, png))
    front_image = front_png(candidates, staleness_metric)
    if front_image is not None:
        write_atomic(run_dir / PARETO_FRONT_FILE, front_image)
    page = _html(results, ranked, front, images, front_image, rows)
    write_atomic(run_dir / SWEEP_REPORT_FILE, page)
    write_atomic(run_dir / SWEEP_SUMMARY_FILE, _markdown(results, ranked, front))


def _spec_text(spec: SweepDefinition) -> str:
    if spec.trace:
        where = html.escape(spec.trace)
        return f"target <code>l1</code> (one process), traffic from the access log <code>{where}</code>"
    load = f"{spec.offered_rate_per_s:g} req/s" if spec.offered_rate_per_s else "closed loop"
    return (
        f"target <code>{spec.target}</code> ({spec.workers} worker(s)), scenario "
        f"<code>{spec.scenario}</code>, {spec.users} users at {load}, warm-up {spec.warmup_s:g} s, "
        f"measured {spec.duration_s:g} s; fixed settings {html.escape(str(spec.settings or '{}'))}"
    )


def _constraint_item(constraint: ConstraintRecord) -> str:
    sign = "≤" if constraint.sense == "max" else "≥"
    bound = CONSTRAINT_KINDS[constraint.name].show(constraint.bound)
    return (
        f"<li><code>{html.escape(constraint.text)}</code> → {html.escape(constraint.metric)} "
        f"{sign} {html.escape(bound)}</li>"
    )


def _html(results: SweepOutcome, ranked, front, images, front_image, rows) -> str:
    spec, simulator, axes = results.spec, results.simulator, results.axes
    verdict = results.recommendation.verdict
    validation = validation_rows(results.points, spec)
    worst = validation_summary(validation)
    constraints = "".join(_constraint_item(c) for c in results.constraints) or "<li>none</li>"
    live = [row for row in rows if row["source"] == "live"]
    simulated = [row for row in rows if row["source"] == "simulated"]
    sim_text = simulator_text(simulator, len(simulated))
    parts = [
        "<h1>cachebench sweep: which TTL and cache size?</h1>",
        f"<p>{_spec_text(spec)}.</p>",
        f"<p>{len(live)} points measured live, {len(simulated)} simulated. {sim_text}</p>",
        *[rendering.embedded_png(png, title) for title, png in images if title in FIRST_FIGURES],
        *trace_html(simulator),
        "<h2>Recommendation</h2>",
        f"<p class='verdict{'' if ranked else ' none'}'>{html.escape(verdict)}</p>",
        f"<p>Constraints:</p><ul>{constraints}</ul>",
        f"<p class='note'>{html.escape(horizon_note(spec, simulator))}</p>",
        *check_html(simulator),
    ]
    if ranked:
        parts += [
            "<h3>Configurations on the Pareto front that meet them, best first</h3>",
            _html_table(ranked, axes),
        ]
    parts += [
        "<h2>Pareto front</h2>",
        f"<p>Over every candidate ({html.escape(candidates_text(rows))}): no other point has at least the "
        "hit ratio, at most the memory and at most the stale-read ratio, and is better in one.</p>",
    ]
    if front_image:
        parts.append(rendering.embedded_png(front_image, "Pareto front"))
    parts.append(_html_table(front, axes, extra=["feasible"]))
    parts += [
        "<h2>Simulator against the live runs</h2>",
        "<p class='note'>Each live point simulated on its own short horizon (as its cell really ran).</p>",
        _validation_html(validation),
    ]
    if worst["points"]:
        parts.append(
            f"<p>Largest L1 hit-ratio error: {_pp(worst['max_abs_l1_hit_error_pp'])} pp; largest "
            f"hit-ratio error: {_pp(worst['max_abs_hit_error_pp'])} pp over {worst['points']} points.</p>"
        )
    parts += [
        "<h2>Heatmaps</h2>",
        "<p class='note'>Latency and throughput come only from live points: the simulator does not model "
        "them.</p>",
    ]
    parts += [rendering.embedded_png(png, title) for title, png in images if title not in FIRST_FIGURES]
    parts += [
        "<h2>All points</h2><details><summary>table</summary>",
        _html_table(rows, axes, extra=["on_front", "feasible"]),
        "</details>",
        "<h2>How the figures are made</h2><ul class='note'>",
        "<li><b>hit ratio</b>: share of item reads answered by a cache layer (live: the responses' "
        "Cache-Status); <b>L1/Redis hit</b>: hits per lookup in that layer (live: /metrics).</li>",
        "<li><b>stale read</b>: a read sent at t that returned a version older than one the origin had "
        "committed at or before t (origin write log against every Locust process's read log); "
        "<b>age</b>: t minus the commit that made the returned version obsolete.</li>",
        "<li><b>memory</b>: what the caches hold, not process RSS: L1 entries (all workers; live, the "
        "most /metrics counted; simulated, the most held at once) × bytes per entry, plus Redis "
        f"(live: used_memory; simulated: keys × bytes per key). {html.escape(entry_text(simulator))}</li>",
        "<li>The simulator replays the scenario's own streams (same seed, users, rate, warm-up) through "
        "the project's L1Backend/MeteredCache on a virtual clock; it does not model network delays, so "
        "the sub-millisecond invalidation races a live Redis or hierarchical target shows are absent.</li>",
        "</ul>",
    ]
    return rendering.page("cachebench sweep", parts)


def _markdown(results: SweepOutcome, ranked, front) -> str:
    spec, simulator, axes = results.spec, results.simulator, results.axes
    worst = validation_summary(validation_rows(results.points, spec))
    lines = [
        "# cachebench sweep",
        "",
        f"{spec.target} · {spec.scenario} · {spec.users} users at "
        f"{spec.offered_rate_per_s:g} req/s · warm-up {spec.warmup_s:g} s · measured {spec.duration_s:g} s",
        "",
        "## Recommendation",
        "",
        results.recommendation.verdict,
        "",
        "Constraints: " + (", ".join(f"`{c.text}`" for c in results.constraints) or "none"),
        "",
        horizon_note(spec, simulator),
        "",
    ]
    if ranked:
        lines += ["Feasible Pareto front, best first:", "", _md_table(ranked[:10], axes), ""]
    lines += ["## Pareto front", "", _md_table(front, axes), ""]
    if simulator.simulated_requests_per_cpu_s:
        lines += [
            "## Simulator",
            "",
            f"- engine `{simulator.engine}`, {simulator.simulated_requests_per_cpu_s:,.0f} simulated "
            f"requests per CPU-second, {simulator.simulated_points} points",
            f"- against {worst['points']} live points: largest L1 hit-ratio error "
            f"{_pp(worst['max_abs_l1_hit_error_pp'])} pp, largest hit-ratio error "
            f"{_pp(worst['max_abs_hit_error_pp'])} pp",
            "",
        ]
    lines += [
        f"Files: `{SWEEP_REPORT_FILE}` (heatmaps, all points), `{results.FILE}`, `{SWEEP_POINTS_FILE}`, "
        f"`{HEATMAP_DIR}/`.",
        "",
    ]
    return "\n".join(lines)


def console_summary(results: SweepOutcome) -> Table:
    """The verdict and the head of the feasible front, for the terminal."""
    rows = point_rows([p for p in results.points if p.candidate], results.spec)
    by_id = {row["id"]: row for row in rows}
    recommendation = results.recommendation
    table = Table(title=recommendation.verdict, title_justify="left", show_lines=False)
    for column in ("#", "point", "source", "hit ratio", "p99 ms", "memory", "stale ratio", "age max"):
        table.add_column(column, justify="left" if column in ("point", "source") else "right")
    for n, point_id in enumerate(recommendation.recommended[:8], 1):
        row = by_id[point_id]
        table.add_row(
            str(n),
            row["id"],
            row["source"],
            _ratio(row["hit_ratio"]),
            _ms(row["p99_ms"]),
            format_bytes(row["memory_bytes"]),
            _ratio(row["stale_read_ratio"], 4),
            format_seconds(row["staleness_age_max_s"]),
        )
    return table
