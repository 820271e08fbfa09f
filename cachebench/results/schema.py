"""The JSON Schema of every results file, and a check of a whole folder against them.

``cachebench schema`` prints ``json_schemas()``: one JSON document, a schema per file pattern,
so users can load a run with their own tools (jsonschema, quicktype, pandas) without reading
our code; for a CSV file, the schema of one row. The same tables tell ``check_folder`` which
model reads which JSON file, and which row model a CSV file's header must match.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from cachebench.results.cell_spec import CellFile
from cachebench.results.csv_row import CsvRow
from cachebench.results.fault_record import FaultsFile
from cachebench.results.folder import (
    CELLS_DIR,
    LOCUST_FINAL_PREFIX,
    ORIGIN_WRITES_FILE,
    READS_PREFIX,
    ROW_LOG_SUFFIX,
    SAMPLES_FILE,
    STEPS_DIR,
    WRITES_PREFIX,
)
from cachebench.results.latency_record import LatencyRecord
from cachebench.results.manifest import Manifest
from cachebench.results.record import SCHEMA_VERSION, RecordError
from cachebench.results.row_log_record import ClientWriteRow, OriginWriteRow, ReadRow
from cachebench.results.sample_record import SampleRow
from cachebench.results.summaries import AnySummary, CellSummary, parse_summary
from cachebench.results.sweep_record import SweepResults, TraceSweepResults
from cachebench.results.verify_record import VerifyFile

#: Locust's own statistics (``--json-file``): its format, not ours.
FOREIGN_FILES = (f"{LOCUST_FINAL_PREFIX}.json",)
CELL = f"{CELLS_DIR}/<cell>"
STEP = f"{CELLS_DIR}/<cell>/{STEPS_DIR}/<step>"


def _matches(pattern: str, relative: str) -> bool:
    """Whether a file's place in the folder fits a pattern (``<cell>``, ``<step>``... any name)."""
    return fnmatch.fnmatchcase(relative, re.sub(r"<[a-z]+>", "*", pattern))


@dataclass(frozen=True)
class ResultFile:
    """One kind of JSON file in a results folder: where it lies, what it holds, its model."""

    pattern: str
    what: str
    model: Any

    def json_schema(self) -> dict[str, Any]:
        adapter = self.model if isinstance(self.model, TypeAdapter) else TypeAdapter(self.model)
        return adapter.json_schema(mode="serialization")

    def matches(self, relative: str) -> bool:
        return _matches(self.pattern, relative)

    def parse(self, data: object, where: str) -> object:
        if self.model is _ANY_SUMMARY:
            return parse_summary(data, where)
        return self.model.parse(data, where)


_ANY_SUMMARY = TypeAdapter(AnySummary)

RESULT_FILES: tuple[ResultFile, ...] = (
    ResultFile(
        Manifest.FILE,
        "the run: its matrix, code, machine and versions; each cell's state and headline",
        Manifest,
    ),
    ResultFile(
        SweepResults.FILE,
        "a sweep: its points (axis values, resolved settings, figures), the recommendation and the "
        "simulator's own figures",
        SweepResults,
    ),
    ResultFile(
        TraceSweepResults.FILE,
        "an access log's sweep (cachebench sweep --trace): its points, the recommendation, the log "
        "read and its one-pass curves with the points replayed to check them",
        TraceSweepResults,
    ),
    ResultFile(f"{CELL}/{CellFile.FILE}", "the cell: everything needed to run it again", CellFile),
    ResultFile(
        f"{CELL}/{VerifyFile.FILE}",
        "the HTTP-contract checks the target passed before it was measured",
        VerifyFile,
    ),
    ResultFile(
        f"{CELL}/{CellSummary.FILE}",
        "what the cell measured: a measured phase (kind measured) or a capacity search with its steps "
        "(kind search)",
        _ANY_SUMMARY,
    ),
    ResultFile(
        f"{CELL}/{LatencyRecord.FILE}",
        "the load generator's record: HDR histograms, counts, rates, the per-second timeline",
        LatencyRecord,
    ),
    ResultFile(f"{CELL}/{FaultsFile.FILE}", "a fault cell's actions on Redis, phases and goals", FaultsFile),
    ResultFile(
        f"{STEP}/{CellSummary.FILE}", "one step of a capacity search, measured as a cell is", CellSummary
    ),
    ResultFile(
        f"{STEP}/{LatencyRecord.FILE}", "the load generator's record of one search step", LatencyRecord
    ),
)


