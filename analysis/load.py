"""Read cachebench results folders into tidy pandas DataFrames.

One ``Run`` per results folder (its manifest validated by ``cachebench.results.read_manifest``,
which refuses unknown schema versions with a clear message). From one or many runs:

- ``cells``: one row per cell — parameters, status, saturation verdict, and ``flag``: why the
  cell must not be averaged in (``failed``, ``incomplete``, ``not run``, ``generator-bound``,
  ``busy machine``, ``errors``), or None when it is ``usable``.
- ``metrics``: one row per cell × metric (``value``), tidy: throughput, HDR latency
  percentiles, origin load, hit ratios, memory, bytes per cached entry, browser-cache shares.
- ``latency_spectrum``: latency at many percentiles per strategy (or per cell) and cache outcome.
- ``timeseries``: one row per cell × second: requests, cache answers, Locust's rolling p99,
  hit ratio per layer, origin reads, memory, CPU.
- ``browser``: the browser_clients scenario's counts per cell.

Latency always comes from the HDR histograms in ``latency.json``: ``corrected`` (for
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
from hdrh.histogram import HdrHistogram

from cachebench.metrics_text import metric_sum, parse_metrics
from cachebench.results import RESULTS_ROOT, ManifestRecord, read_manifest
from targets import target_order

BASELINE = "nocache"
LATENCY_SCHEMA = 1
HEADLINE_PERCENTILES = (50, 90, 99, 99.9, 99.99)
#: Cells with the same values here (and different ``repetition``) are repetitions of one measurement.
CELL_KEY = ["target", "scenario", "variant", "mode"]
#: A headline table compares strategies within one of these groups.
GROUP_KEY = ["scenario", "variant", "mode"]
ID_COLUMNS = ["run", "cell", *CELL_KEY, "repetition", "flag", "usable"]
#: Failed requests above this share make a cell's numbers unfit to average (errors are fast).
MAX_ERROR_RATIO = 0.01
#: Outcomes answered without reaching the origin.
CACHED_OUTCOMES = ("l1_hit", "redis_hit", "client_local")


def _spectrum_grid() -> np.ndarray:
    """Percentiles evenly spaced on the 1/(1-q) axis of an HDR spectrum, from 0 to 99.999."""
    nines = np.linspace(0.0, 5.0, 61)
    return np.unique(np.round(100.0 * (1.0 - 10.0**-nines), 6))


SPECTRUM_PERCENTILES = _spectrum_grid()


@dataclass
class Run:
    """One results folder: its validated manifest and lazily read cell files."""

    path: Path
    manifest: ManifestRecord
    _latency: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def cell_dir(self, cell: str) -> Path:
        return self.path / "cells" / cell

    def latency(self, cell: str) -> dict:
        """The cell's latency.json (empty when it has none); refuses a schema it cannot read."""
        if cell not in self._latency:
            path = self.cell_dir(cell) / "latency.json"
            data = _read_json(path)
            if data and data.get("schema") != LATENCY_SCHEMA:
                raise ValueError(
                    f"{path} has schema {data.get('schema')!r}; this analysis reads {LATENCY_SCHEMA}"
                )
            self._latency[cell] = data
        return self._latency[cell]

    def summary(self, cell: str) -> dict:
        return _read_json(self.cell_dir(cell) / "summary.json")

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
    for manifest in sorted(Path(root).glob("*/manifest.json"), reverse=True):
        try:
            if json.loads(manifest.read_text()).get("cells"):
                return manifest.parent
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
    raise ValueError(f"no results folder with measured cells under {root}; run `make bench` first")


