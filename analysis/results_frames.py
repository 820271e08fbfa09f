"""Read cachebench results folders into tidy pandas DataFrames.

One ``Run`` per results folder (its manifest validated by ``cachebench.results.read_manifest``,
which refuses unknown schema versions with a clear message). From one or many runs:

- ``cells``: one row per cell — parameters, status, saturation verdict, and ``flag``: why the
  cell must not be averaged in (``failed``, ``incomplete``, ``not run``, ``generator-bound``,
  ``busy machine``, ``errors``), or None when it is ``usable``.
- ``metrics``: one row per cell × metric (``value``), tidy: throughput, HDR latency
  percentiles, origin load, hit ratios, memory, bytes per cached entry, browser-cache shares.
- ``timeseries``: one row per cell × second: requests, cache answers, Locust's rolling p99,
  hit ratio per layer, origin reads, memory, CPU.
- ``browser``: the browser_clients scenario's counts per cell.

Each cell file is read once, through its model in ``cachebench.results`` (``summary.json`` as a
``CellSummary`` or ``SearchSummary``, ``latency.json`` as a ``LatencyRecord``), which refuses
other schema versions. A cell's numbers are computed by ``analysis.cell_metrics``, its seconds
by ``analysis.cell_series``; latency spectra across runs by ``analysis.spectrum``. Latency
always comes from the HDR histograms in ``latency.json`` (``analysis.hdr``): ``corrected`` (for
coordinated omission) in fixed-rate cells, ``service`` in capacity cells.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cell_metrics import browser_shares, cell_metrics
from analysis.cell_series import cell_timeseries
from cachebench.metrics_text import parse_metrics
from cachebench.results import (
    LATENCY_FILE,
    LOCUST_HISTORY_FILE,
    MANIFEST_FILE,
    METRICS_AFTER_FILE,
    METRICS_BEFORE_FILE,
    RESULTS_ROOT,
    SAMPLES_FILE,
    SUMMARY_FILE,
    CellSpec,
    CellState,
    CellSummary,
    Headline,
    LatencyRecord,
    Manifest,
    Saturation,
    SearchSummary,
    cell_dir,
    read_manifest,
    read_summary,
)
from targets import target_order

BASELINE = "nocache"
#: Cells with the same values here (and different ``repetition``) are repetitions of one measurement.
CELL_KEY = ["target", "scenario", "variant", "mode"]
#: A headline table compares strategies within one of these groups.
GROUP_KEY = ["scenario", "variant", "mode"]
ID_COLUMNS = ["run", "cell", *CELL_KEY, "repetition", "flag", "usable"]
#: Failed requests above this share make a cell's numbers unfit to average (errors are fast).
MAX_ERROR_RATIO = 0.01


@dataclass
class Run:
    """One results folder: its validated manifest and lazily read cell files."""

    path: Path
    manifest: Manifest
    _latency: dict[str, LatencyRecord | None] = field(default_factory=dict, repr=False)
    _samples: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _summaries: dict[str, CellSummary | SearchSummary | None] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def cell_dir(self, cell: str) -> Path:
        return cell_dir(self.path, cell)

    def latency(self, cell: str) -> LatencyRecord | None:
        """The cell's latency.json (None when it has none); RecordError for one it cannot read."""
        if cell not in self._latency:
            self._latency[cell] = LatencyRecord.read_if_present(self.cell_dir(cell) / LATENCY_FILE)
        return self._latency[cell]

    def summary(self, cell: str) -> CellSummary | SearchSummary | None:
        """The cell's summary.json (None when it wrote none); RecordError for one it cannot read."""
        if cell not in self._summaries:
            self._summaries[cell] = read_summary(self.cell_dir(cell) / SUMMARY_FILE)
        return self._summaries[cell]

    def samples(self, cell: str) -> pd.DataFrame:
        """The cell's samples.csv (empty when it has none), read once: metrics and time series use it."""
        if cell not in self._samples:
            self._samples[cell] = _read_csv(self.cell_dir(cell) / SAMPLES_FILE)
        return self._samples[cell]

    def metrics_snapshot(self, cell: str, name: str) -> dict:
        """A /metrics snapshot the runner saved (``metrics_before.txt``...), parsed; empty when missing."""
        try:
            return parse_metrics((self.cell_dir(cell) / name).read_text())
        except OSError:
            return {}

    def locust_history(self, cell: str) -> pd.DataFrame:
        return _read_csv(self.cell_dir(cell) / LOCUST_HISTORY_FILE)

    @cached_property
    def cells(self) -> pd.DataFrame:
        return _cells(self)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return _metrics(self)

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        return _timeseries(self)

    @cached_property
    def browser(self) -> pd.DataFrame:
        return _browser(self)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def load_run(path: Path | str) -> Run:
    """One results folder; ValueError (with the reason) for anything that is not a readable run."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a results folder (no such directory)")
    return Run(path=path, manifest=read_manifest(path))


def load_runs(paths: Iterable[Path | str]) -> list[Run]:
    return [load_run(path) for path in paths]


def newest_run(root: Path = RESULTS_ROOT) -> Path:
    """The most recent results folder under ``root`` that has cells (folder names start with the
    UTC time; folders without cells, such as simulated sweeps, are passed over). A newest folder
    this cachebench cannot read is named, not passed over for an older one."""
    for manifest in sorted(Path(root).glob(f"*/{MANIFEST_FILE}"), reverse=True):
        if read_manifest(manifest.parent).cells:
            return manifest.parent
    raise ValueError(f"no results folder with measured cells under {root}; run `make bench` first")


def as_runs(runs: Run | Sequence[Run]) -> list[Run]:
    """One run or several, as a list."""
    return [runs] if isinstance(runs, Run) else list(runs)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cells(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """One row per cell of every run."""
    return _concat([run.cells for run in as_runs(runs)])


def metrics(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """One row per cell × metric of every run (columns ``ID_COLUMNS`` + ``metric``, ``value``)."""
    return _concat([run.metrics for run in as_runs(runs)])


def timeseries(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """One row per cell × second of every run."""
    return _concat([run.timeseries for run in as_runs(runs)])


def browser(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """The browser-cache counts of every cell that has them."""
    return _concat([run.browser for run in as_runs(runs)])


def strategy_order(targets: Iterable[str]) -> list[str]:
    """Targets in the table's order (``targets.target_order``), then any other name."""
    known = {name: i for i, name in enumerate(target_order())}
    return sorted(set(targets), key=lambda t: (known.get(t, len(known)), t))


