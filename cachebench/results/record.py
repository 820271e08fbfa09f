"""A results file as one typed, versioned model: the runner writes it, analysis reads it, users
load it with their own tools from its JSON Schema (``cachebench schema``).

pyperf's ``Benchmark`` is the model: one class owns a record's fields, so a field has one name
from the writer to the reader. Every JSON file of a results folder carries ``schema_version``;
a reader meets a file of another version with one line naming it, never a stack of
validation errors about fields that moved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from cachebench.results.folder import write_atomic

#: The version of every record a results folder holds; one number for the folder, so a folder
#: is read whole or refused whole. 1: the files before they had models (until 2026-12).
SCHEMA_VERSION = 2


class RecordError(ValueError):
    """A results file that cannot be read: missing, not JSON, another version or another shape."""


def load_json(path: Path) -> object:
    """A results file's JSON; RecordError with one line when it is missing or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path} is not valid JSON: {exc}") from None


class Part(BaseModel):
    """A typed piece of a record: unknown fields are refused, so the schema is the whole truth."""

    model_config = ConfigDict(extra="forbid")


class Record(Part):
    """A whole results file. Subclasses name their ``FILE``."""

    FILE: ClassVar[str]
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def read(cls, path: Path) -> Self:
        """The record in ``path``; RecordError with one line for anything that cannot be read."""
        return cls.parse(load_json(path), where=str(path))

    @classmethod
    def read_if_present(cls, path: Path) -> Self | None:
        """As ``read``, or None when the file does not exist (a cell that never got so far)."""
        return cls.read(path) if Path(path).exists() else None

    @classmethod
    def parse(cls, data: object, where: str = "record") -> Self:
        version = data.get("schema_version") if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            written = (
                "no schema_version (written before records had one)"
                if version is None
                else (f"schema_version {version!r}")
            )
            raise RecordError(f"{where} has {written}; this cachebench reads {SCHEMA_VERSION}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(part) for part in first["loc"])
            raise RecordError(
                f"{where} does not match {cls.__name__} (schema {SCHEMA_VERSION}): {at}: {first['msg']}"
                + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
            ) from None

    def write(self, path: Path) -> None:
        """Write atomically (readers see the old file or the new one, never half)."""
        write_atomic(Path(path), self.model_dump_json(indent=2) + "\n")
