"""``cachebench sweep --trace FILE``: the sweep's TTL × size grid over a user's own access log.

The log is read in bounded memory (``cachebench.load.access_log``), the curves come in one pass
(``cachebench.tuning.curves``), a few grid points are replayed through ``MeteredCache`` to show
how far the one-pass figures are from the real cache, and the points go through the same Pareto
front, recommendation and report as any sweep (``cachebench.tuning.sweep_run.write_outputs``),
recorded as ``trace_sweep.json`` (``TraceSweepResults``).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from analysis.sweep_report.constraints import parse_constraints
from cachebench.load import access_log
from cachebench.results import RESULTS_ROOT, Manifest, new_run_dir
from cachebench.results.sweep_record import EntryBytes, GridPoint, SweepPoint, TraceSimulator
from cachebench.tuning import entry_bytes
from cachebench.tuning.curves import Curves, Requests, check, one_pass, sampled_points
from cachebench.tuning.sweep_points import simulated_staleness
from cachebench.tuning.sweep_run import write_outputs
from cachebench.tuning.sweep_spec import SweepSpec, make_points, resolve

#: Replaying the checked points costs ~1 µs per request each; above this many requests they are
#: left out (and the report says so) rather than take minutes.
REPLAY_CHECK_MAX_REQUESTS = 2_000_000
DEFAULT_SIZES = [50, 100, 200, 500, 1000, 2000, 5000, 10000]
DEFAULT_TTLS_S = [0.5, 1, 2, 5, 10, 20, 30, 60]


def _axis(spec: SweepSpec, name: str, default: list) -> list:
    values = {*spec.grid.get(name, []), *spec.simulate.get(name, [])}
    return sorted(values) or default


def _point(
    grid: GridPoint, hit_ratio: float | None, log: access_log.LogSummary, per_entry: EntryBytes
) -> SweepPoint:
    """A grid point's figures from the curves: the log's reads, one process, writes that delete."""
    # At most: every key the log touched, up to the bound (the TTL may hold fewer).
    entries = min(grid.settings.l1_max_entries, log.distinct_keys)
    memory_bytes = entries * per_entry.l1_entry_bytes
    return SweepPoint(
        **dict(grid),
        # One process whose writes delete their key: no read can return an old version.
        **dict(simulated_staleness(log.reads, 0, [])),
        source="simulated",
        horizon="trace",
        status="simulated",
        hit_ratio=hit_ratio,
        hit_ratio_by_layer={"l1": hit_ratio},
        origin_reads_per_s=None if hit_ratio is None else log.reads * (1 - hit_ratio) / max(log.span_s, 1e-9),
        memory_bytes=memory_bytes,
        l1_memory_bytes=memory_bytes,
        l1_entries_peak=entries,
        memory_source="entries (at most) × bytes per entry",
    )


def _points(
    spec: SweepSpec, curves: Curves, log: access_log.LogSummary, per_entry: EntryBytes
) -> list[SweepPoint]:
    """Every TTL × size of the curves' grid as a point (l1, one process, writes that delete)."""
    combinations = [
        {"l1_ttl_s": ttl_s, "l1_max_entries": size} for ttl_s in curves.ttls_s for size in curves.sizes
    ]
    grid = make_points(spec, combinations, list(spec.simulate), "trace")
    hit_ratios = [hit for row in curves.grid for hit in row]
    return [_point(point, hit, log, per_entry) for point, hit in zip(grid, hit_ratios, strict=True)]


def curves_for(
    requests: Requests, sizes: list[int], ttls_s: list[float], sample_rate: float | None
) -> tuple[Curves, str]:
    """The curves and their replay checks (or why there are none)."""
    curves = one_pass(requests, sizes, ttls_s, invalidate=True, sample_rate=sample_rate)
    if len(requests) <= REPLAY_CHECK_MAX_REQUESTS:
        check(curves, requests, sampled_points(curves))
        return curves, ""
    return curves, (
        f"No point was replayed: {len(requests):,} requests is more than {REPLAY_CHECK_MAX_REQUESTS:,}, "
        "and each replay would take about a second per million."
    )


def run_trace_sweep(
    spec: SweepSpec,
    path: Path,
    fmt: str = "auto",
    options: access_log.KeyOptions | None = None,
    sample_rate: float | None = None,
    results_root: Path | None = None,
    console: Console | None = None,
) -> Path:
    """Sweep the log's traffic into a new results folder (under ``RESULTS_ROOT`` unless given)
    and write its report there."""
    console = console or Console()
    results_root = results_root or RESULTS_ROOT
    constraints = parse_constraints(spec.constraints, spec.staleness_stat)
    stream, log = access_log.load(path, fmt, options)
    requests = Requests(stream.times_s, stream.keys, stream.is_write)
    console.print(f"trace: {log.describe()}")
    sizes = [int(s) for s in _axis(spec, "l1_max_entries", DEFAULT_SIZES)]
    ttls_s = [float(t) for t in _axis(spec, "l1_ttl_s", DEFAULT_TTLS_S)]
    curves, checks_note = curves_for(requests, sizes, ttls_s, sample_rate)
    spec = spec.model_copy(
        update={
            "trace": str(path),
            "target": "l1",
            "workers": 1,
            # The curves' model: a write deletes its key (``one_pass(invalidate=True)``).
            "settings": {**spec.settings, "invalidation": "delete"},
            "grid": {},
            "simulate": {"l1_ttl_s": ttls_s, "l1_max_entries": sizes},
        }
    )
    per_entry = _entry_bytes(spec, log)
    run_dir = new_run_dir(spec.label, results_root)
    Manifest.start(
        run_dir, {"sweep": spec.model_dump(mode="json"), "trace": log.record().model_dump(mode="json")}, []
    ).finish("complete")
    points = _points(spec, curves, log, per_entry)
    curves_record = curves.record()
    simulator = TraceSimulator(
        trace=log.record(),
        trace_text=log.describe(),
        curves=curves_record,
        checks_note=checks_note,
        trace_requests=len(requests),
        simulated_points=len(points),
        cpu_s=curves.cpu_s,
        simulated_requests_per_cpu_s=curves_record.requests_per_cpu_s,
        entry_bytes=per_entry,
    )
    for row in curves.checks:
        console.print(
            f"  checked size={row.size} ttl={row.ttl_s}: one pass {row.one_pass:.4f}, "
            f"MeteredCache replay {row.replay:.4f} ({row.error_pp:+.2f} pp)"
        )
    return write_outputs(run_dir, spec, points, constraints, simulator, console)


def _entry_bytes(spec: SweepSpec, log: access_log.LogSummary) -> EntryBytes:
    """Bytes per entry measured with the configured item; a log that gives sizes swaps the value's."""
    per_entry = entry_bytes.measure(resolve(spec, {}), needs_redis=False)
    if log.mean_size_bytes is None:
        return per_entry
    return per_entry.model_copy(
        update={
            "l1_entry_bytes": per_entry.l1_entry_bytes + log.mean_size_bytes - per_entry.value_bytes,
            "value_bytes": log.mean_size_bytes,
        }
    )