# -- cells -----------------------------------------------------------------------------------


def cell_flag(
    status: str,
    reason: str | None,
    verdict: str | None,
    error_ratio: float | None,
    machine_busy: bool = False,
) -> str | None:
    """Why a cell must not be averaged in, or None when it is a valid measurement."""
    if status == "failed":
        return "failed"
    if status == "incomplete":
        return "incomplete"
    if status in ("pending", "running", "not_run"):
        return "not run"
    if verdict == "generator-bound":
        return "generator-bound"
    if machine_busy:
        return "busy machine"
    if error_ratio is not None and error_ratio > MAX_ERROR_RATIO:
        return "errors"
    return None


def _cells(run: Run) -> pd.DataFrame:
    return pd.DataFrame([_cell_row(run, cell) for cell in run.manifest.cells])


def _cell_row(run: Run, cell: CellState) -> dict[str, object]:
    summary = run.summary(cell.name)
    latency = run.latency(cell.name)
    saturation = summary.saturation if summary is not None else Saturation()
    measured = cell.summary if isinstance(cell.summary, Headline) else None
    verdict = saturation.verdict or (measured.saturation if measured is not None else None)
    flag, reason = _flag(cell, saturation, verdict, latency)
    warmup = summary.warmup if summary is not None else None
    return {
        "run": run.name,
        "cell": cell.name,
        "index": cell.index,
        "target": cell.target,
        "scenario": cell.scenario,
        "variant": cell.variant,
        "mode": cell.mode,
        "repetition": cell.repetition,
        "mode_kind": mode_kind(cell),
        "users": cell.users,
        "offered_rate_per_s": cell.offered_rate_per_s,
        "duration_s": cell.duration_s,
        "warmup_s": cell.warmup_s,
        "warmup_kind": warmup.kind if warmup is not None else None,
        "warmed_s": warmup.seconds if warmup is not None else None,
        "warmup_settled": warmup.settled if warmup is not None else None,
        "workers": cell.workers,
        "locust_processes": cell.locust_processes,
        "settings": json.dumps(cell.settings, sort_keys=True),
        "scenario_options": json.dumps(cell.scenario_options, sort_keys=True),
        "status": cell.status,
        "reason": reason,
        "saturation": verdict,
        "generator_cpu_share": saturation.generator_cpu_share,
        "other_cpu_cores": saturation.other_cpu_cores,
        "target_cpu_share": saturation.target_cpu_share,
        "latency_kind": "corrected" if latency is not None and latency.mode == "fixed_rate" else "service",
        "started_unix_s": summary.started_unix_s if isinstance(summary, CellSummary) else None,
        "code_sha256": run.manifest.code_sha256,
        "flag": flag,
        "usable": flag is None,
    }


