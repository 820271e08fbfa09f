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

Each cell file is read once. A cell's numbers are computed by ``analysis.cell_metrics``, its
seconds by ``analysis.cell_series``; latency spectra across runs by ``analysis.spectrum``. Latency
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
    ManifestRecord,
    cell_dir,
    read_manifest,
)
from targets import target_order

BASELINE = "nocache"
LATENCY_SCHEMA = 1
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
    manifest: ManifestRecord
    _latency: dict[str, dict] = field(default_factory=dict, repr=False)
    _samples: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _summaries: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def cell_dir(self, cell: str) -> Path:
        return cell_dir(self.path, cell)

    def latency(self, cell: str) -> dict:
        """The cell's latency.json (empty when it has none); refuses a schema it cannot read."""
        if cell not in self._latency:
            path = self.cell_dir(cell) / LATENCY_FILE
            data = _read_json(path)
            if data and data.get("schema") != LATENCY_SCHEMA:
                raise ValueError(
                    f"{path} has schema {data.get('schema')!r}; this analysis reads {LATENCY_SCHEMA}"
                )
            self._latency[cell] = data
        return self._latency[cell]

    def summary(self, cell: str) -> dict:
        if cell not in self._summaries:
            self._summaries[cell] = _read_json(self.cell_dir(cell) / SUMMARY_FILE)
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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


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
    UTC time; folders without cells, such as simulated sweeps, are passed over)."""
    for manifest in sorted(Path(root).glob(f"*/{MANIFEST_FILE}"), reverse=True):
        try:
            if json.loads(manifest.read_text()).get("cells"):
                return manifest.parent
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
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
    rows = []
    for record in run.manifest.cells:
        data = record.model_dump()
        summary = run.summary(record.name)
        latency = run.latency(record.name)
        saturation = summary.get("saturation") or {}
        verdict = saturation.get("verdict") or (record.summary or {}).get("saturation")
        requests = latency.get("requests")
        error_ratio = latency.get("errors", 0) / requests if requests else None
        flag = cell_flag(
            record.status, record.reason, verdict, error_ratio, bool(saturation.get("machine_busy"))
        )
        reason = record.reason
        searched = bool(data.get("search"))  # a capacity search: its latency is in its steps
        if flag is None and not latency and not searched:
            flag, reason = "incomplete", "no latency.json"
        if flag == "generator-bound":
            share = saturation.get("generator_cpu_share")
            reason = f"load generator at {share:.0%} of its CPUs" if share is not None else "load generator"
        elif flag == "busy machine":
            reason = f"other processes used {saturation['other_cpu_cores']:.2f} cores while it was measured"
            if saturation.get("idle_cpu_cores") is not None:
                reason += f", {saturation['idle_cpu_cores']:.2f} cores left idle"
        elif flag == "errors":
            reason = f"{error_ratio:.1%} of requests failed"
        warmup = summary.get("warmup") or {}
        rows.append(
            {
                "run": run.name,
                "cell": record.name,
                "index": record.index,
                "target": record.target,
                "scenario": record.scenario,
                "variant": record.variant,
                "mode": record.mode,
                "repetition": record.repetition,
                "mode_kind": _mode_kind(data),
                "users": data.get("users"),
                "rate_per_s": data.get("rate_per_s"),
                "duration_s": data.get("duration_s"),
                "warmup_s": data.get("warmup_s"),
                "warmup_kind": warmup.get("kind"),
                "warmed_s": warmup.get("seconds"),
                "warmup_settled": warmup.get("settled"),
                "workers": data.get("workers"),
                "locust_processes": data.get("locust_processes"),
                "settings": json.dumps(data.get("settings") or {}, sort_keys=True),
                "scenario_options": json.dumps(data.get("scenario_options") or {}, sort_keys=True),
                "status": record.status,
                "reason": reason,
                "saturation": verdict,
                "generator_cpu_share": saturation.get("generator_cpu_share"),
                "other_cpu_cores": saturation.get("other_cpu_cores"),
                "target_cpu_share": saturation.get("target_cpu_share"),
                "latency_kind": "corrected" if latency.get("mode") == "fixed_rate" else "service",
                "started_unix_s": summary.get("started_unix_s"),
                "code_sha256": run.manifest.code_sha256,
                "flag": flag,
                "usable": flag is None,
            }
        )
    return pd.DataFrame(rows)


def _mode_kind(cell: dict) -> str:
    if cell.get("search"):
        return "slo"
    return "fixed_rate" if float(cell.get("rate_per_s") or 0) > 0 else "capacity"


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
        # CPU per request needs the idle baseline the runner measured: it is in the summary.
        headline = run.summary(cell.cell).get("headline") or {}
        for name in ("target_cpu_us_per_request", "redis_cpu_us_per_request"):
            figures[name] = headline.get(name)
        ids = {name: getattr(cell, name) for name in ID_COLUMNS}
        for metric, value in figures.items():
            if value is not None and not np.isnan(value):
                rows.append({**ids, "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, "metric", "value"])


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
        counts = run.latency(cell.cell).get("browser") or {}
        if not counts:
            continue
        row = {name: getattr(cell, name) for name in ID_COLUMNS}
        for name in ("client_local", "not_modified", "network", "bytes_saved", "bytes_received"):
            row[name] = counts.get(name, 0)
        row.update(browser_shares(counts))
        rows.append(row)
    return pd.DataFrame(rows)
