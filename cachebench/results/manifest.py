"""``manifest.json``: what a run is (its matrix, code, machine, versions) and where each cell stands.

One class writes it (rewritten atomically whenever a cell changes state) and reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr

from cachebench.results import provenance
from cachebench.results.cell_spec import CellSpec
from cachebench.results.folder import MANIFEST_FILE
from cachebench.results.headlines import Headline, SearchHeadline
from cachebench.results.record import Part, Record, RecordError

CellStatus = Literal["pending", "running", "complete", "incomplete", "failed", "not_run"]
RunStatus = Literal["running", "complete", "complete_with_failures", "incomplete"]


class GitState(Part):
    commit: str | None = None
    #: Uncommitted changes to the measured code (none: git could not tell).
    dirty: bool | None = None


class Machine(Part):
    cpu_model: str
    logical_cores: int | None
    physical_cores: int | None
    usable_cores: int
    memory_bytes: int
    os: str
    hostname: str


class CellState(CellSpec):
    """A cell as the manifest records it: the cell, where it stands, and its headline once run."""

    model_config = {"extra": "forbid", "frozen": False}
    status: CellStatus = "pending"
    reason: str | None = None
    summary: Annotated[Headline | SearchHeadline, Field(discriminator="kind")] | None = None


class Manifest(Record):
    """The manifest of one run."""

    FILE: ClassVar[str] = MANIFEST_FILE
    status: RunStatus = "running"
    started_at: str = Field(default_factory=provenance.utc_now)
    finished_at: str | None = None
    #: The bench file as run (or, for a sweep, its sweep file).
    matrix: dict[str, Any]
    git: GitState = Field(default_factory=lambda: GitState(**provenance.git_state()))
    #: SHA-256 over the measured code: runs with different hashes are not comparable.
    code_sha256: str = Field(default_factory=provenance.code_hash)
    machine: Machine = Field(default_factory=lambda: Machine(**provenance.machine()))
    versions: dict[str, str | None] = Field(default_factory=provenance.versions)
    redis_version: str | None = None
    cells: list[CellState] = []
    _path: Path | None = PrivateAttr(None)

    @classmethod
    def start(cls, run_dir: Path, matrix: dict[str, Any], cells: list[CellSpec]) -> Manifest:
        """A new run's manifest, every cell pending, written at once."""
        manifest = cls(matrix=matrix, cells=[CellState(**cell.model_dump()) for cell in cells])
        manifest._path = Path(run_dir) / MANIFEST_FILE
        manifest.save()
        return manifest

    def save(self) -> None:
        assert self._path is not None, "a manifest read from disk is not rewritten"
        self.write(self._path)

    def set_cell(
        self,
        index: int,
        status: CellStatus,
        reason: str | None = None,
        summary: Headline | SearchHeadline | None = None,
    ) -> None:
        cell = self.cells[index - 1]
        cell.status, cell.reason = status, reason
        if summary is not None:
            cell.summary = summary
        self.save()

    def finish(self, status: RunStatus) -> None:
        self.status = status
        self.finished_at = provenance.utc_now()
        self.save()


def read_manifest(run_dir: Path) -> Manifest:
    """A run's manifest, validated; ValueError with one line for what cannot be read."""
    path = Path(run_dir) / MANIFEST_FILE
    if not path.exists():
        raise RecordError(f"{run_dir} is not a cachebench run: no {MANIFEST_FILE}")
    return Manifest.read(path)