def _flag(
    cell: CellState, saturation: Saturation, verdict: str | None, latency: LatencyRecord | None
) -> tuple[str | None, str | None]:
    """The cell's flag (``cell_flag``) and the reason the report gives for it."""
    error_ratio = latency.errors / latency.requests if latency is not None and latency.requests else None
    flag = cell_flag(cell.status, cell.reason, verdict, error_ratio, saturation.machine_busy)
    reason = cell.reason
    # A capacity search's latency is in its steps.
    if flag is None and latency is None and cell.search is None:
        flag, reason = "incomplete", f"no {LATENCY_FILE}"
    if flag == "generator-bound":
        share = saturation.generator_cpu_share
        reason = f"load generator at {share:.0%} of its CPUs" if share is not None else "load generator"
    elif flag == "busy machine":
        reason = f"other processes used {saturation.other_cpu_cores:.2f} cores while it was measured"
        if saturation.idle_cpu_cores is not None:
            reason += f", {saturation.idle_cpu_cores:.2f} cores left idle"
    elif flag == "errors":
        reason = f"{error_ratio:.1%} of requests failed"
    return flag, reason


def mode_kind(cell: CellSpec) -> str:
    """``slo`` (a capacity search), ``fixed_rate`` (open loop at the offered rate) or ``capacity``."""
    if cell.search is not None:
        return "slo"
    return "fixed_rate" if cell.offered_rate_per_s > 0 else "capacity"


# -- metrics ---------------------------------------------------------------------------------


def _metrics(run: Run) -> pd.DataFrame:
    rows = []
    for cell in run.cells.itertuples(index=False):
        if not run.cell_dir(cell.cell).is_dir():
            continue
        figures = cell_metrics(
            run.latency(cell.cell),
            run.metrics_snapshot(cell.cell, METRICS_BEFORE_FILE),
            run.metrics_snapshot(cell.cell, METRICS_AFTER_FILE),
            run.samples(cell.cell),
            cell.latency_kind,
            float(cell.duration_s),
        )
        figures.update(_cpu_per_request(run.summary(cell.cell)))
        ids = {name: getattr(cell, name) for name in ID_COLUMNS}
        for metric, value in figures.items():
            if value is not None and not np.isnan(value):
                rows.append({**ids, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, "metric", "value"])


def _cpu_per_request(summary: CellSummary | SearchSummary | None) -> dict[str, float | None]:
    """CPU per request needs the idle baseline the runner measured: a measured phase's summary
    has it, net of idle; anything else has none (not the gross figure ``cell_metrics`` makes)."""
    headline = summary.headline if isinstance(summary, CellSummary) else None
    return {
        "target_cpu_us_per_request": headline.target_cpu_us_per_request if headline else None,
        "redis_cpu_us_per_request": headline.redis_cpu_us_per_request if headline else None,
    }


def wide_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """The tidy metrics as one row per cell and one column per metric."""
    if frame.empty:
        return frame
    ids = frame[[c for c in ID_COLUMNS if c in frame]].drop_duplicates(["run", "cell"])
    values = frame.pivot(index=["run", "cell"], columns="metric", values="value").reset_index()
    return ids.merge(values, on=["run", "cell"]).rename_axis(columns=None)


# -- time series -----------------------------------------------------------------------------


def _timeseries(run: Run) -> pd.DataFrame:
    frames = []
    for cell in run.cells.itertuples(index=False):
        frame = cell_timeseries(
            run.latency(cell.cell), run.samples(cell.cell), run.locust_history(cell.cell), cell.started_unix_s
        )
        if frame is None:
            continue
        for name in ID_COLUMNS:
            frame[name] = getattr(cell, name)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    result = pd.concat(frames, ignore_index=True)
    ordered = [*ID_COLUMNS, "t_s", "second", "in_window"]
    return result[ordered + [c for c in result.columns if c not in ordered]]


# -- browser ---------------------------------------------------------------------------------


def _browser(run: Run) -> pd.DataFrame:
    rows = []
    for cell in run.cells.itertuples(index=False):
        latency = run.latency(cell.cell)
        counts = latency.browser if latency is not None else None
        if counts is None:
            continue
        row = {name: getattr(cell, name) for name in ID_COLUMNS}
        row.update(counts.model_dump())
        row.update(browser_shares(counts))
        rows.append(row)
    return pd.DataFrame(rows)
