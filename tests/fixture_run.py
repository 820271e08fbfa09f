"""The committed fixture run (tests/fixtures/run) and the ways the analysis tests alter a copy of it.

Copies are altered through the records' models, as the runner writes them; ``edit_json`` only
for files no model would write (another schema version). The fixture's flags depend on how busy
the machine was when it was made: ``quiet_copy`` clears them for tests that flag cells themselves.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from cachebench.results import MANIFEST_FILE, SUMMARY_FILE, CellSummary, Manifest, read_manifest, read_summary

FIXTURE_RUN = next(p for p in sorted((Path(__file__).parent / "fixtures" / "run").iterdir()) if p.is_dir())


def copy_run(tmp_path: Path, name: str = FIXTURE_RUN.name) -> Path:
    """A private copy of the fixture run, for a test that alters it."""
    return Path(shutil.copytree(FIXTURE_RUN, tmp_path / name))


def quiet_copy(tmp_path: Path, name: str = FIXTURE_RUN.name) -> Path:
    """A private copy in which no cell is flagged for its machine: busy, or the generator out of CPU."""
    run_dir = copy_run(tmp_path, name)

    def quiet(summary: CellSummary) -> None:
        summary.saturation.machine_busy = False
        if summary.saturation.verdict == "generator-bound":
            summary.saturation.verdict = "neither"

    for cell in read_manifest(run_dir).cells:
        edit_summary(run_dir, cell.name, quiet)
    return run_dir


def edit_manifest(run_dir: Path, change: Callable[[Manifest], None]) -> None:
    manifest = read_manifest(run_dir)
    change(manifest)
    manifest.write(run_dir / MANIFEST_FILE)


def edit_summary(run_dir: Path, cell: str, change: Callable[[CellSummary], None]) -> None:
    path = run_dir / "cells" / cell / SUMMARY_FILE
    summary = read_summary(path)
    change(summary)
    summary.write(path)


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    """Alter a file as raw JSON: for files no model would write (another schema version)."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