@dataclass(frozen=True)
class CsvFile:
    """One kind of CSV file in a results folder: where it lies, what it holds, the model of a row."""

    pattern: str
    what: str
    row: type[CsvRow]

    def matches(self, relative: str) -> bool:
        return _matches(self.pattern, relative)


_CSV_KINDS: tuple[tuple[str, str, type[CsvRow]], ...] = (
    (
        SAMPLES_FILE,
        "one row a second of the measured phase: rates, hit ratio and calls per cache layer "
        "(columns <layer>_<figure>), memory, CPU of each side",
        SampleRow,
    ),
    (
        f"{READS_PREFIX}-<process>{ROW_LOG_SUFFIX}",
        "gzip CSV, one per Locust process: every item read, with the version it got",
        ReadRow,
    ),
    (
        f"{WRITES_PREFIX}-<process>{ROW_LOG_SUFFIX}",
        "gzip CSV, one per Locust process: every item write acknowledged, with the version it made",
        ClientWriteRow,
    ),
    (
        ORIGIN_WRITES_FILE,
        "gzip CSV: every write the origin committed (warm-up included), the ground truth for staleness",
        OriginWriteRow,
    ),
)
#: A capacity search's steps hold the files of a measured cell each.
CSV_FILES: tuple[CsvFile, ...] = tuple(
    CsvFile(f"{folder}/{name}", what if folder == CELL else f"{what} (one step of a capacity search)", row)
    for folder in (CELL, STEP)
    for name, what, row in _CSV_KINDS
)


def json_schemas() -> dict[str, Any]:
    """Every results file's JSON Schema, by its place in the folder (a CSV file's: one row's)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "files": {
            entry.pattern: {"description": entry.what, "schema": entry.json_schema()}
            for entry in RESULT_FILES
        },
        "csv_files": {
            entry.pattern: {"description": entry.what, "schema": entry.row.row_schema()}
            for entry in CSV_FILES
        },
    }


def result_file_for(relative: str) -> ResultFile | None:
    return next((entry for entry in RESULT_FILES if entry.matches(relative)), None)


def csv_file_for(relative: str) -> CsvFile | None:
    return next((entry for entry in CSV_FILES if entry.matches(relative)), None)


def csv_header(path: Path) -> tuple[list[str], bool]:
    """A CSV file's columns (gzip or not), and whether a row follows them."""
    with (gzip.open if path.name.endswith(".gz") else open)(path, "rt", newline="") as file:
        reader = csv.reader(file)
        return next(reader, []), next(reader, None) is not None


def check_folder(run_dir: Path) -> tuple[list[str], list[str]]:
    """Every JSON file of a results folder read by its model, and every CSV file's header held
    against its row's: (files checked, one line per problem).

    A JSON file no entry names is a problem too: the table must know every file the suite writes.
    CSV files no entry names are not ours to check (Locust's own, a sweep report's table).
    """
    run_dir = Path(run_dir)
    checked, problems = _check_json(run_dir)
    for path in sorted([*run_dir.rglob("*.csv"), *run_dir.rglob("*.csv.gz")]):
        relative = path.relative_to(run_dir).as_posix()
        entry = csv_file_for(relative)
        if entry is None:
            continue
        try:
            header, has_rows = csv_header(path)
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
            problems.append(f"{relative} cannot be read: {exc}")
            continue
        found = entry.row.header_problems(header, has_rows)
        problems += [f"{relative} does not match {entry.row.__name__}: {problem}" for problem in found]
        if not found:
            checked.append(relative)
    return checked, problems


def _check_json(run_dir: Path) -> tuple[list[str], list[str]]:
    checked, problems = [], []
    for path in sorted(run_dir.rglob("*.json")):
        relative = path.relative_to(run_dir).as_posix()
        if path.name in FOREIGN_FILES:
            continue
        entry = result_file_for(relative)
        if entry is None:
            problems.append(f"{relative}: no model names this file")
            continue
        try:
            entry.parse(json.loads(path.read_text()), relative)
        except (RecordError, json.JSONDecodeError) as exc:
            problems.append(str(exc))
            continue
        checked.append(relative)
    return checked, problems
