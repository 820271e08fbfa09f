"""A CSV file of a results folder as rows of one typed model, and its column names for readers.

A JSON record is read whole, by its model; a CSV file is read by pandas or ``csv.DictReader``,
column by column, by name. So that a column's name is spelled once, as its model's field, the
code that reads or writes a column takes the name from the model's ``Columns``
(``SAMPLE.unix_s == "unix_s"``) rather than writing it out.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cachebench.results.record import Part


class CsvRow(Part):
    """One row of a CSV file: the fields are its columns, in the file's order; a field without a
    default is a column every file with rows has."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def header(cls) -> str:
        """The file's first line."""
        return ",".join(cls.columns()) + "\n"

    @classmethod
    def is_column(cls, name: str) -> bool:
        return name in cls.model_fields

    @classmethod
    def row_schema(cls) -> dict[str, Any]:
        """The JSON Schema of one row, its values typed (as pandas reads them): ``cachebench schema``."""
        return cls.model_json_schema(mode="serialization")

    @classmethod
    def header_problems(cls, header: list[str], has_rows: bool) -> list[str]:
        """What is wrong with a file's header: columns the model does not name, and (in a file with
        rows) columns it requires that are missing."""
        problems = [f"{name!r} is not one of its columns" for name in header if not cls.is_column(name)]
        if has_rows:
            required = [name for name, field in cls.model_fields.items() if field.is_required()]
            problems += [f"no column {name!r}" for name in required if name not in header]
        return problems


class Columns:
    """A row model's column names as attributes: ``Columns(ReadRow).t_unix_s == "t_unix_s"``.

    Module constants (``T_UNIX_S = "t_unix_s"``) would spell every name a second time beside its
    field, and could drift from it; here the attribute is the field's own name, checked against
    the model when it is read, so a misspelt column fails where it is named instead of reading
    as a column that is not there.
    """

    def __init__(self, model: type[BaseModel]) -> None:
        self._model = model

    def __getattr__(self, name: str) -> str:
        if not name.startswith("_") and name in self._model.model_fields:
            return name
        raise AttributeError(f"{self._model.__name__} has no column {name!r}")

    def __dir__(self) -> list[str]:
        return list(self._model.model_fields)
