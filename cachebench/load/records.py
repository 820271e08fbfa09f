"""Per-request records for the staleness analysis: the version each read got and each write made.

Every process that runs users writes one gzip CSV of reads and one of writes, named after the
process, under a hidden temporary name that is renamed into place when the process quits. Their
rows are ``ReadRow`` and ``ClientWriteRow`` (``cachebench.results.row_log_record``): the lines
are written in those models' column order.
"""

from __future__ import annotations

import gzip
import os
import socket
from pathlib import Path

from cachebench.results import ROW_LOG_SUFFIX, ClientWriteRow, ReadRow

READS_HEADER = ReadRow.header()
WRITES_HEADER = ClientWriteRow.header()


def process_name() -> str:
    """``<hostname>-<pid>``, read when called: Locust's ``--processes`` forks after import."""
    return f"{socket.gethostname()}-{os.getpid()}"


def body_int(body: bytes | None, field: bytes) -> int | None:
    """An integer field of a flat JSON body (``field`` is e.g. ``b'"version":'``), found
    without parsing the whole body: the targets' bodies are compact msgspec JSON."""
    if not body:
        return None
    start = body.find(field)
    if start < 0:
        return None
    start += len(field)
    end = body.find(b",", start)
    if end < 0:
        end = body.find(b"}", start)
    try:
        return int(body[start:end])
    except ValueError:
        return None


def body_version(body: bytes | None) -> int | None:
    """The ``version`` field of an item (or profile) JSON body."""
    return body_int(body, b'"version":')


def etag_version(etag: str | None) -> int | None:
    """The version in one of the targets' ETags, ``"item-<id>-v<version>"``."""
    if not etag:
        return None
    _, _, version = etag.strip().strip('"').rpartition("-v")
    return int(version) if version.isdigit() else None


class RowLog:
    """One gzip CSV per process, written under a hidden temporary name and renamed into place
    when closed, so a reader never sees a half-written file under the final name."""

    def __init__(self, directory: Path, prefix: str, header: str) -> None:
        self.path = directory / f"{prefix}-{process_name()}{ROW_LOG_SUFFIX}"
        self._temporary = directory / f".{self.path.name}.part"
        self._header = header
        self._file = None
        self.rows = 0

    def write(self, line: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Level 1: ~5x smaller than plain CSV for a few percent of one core.
            # Open across many write() calls, closed by close(): no context manager fits.
            self._file = gzip.open(self._temporary, "wt", compresslevel=1, newline="")  # noqa: SIM115
            self._file.write(self._header)
        self._file.write(line)
        self.rows += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            os.replace(self._temporary, self.path)