def _runs(runs: Run | Sequence[Run]) -> list[Run]:
    return [runs] if isinstance(runs, Run) else list(runs)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cells(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """One row per cell of every run."""
    return _concat([run.cells for run in _runs(runs)])


def metrics(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """One row per cell × metric of every run (columns ``ID_COLUMNS`` + ``metric``, ``value``)."""
    return _concat([run.metrics for run in _runs(runs)])


def timeseries(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """One row per cell × second of every run."""
    return _concat([run.timeseries for run in _runs(runs)])


def browser(runs: Run | Sequence[Run]) -> pd.DataFrame:
    """The browser-cache counts of every cell that has them."""
    return _concat([run.browser for run in _runs(runs)])


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
        if flag is None and not latency:
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
                "mode_kind": "fixed_rate" if float(data.get("rate_per_s") or 0) > 0 else "capacity",
                "users": data.get("users"),
                "rate_per_s": data.get("rate_per_s"),
                "duration_s": data.get("duration_s"),
                "warmup_s": data.get("warmup_s"),
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


# -- latency from HDR histograms -------------------------------------------------------------


def percentiles_us(histogram: HdrHistogram, percentiles: Sequence[float]) -> np.ndarray:
    """``histogram.get_value_at_percentile`` for many percentiles in one vectorised pass.

    hdrh walks its ~17,000 counters in Python once per percentile; this gives the same values
    (highest equivalent value of the bucket where the cumulative count reaches the target).
    """
    total = histogram.get_total_count()
    if not total:
        return np.full(len(percentiles), np.nan)
    size = min(histogram.counts_len, histogram.encoder.payload.counts_len)
    counts = np.ctypeslib.as_array(histogram.counts)[:size]
    cumulative = np.cumsum(counts, dtype=np.int64)
    values = []
    for pct in percentiles:
        target = max(int(min(pct, 100.0) * total / 100 + 0.5), 1)
        index = int(np.searchsorted(cumulative, target, side="left"))
        value = histogram.get_value_from_index(index)
        values.append(histogram.get_highest_equivalent_value(value) if pct else value)
    return np.asarray(values, dtype=float)


def merged_histograms(latency: dict, kind: str) -> dict[str, HdrHistogram]:
    """Per cache outcome (and ``all``), every request name's histogram of one kind added up."""
    merged: dict[str, HdrHistogram] = {}
    for key, encoded in latency.get("histograms", {}).items():
        _, outcome, hist_kind = key.rsplit("|", 2)
        if hist_kind != kind:
            continue
        histogram = HdrHistogram.decode(encoded)
        if outcome in merged:
            merged[outcome].add(histogram)
        else:
            merged[outcome] = histogram
    return merged


def latency_spectrum(runs: Run | Sequence[Run], by: str = "strategy") -> pd.DataFrame:
    """Latency (ms) at ``SPECTRUM_PERCENTILES`` per cache outcome, with ``count`` requests.

    ``by="strategy"`` merges the histograms of a strategy's repetitions — only its usable ones
    when it has any, else its flagged ones, with ``flag`` saying so; ``by="cell"`` keeps cells apart.
    Percentiles beyond the data (above 1 - 1/count) are left out: they would only repeat the max.
    """
    if by not in ("strategy", "cell"):
        raise ValueError(f"by must be 'strategy' or 'cell', not {by!r}")
    rows = []
    for run in _runs(runs):
        table = run.cells
        if table.empty:
            continue
        has_data = [bool(run.latency(c).get("histograms")) for c in table["cell"]]
        table = table[has_data]
        keys = ["cell"] if by == "cell" else CELL_KEY
        for _, group in table.groupby(keys, sort=False):
            chosen = group[group["usable"]] if group["usable"].any() else group
            merged: dict[str, HdrHistogram] = {}
            for cell, kind in zip(chosen["cell"], chosen["latency_kind"], strict=True):
                for outcome, histogram in merged_histograms(run.latency(cell), kind).items():
                    if outcome in merged:
                        merged[outcome].add(histogram)
                    else:
                        merged[outcome] = histogram
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


# -- metrics ---------------------------------------------------------------------------------


def _read_samples(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _read_prometheus(path: Path) -> dict:
    try:
        return parse_metrics(path.read_text())
    except OSError:
        return {}


def _column_max(samples: pd.DataFrame, column: str) -> float | None:
    if column not in samples:
        return None
    values = pd.to_numeric(samples[column], errors="coerce").dropna()
    values = values[values > 0]
    return float(values.max()) if not values.empty else None


def cell_metrics(run: Run, cell: str, kind: str, duration_s: float) -> dict[str, float | None]:
    """The headline numbers of one cell, computed from the files it wrote."""
    directory = run.cell_dir(cell)
    latency = run.latency(cell)
    figures: dict[str, float | None] = {}
    requests = latency.get("requests")
    if latency:
        figures["throughput_per_s"] = latency.get("achieved_rate_per_s")
        figures["offered_rate_per_s"] = latency.get("offered_rate_per_s")
        figures["requests"] = requests
        figures["errors"] = latency.get("errors", 0)
        figures["error_ratio"] = latency.get("errors", 0) / requests if requests else None
        histogram = merged_histograms(latency, kind).get("all")
        if histogram is not None and histogram.get_total_count():
            values = percentiles_us(histogram, [*HEADLINE_PERCENTILES, 100.0]) / 1000.0
            for pct, value in zip(HEADLINE_PERCENTILES, values, strict=False):
                figures[f"p{pct:g}_ms"] = value
            figures["max_ms"] = values[-1]
        counts = latency.get("counts", {})
        gets = sum(n for key, n in counts.items() if key.endswith("|all") and key.startswith("GET"))
        for outcome in CACHED_OUTCOMES:
            answered = sum(n for key, n in counts.items() if key.endswith(f"|{outcome}"))
            if answered:
                figures[f"{outcome}_share"] = answered / gets if gets else None
    before = _read_prometheus(directory / "metrics_before.txt")
    after = _read_prometheus(directory / "metrics_after.txt")
    if before and after:

        def delta(name: str, **labels: str) -> float:
            return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

        origin_reads = delta("cachebench_origin_operations_total", op="read")
        figures["origin_reads_per_s"] = origin_reads / duration_s
        figures["origin_writes_per_s"] = delta("cachebench_origin_operations_total", op="write") / duration_s
        figures["origin_reads_per_request"] = origin_reads / requests if requests else None
        layers = {
            dict(labels).get("layer") for (n, labels) in after if n == "cachebench_cache_operations_total"
        }
        for layer in sorted(filter(None, layers)):
            hits = delta("cachebench_cache_operations_total", layer=layer, result="hit")
            misses = delta("cachebench_cache_operations_total", layer=layer, result="miss")
            figures[f"{layer}_hit_ratio"] = hits / (hits + misses) if hits + misses else None
        entries = metric_sum(after, "cachebench_l1_entries")
        if any(n == "cachebench_l1_entries" for n, _ in after):
            figures["l1_entries"] = entries
            figures["l1_bytes"] = metric_sum(after, "cachebench_l1_bytes")
            figures["l1_bytes_per_entry"] = figures["l1_bytes"] / entries if entries else None
    samples = _read_samples(directory / "samples.csv")
    rss = _column_max(samples, "target_rss_bytes")
    redis_memory = _column_max(samples, "redis_used_memory_bytes")
    figures["target_rss_bytes_max"] = rss
    if rss is not None and "target_processes" in samples:
        per_worker = samples["target_rss_bytes"] / samples["target_processes"].where(
            samples["target_processes"] > 0
        )
        figures["target_rss_per_worker_bytes_max"] = float(per_worker.max())
    figures["redis_used_memory_bytes_max"] = redis_memory
    figures["memory_bytes"] = (rss or 0) + (redis_memory or 0) if rss is not None else None
    keys = _column_max(samples, "redis_keys")  # recorded by newer samplers only
    if keys and redis_memory is not None:
        last = samples.dropna(subset=["redis_keys", "redis_used_memory_bytes"]).iloc[-1]
        if last["redis_keys"] > 0:
            figures["redis_bytes_per_key"] = last["redis_used_memory_bytes"] / last["redis_keys"]
    for name in ("generator_cpu_percent", "target_cpu_percent"):
        if name in samples:
            figures[f"{name}_mean"] = float(pd.to_numeric(samples[name], errors="coerce").mean())
    browser_counts = latency.get("browser") or {}
    if browser_counts:
        figures.update(_browser_shares(browser_counts))
    return {k: (None if v is None else float(v)) for k, v in figures.items()}


def _browser_shares(counts: dict) -> dict[str, float | None]:
    local = counts.get("client_local", 0)
    revalidated = counts.get("not_modified", 0)
    network = counts.get("network", 0)
    answered = local + revalidated + network
    saved = counts.get("bytes_saved", 0)
    received = counts.get("bytes_received", 0)
    return {
        "browser_local_share": local / answered if answered else None,
        "browser_not_modified_share": revalidated / answered if answered else None,
        "browser_network_share": network / answered if answered else None,
        "browser_bytes_saved": float(saved),
        "browser_bytes_saved_share": saved / (saved + received) if saved + received else None,
    }


def _metrics(run: Run) -> pd.DataFrame:
    rows = []
    for cell in run.cells.itertuples(index=False):
        if not run.cell_dir(cell.cell).is_dir():
            continue
        figures = cell_metrics(run, cell.cell, cell.latency_kind, float(cell.duration_s))
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


def _locust_p99(path: Path) -> pd.DataFrame:
    """Locust's rolling p99 of all requests per second (its own rounded ms, over ~10 s)."""
    try:
        history = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=["second", "p99_ms_locust"])
    rows = history[history["Name"] == "Aggregated"]
    p99 = pd.to_numeric(rows["99%"], errors="coerce")
    frame = pd.DataFrame({"second": rows["Timestamp"].astype(int), "p99_ms_locust": p99.where(p99 > 0)})
    return frame.drop_duplicates("second", keep="last")


def _timeseries(run: Run) -> pd.DataFrame:
    frames = []
    for cell in run.cells.itertuples(index=False):
        directory = run.cell_dir(cell.cell)
        latency = run.latency(cell.cell)
        timeline = latency.get("timeline") or {}
        per_s = timeline.get("per_s") or {}
        t0 = timeline.get("t0_unix_s")
        parts = []
        if t0 is not None and per_s:
            length = max(len(v) for v in per_s.values())
            counts = pd.DataFrame({k: pd.Series(v, dtype=float) for k, v in per_s.items() if k != "p99_us"})
            counts = counts.reindex(range(length)).fillna(0.0)
            counts.insert(0, "second", np.arange(t0, t0 + length))
            cached = [c for c in CACHED_OUTCOMES if c in counts]
            completed = counts.get("completed", pd.Series(0.0, index=counts.index))
            counts["cached_share"] = counts[cached].sum(axis=1) / completed.where(completed > 0)
            if "p99_us" in per_s:  # a per-second HDR p99, when the measurement records one
                counts["p99_ms"] = pd.Series(per_s["p99_us"], dtype=float).reindex(range(length)) / 1000.0
            parts.append(counts.rename(columns={"completed": "completed_per_s"}))
        samples = _read_samples(directory / "samples.csv")
        if not samples.empty and "unix_s" in samples:
            # A sample at unix time t covers the second before it.
            samples = samples.assign(second=(samples["unix_s"] - 0.5).round().astype(int))
            samples = samples.drop(columns=["t_s", "unix_s"]).rename(
                columns={"requests_per_s": "server_requests_per_s"}
            )
            if "target_processes" in samples:
                processes = samples["target_processes"].where(samples["target_processes"] > 0)
                samples["target_rss_per_worker_bytes"] = samples["target_rss_bytes"] / processes
            parts.append(samples.drop_duplicates("second", keep="last"))
        parts.append(_locust_p99(directory / "locust_stats_history.csv"))
        parts = [p for p in parts if not p.empty]
        if not parts:
            continue
        frame = parts[0]
        for part in parts[1:]:
            frame = frame.merge(part, on="second", how="outer")
        frame = frame.sort_values("second")
        # t = 0 is the first second of the window the rates cover (all users running), so the
        # cells of a figure line up; before it is ramp-up.
        window = latency.get("window") or {}
        begin, end = window.get("from_unix_s"), window.get("to_unix_s")
        start = cell.started_unix_s
        origin = begin if begin else int(start) if pd.notna(start) else int(frame["second"].min())
        frame.insert(0, "t_s", frame["second"] - origin)
        frame["in_window"] = (frame["second"] >= begin) & (frame["second"] < end) if begin and end else True
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
        row.update(_browser_shares(counts))
        rows.append(row)
    return pd.DataFrame(rows)
