"""The results folder: where each file goes, and the atomic writer every file goes through.

Layout (documented for users in ``results/README.md``; the records' fields in ``cachebench schema``)::

    results/<UTC time>-<label>/manifest.json
    results/<UTC time>-<label>/cells/<cell name>/{cell.json, summary.json, latency.json, locust_*.csv, ...}
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "PROJECT_ROOT",
    "RESULTS_ROOT",
    "MANIFEST_FILE",
    "CELLS_DIR",
    "CELL_FILE",
    "VERIFY_FILE",
    "SUMMARY_FILE",
    "LATENCY_FILE",
    "SAMPLES_FILE",
    "METRICS_BEFORE_FILE",
    "METRICS_AFTER_FILE",
    "ORIGIN_WRITES_FILE",
    "STEPS_DIR",
    "FAULTS_FILE",
    "READS_PREFIX",
    "WRITES_PREFIX",
    "ROW_LOG_SUFFIX",
    "READS_GLOB",
    "WRITES_GLOB",
    "LOCUST_CSV_PREFIX",
    "LOCUST_HISTORY_FILE",
    "LOCUST_FINAL_PREFIX",
    "TARGET_LOG_FILE",
    "LOCUST_LOG_FILE",
    "LOCUST_WARMUP_LOG_FILE",
    "REPORT_FILE",
    "REPORT_SUMMARY_FILE",
    "SWEEP_FILE",
    "TRACE_SWEEP_FILE",
    "SWEEP_POINTS_FILE",
    "SWEEP_REPORT_FILE",
    "SWEEP_SUMMARY_FILE",
    "FIGURES_DIR",
    "HEATMAP_DIR",
    "PARETO_FRONT_FILE",
    "cell_dir",
    "write_atomic",
    "csv_text",
    "rows_csv",
    "new_run_dir",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS_ROOT = PROJECT_ROOT / "results"


# The results folder's file names: every writer and every reader takes them from here.
MANIFEST_FILE = "manifest.json"
CELLS_DIR = "cells"
CELL_FILE = "cell.json"
VERIFY_FILE = "verify.json"
SUMMARY_FILE = "summary.json"
LATENCY_FILE = "latency.json"
SAMPLES_FILE = "samples.csv"
METRICS_BEFORE_FILE = "metrics_before.txt"
METRICS_AFTER_FILE = "metrics_after.txt"
ORIGIN_WRITES_FILE = "origin_writes.csv.gz"
#: A capacity search keeps each step's files in a folder of its own under this one.
STEPS_DIR = "steps"
#: A cell run with a fault schedule: its fault windows, phases and goals (cachebench.run.fault_goals).
FAULTS_FILE = "faults.json"
#: Each Locust process that runs users logs its reads and writes as ``<prefix>-<host>-<pid>.csv.gz``.
READS_PREFIX = "reads"
WRITES_PREFIX = "writes"
ROW_LOG_SUFFIX = ".csv.gz"
READS_GLOB = f"{READS_PREFIX}-*{ROW_LOG_SUFFIX}"
WRITES_GLOB = f"{WRITES_PREFIX}-*{ROW_LOG_SUFFIX}"
#: Locust's ``--csv`` prefix: it writes ``locust_stats.csv``, ``locust_stats_history.csv``, ...
LOCUST_CSV_PREFIX = "locust"
LOCUST_HISTORY_FILE = f"{LOCUST_CSV_PREFIX}_stats_history.csv"
#: Locust's ``--json-file`` prefix: its final statistics, ``locust_final.json``.
LOCUST_FINAL_PREFIX = "locust_final"
TARGET_LOG_FILE = "target.log"
LOCUST_LOG_FILE = "locust.log"
LOCUST_WARMUP_LOG_FILE = "locust-warmup.log"
REPORT_FILE = "report.html"
REPORT_SUMMARY_FILE = "summary.md"
SWEEP_FILE = "sweep.json"
#: The trace sweep's record (``cachebench sweep --trace``), where a sweep of a scenario has ``sweep.json``.
TRACE_SWEEP_FILE = "trace_sweep.json"
SWEEP_POINTS_FILE = "sweep.csv"
SWEEP_REPORT_FILE = "sweep_report.html"
SWEEP_SUMMARY_FILE = "sweep_summary.md"
FIGURES_DIR = "figures"
HEATMAP_DIR = "heatmaps"
PARETO_FRONT_FILE = "pareto_front.png"


def cell_dir(run_dir: Path, cell_name: str) -> Path:
    """Where one cell of a run keeps its files."""
    return Path(run_dir) / CELLS_DIR / cell_name


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temporary file beside ``path`` and rename it: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would keep reports from anyone else on the machine
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(columns: list[str], rows: list[dict]) -> str:
    """CSV text of dict rows under these columns (a column a row lacks is left empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def rows_csv(rows: list[dict], empty_header: str) -> str:
    """CSV text of dict rows whose keys may differ: the union of keys, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return csv_text(columns or [empty_header], rows)


def new_run_dir(label: str, root: Path = RESULTS_ROOT) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = root / f"{stamp}-{label}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = root / f"{stamp}-{label}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir
