"""The JSON Schema of every results file, and a check of a whole folder against them.

``cachebench schema`` prints ``json_schemas()``: one JSON document, a schema per file pattern,
so users can load a run with their own tools (jsonschema, quicktype, pandas) without reading
our code. The same table tells ``check_folder`` which model reads which file.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from cachebench.results.cell_spec import CellFile
from cachebench.results.fault_record import FaultsFile
from cachebench.results.folder import CELLS_DIR, LOCUST_FINAL_PREFIX, STEPS_DIR
from cachebench.results.latency_record import LatencyRecord
from cachebench.results.manifest import Manifest
from cachebench.results.record import SCHEMA_VERSION, RecordError
from cachebench.results.summaries import AnySummary, CellSummary, parse_summary
from cachebench.results.sweep_record import SweepResults, TraceSweepResults
from cachebench.results.verify_record import VerifyFile

#: Locust's own statistics (``--json-file``): its format, not ours.
FOREIGN_FILES = (f"{LOCUST_FINAL_PREFIX}.json",)
CELL = f"{CELLS_DIR}/<cell>"
STEP = f"{CELLS_DIR}/<cell>/{STEPS_DIR}/<step>"


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
        return fnmatch.fnmatchcase(relative, self.pattern.replace("<cell>", "*").replace("<step>", "*"))

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


def json_schemas() -> dict[str, Any]:
    """Every results file's JSON Schema, by its place in the folder."""
    return {
        "schema_version": SCHEMA_VERSION,
        "files": {
            entry.pattern: {"description": entry.what, "schema": entry.json_schema()}
            for entry in RESULT_FILES
        },
    }


def result_file_for(relative: str) -> ResultFile | None:
    return next((entry for entry in RESULT_FILES if entry.matches(relative)), None)


def check_folder(run_dir: Path) -> tuple[list[str], list[str]]:
    """Every JSON file of a results folder read by its model: (files read, one line per problem).

    A JSON file no entry names is a problem too: the table must know every file the suite writes.
    """
    run_dir = Path(run_dir)
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
