"""The results folder: atomic files, and a schema-versioned manifest that describes the run.

Layout (documented for users in ``results/README.md``)::

    results/<UTC time>-<label>/manifest.json
    results/<UTC time>-<label>/cells/<cell name>/{summary.json, locust_*.csv, latency.json, ...}
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, ValidationError

SCHEMA_VERSION = 1
PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_ROOT = PROJECT_ROOT / "results"
CODE_DIRS = ("targets", "scenarios", "cachebench")
PACKAGES = (
    "fastapi", "starlette", "uvicorn", "redis", "hiredis", "cachetools", "locust",
    "prometheus_client", "pydantic", "msgspec", "hdrhistogram", "psutil",
)  # fmt: skip


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
SWEEP_POINTS_FILE = "sweep.csv"
SWEEP_REPORT_FILE = "sweep_report.html"
SWEEP_SUMMARY_FILE = "sweep_summary.md"
FIGURES_DIR = "figures"
HEATMAP_DIR = "heatmaps"
PARETO_FRONT_FILE = "pareto_front.png"


def cell_dir(run_dir: Path, cell_name: str) -> Path:
    """Where one cell of a run keeps its files."""
    return Path(run_dir) / CELLS_DIR / cell_name


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def write_json(path: Path, value: object) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def rows_csv(rows: list[dict], empty_header: str) -> str:
    """CSV text of dict rows whose keys may differ: the union of keys, in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or [empty_header])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def new_run_dir(label: str, root: Path = RESULTS_ROOT) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = root / f"{stamp}-{label}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = root / f"{stamp}-{label}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def code_hash(root: Path = PROJECT_ROOT) -> str:
    """SHA-256 over the measured code; runs with different hashes are not comparable."""
    digest = hashlib.sha256()
    for directory in CODE_DIRS:
        for path in sorted((root / directory).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, object]:
    status = _git("status", "--porcelain", "--", *CODE_DIRS)
    return {"commit": _git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


def machine() -> dict[str, object]:
    cpu_model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "hostname": platform.node(),
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


class Manifest:
    """The manifest of one run, rewritten atomically whenever a cell changes state."""

    def __init__(self, run_dir: Path, matrix: dict[str, object], cells: list[dict[str, object]]) -> None:
        self.path = run_dir / MANIFEST_FILE
        self.data: dict[str, object] = {
            "schema_version": SCHEMA_VERSION,
            "status": "running",
            "started_at": utc_now(),
            "finished_at": None,
            "matrix": matrix,
            "git": git_state(),
            "code_sha256": code_hash(),
            "machine": machine(),
            "versions": versions(),
            "redis_version": None,
            "cells": [{**cell, "status": "pending", "reason": None} for cell in cells],
        }
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)

    def set_cell(self, index: int, status: str, reason: str | None = None, **extra: object) -> None:
        cell = self.data["cells"][index - 1]
        cell.update(status=status, reason=reason, **extra)
        self.save()

    def finish(self, status: str) -> None:
        self.data["status"] = status
        self.data["finished_at"] = utc_now()
        self.save()


class CellRecord(BaseModel):
    """A cell as manifest.json records it."""

    model_config = ConfigDict(extra="allow")
    index: int
    name: str
    target: str
    scenario: str
    variant: str
    mode: str
    repetition: int
    status: Literal["pending", "running", "complete", "incomplete", "failed", "not_run"]
    reason: str | None
    summary: dict[str, object] | None = None


class ManifestRecord(BaseModel):
    """The schema of manifest.json; readers validate against it and refuse other versions."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    status: Literal["running", "complete", "complete_with_failures", "incomplete"]
    started_at: str
    finished_at: str | None
    matrix: dict[str, object]
    git: dict[str, object]
    code_sha256: str
    machine: dict[str, object]
    versions: dict[str, str | None]
    redis_version: str | None
    cells: list[CellRecord]


def read_manifest(run_dir: Path) -> ManifestRecord:
    """Load and validate a run's manifest, with a clear error for what cannot be read."""
    path = Path(run_dir) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{run_dir} is not a cachebench run: no {MANIFEST_FILE}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise ValueError(f"{path} has schema_version {version!r}; this cachebench reads {SCHEMA_VERSION}")
    try:
        return ManifestRecord.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path} does not match schema {SCHEMA_VERSION}: {exc}") from None
