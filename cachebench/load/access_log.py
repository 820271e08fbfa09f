"""Reads a user's own access log into a request stream, in bounded memory: for the one-pass curves
(``cachebench sweep --trace``) and for the ``trace_replay`` scenario, which replays it live (so it
lives here, below both, and imports neither).

Formats (``auto`` picks one from the first line that is not blank):

- ``clf`` / ``combined``: Common and Combined Log Format,
  ``host ident user [10/Oct/2000:13:55:36 -0700] "GET /items/1?x=2 HTTP/1.1" 200 2326 ["ref" "agent"]``;
- ``jsonl``: one JSON object per line: a time (``ts``, ``time`` or ``timestamp``: epoch seconds or
  ISO 8601), ``method``, a path (``path``, ``url`` or ``uri``), optionally ``user``, ``size``/``bytes``;
  a ``key`` field is taken as the cache key as it is;
- ``csv``: ``timestamp, key[, size][, op]`` (an optional header row); op ``read``/``write`` or an
  HTTP method (absent: read).

The cache key is the method and the path (``GET /items/1``); the query string and the user are
added when asked (``KeyOptions``). GET and HEAD read; PUT, POST, PATCH and DELETE write, and a write
invalidates the GET key of its path. Other methods are counted as not cacheable and left out.
Plain or gzip (by its magic bytes). Lines are read one at a time and each key becomes an int the
first time it is seen, so memory holds the distinct keys and 17 bytes per request, not the lines.
A line that cannot be read is counted and the first few are kept as examples, never dropped silently.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import json
import re
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from cachebench.results.sweep_record import TraceLog

FORMATS = ("auto", "clf", "combined", "jsonl", "csv")
READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
CSV_WRITE_OPS = frozenset({"write", "set", "update", "delete", "invalidate", "put", "post", "patch"})
CSV_READ_OPS = frozenset({"read", "get", "head", ""})
#: Malformed lines kept as examples for the report.
EXAMPLES_KEPT = 5
_CLF = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}|-) (\d+|-)'
    r'(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?\s*$'
)
_CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LogRequests:
    """The log's requests in time order: time (s), key id (the order keys first appear, from 0),
    write or read."""

    times_s: np.ndarray
    keys: np.ndarray
    is_write: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


class AccessLogError(ValueError):
    """An access log that cannot be read at all; the message names the file and why."""


@dataclass(frozen=True)
class KeyOptions:
    """What the cache key is made of besides the method and the path."""

    query: bool = False
    user: bool = False


@dataclass
class LogSummary:
    """What reading a log found: counts, the malformed lines' examples, the keys, the span."""

    path: str
    format: str
    lines: int = 0
    reads: int = 0
    writes: int = 0
    not_cacheable: int = 0
    malformed: int = 0
    examples: list[str] = field(default_factory=list)
    distinct_keys: int = 0
    out_of_order: int = 0
    span_s: float = 0.0
    mean_size_bytes: float | None = None

    @property
    def requests(self) -> int:
        return self.reads + self.writes

    def record(self) -> TraceLog:
        """As the trace sweep's record keeps it."""
        return TraceLog(
            **{name: getattr(self, name) for name in self.__dataclass_fields__}, requests=self.requests
        )

    def describe(self) -> str:
        text = (
            f"{self.path} ({self.format}): {self.lines:,} lines, {self.reads:,} reads, "
            f"{self.writes:,} writes over {self.span_s:,.1f} s, {self.distinct_keys:,} keys"
        )
        if self.not_cacheable:
            text += f", {self.not_cacheable:,} not cacheable (other methods)"
        if self.malformed:
            text += f"; {self.malformed:,} malformed lines, e.g. " + " | ".join(self.examples[:2])
        return text


def _request_key(method: str, target: str, user: str | None, options: KeyOptions) -> str:
    path, _, query = target.partition("?")
    key = path + ("?" + query if options.query and query else "")
    if options.user and user and user != "-":
        key += f" user={user}"
    return key


class _Times:
    """CLF timestamps to epoch seconds; a log repeats each second many times, so parse each once."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def clf(self, text: str) -> float:
        found = self._seen.get(text)
        if found is None:
            found = datetime.strptime(text, _CLF_TIME).timestamp()
            if len(self._seen) > 4096:  # bounded: old seconds do not come back in a sorted log
                self._seen.clear()
            self._seen[text] = found
        return found


def _iso_or_number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:  # a naive time is taken as UTC, as logs usually are
                return float(calendar.timegm(moment.timetuple())) + moment.microsecond / 1e6
            return moment.timestamp()
    raise ValueError(f"no time in {value!r}")


def _parse_clf(line: str, times: _Times, options: KeyOptions) -> tuple[float, str, str, float | None]:
    match = _CLF.match(line)
    if match is None:
        raise ValueError("not Common/Combined Log Format")
    _host, _ident, user, when, request, _status, size = match.groups()[:7]
    method, _, rest = request.partition(" ")
    target = rest.rsplit(" ", 1)[0] if " " in rest else rest
    if not method or not target.startswith("/"):
        raise ValueError(f"no method and path in {request!r}")
    return times.clf(when), method, _request_key(method, target, user, options), _size(size)


def _size(text: object) -> float | None:
    if text in (None, "", "-"):
        return None
    return float(text)  # type: ignore[arg-type]


def _parse_json(line: str, options: KeyOptions) -> tuple[float, str, str, float | None]:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    when = next((data[k] for k in ("ts", "time", "timestamp") if k in data), None)
    method = str(data.get("method", "GET")).upper()
    size = _size(data.get("size", data.get("bytes")))
    if "key" in data:
        return _iso_or_number(when), method, str(data["key"]), size
    target = next((data[k] for k in ("path", "url", "uri") if k in data), None)
    if not isinstance(target, str) or not target:
        raise ValueError("no path, url, uri or key")
    user = str(data["user"]) if data.get("user") else None
    return _iso_or_number(when), method, _request_key(method, target, user, options), size


def _parse_csv(row: list[str]) -> tuple[float, str, str, float | None]:
    if len(row) < 2 or len(row) > 4:
        raise ValueError(f"{len(row)} fields, not 2 to 4")
    when, key = float(row[0]), row[1]
    if not key:
        raise ValueError("an empty key")
    size = _size(row[2].strip()) if len(row) > 2 else None
    op = row[3].strip().lower() if len(row) > 3 else "read"
    if op in CSV_WRITE_OPS:
        return when, "PUT", key, size
    if op in CSV_READ_OPS:
        return when, "GET", key, size
    raise ValueError(f"unknown op {row[3]!r}")


def _lines(path: Path) -> Iterator[str]:
    """The file's lines, gunzipped if it is gzip; any read error as one AccessLogError."""
    try:
        with path.open("rb") as probe:
            gzipped = probe.read(2) == _GZIP_MAGIC
        opener = gzip.open if gzipped else open
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
            yield from handle
    except (OSError, EOFError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise AccessLogError(f"cannot read access log {str(path)!r}: {reason}") from None


def detect_format(line: str) -> str:
    """The format a first line is in."""
    stripped = line.strip()
    if stripped.startswith("{"):
        return "jsonl"
    match = _CLF.match(stripped)
    if match is not None:
        return "combined" if match.group(8) is not None else "clf"
    return "csv"


def records(
    path: Path, fmt: str = "auto", options: KeyOptions | None = None, summary: LogSummary | None = None
) -> Iterator[tuple[float, str, str, float | None]]:
    """Stream ``(time s, method, key, size)`` per readable line, counting the rest in ``summary``."""
    if fmt not in FORMATS:
        raise AccessLogError(f"unknown access log format {fmt!r}; choose from {', '.join(FORMATS)}")
    options = options or KeyOptions()
    summary = summary if summary is not None else LogSummary(str(path), fmt)
    times = _Times()
    header_checked = False
    for number, line in enumerate(_lines(Path(path)), 1):
        summary.lines = number
        if not line.strip():
            continue
        if fmt == "auto":
            fmt = detect_format(line)
            summary.format = fmt
        try:
            if fmt == "jsonl":
                yield _parse_json(line, options)
            elif fmt == "csv":
                row = next(csv.reader([line]))
                if not header_checked and row and row[0].strip().lower() in ("timestamp", "time", "ts"):
                    header_checked = True
                    continue
                header_checked = True
                yield _parse_csv(row)
            else:
                yield _parse_clf(line.rstrip("\r\n"), times, options)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            summary.malformed += 1
            if len(summary.examples) < EXAMPLES_KEPT:
                text = line.strip()
                summary.examples.append(f"line {number}: {text[:120]!r} ({exc})")


def load(
    path: Path | str, fmt: str = "auto", options: KeyOptions | None = None
) -> tuple[LogRequests, LogSummary]:
    """The log's requests (keys as ints, in time order) and what reading it found."""
    path = Path(path)
    summary = LogSummary(str(path), fmt)
    times, keys, writes = array("d"), array("q"), bytearray()
    ids: dict[str, int] = {}
    size_total, sized = 0.0, 0
    for at_s, method, key, size in records(path, fmt, options, summary):
        method = method.upper()
        if method in WRITE_METHODS:
            key_id = ids.setdefault("GET " + key, len(ids))
            writes.append(1)
            summary.writes += 1
        elif method in READ_METHODS:
            key_id = ids.setdefault(f"{method} {key}", len(ids))
            writes.append(0)
            summary.reads += 1
            if size is not None:
                size_total += size
                sized += 1
        else:
            summary.not_cacheable += 1
            continue
        times.append(at_s)
        keys.append(key_id)
    if not summary.requests:
        detail = f"; {summary.malformed:,} malformed, e.g. {summary.examples[0]}" if summary.examples else ""
        raise AccessLogError(f"no request could be read from access log {str(path)!r}{detail}")
    time_s = np.frombuffer(times, dtype=float)
    order = np.argsort(time_s, kind="stable")  # logs are written at completion, a little out of order
    summary.out_of_order = int(np.count_nonzero(np.diff(time_s) < 0))
    summary.distinct_keys = len(ids)
    summary.span_s = float(time_s.max() - time_s.min())
    summary.mean_size_bytes = size_total / sized if sized else None
    key_ids = np.frombuffer(keys, dtype=np.int64)
    is_write = np.frombuffer(bytes(writes), dtype=np.uint8).astype(bool)
    return LogRequests(time_s[order], key_ids[order], is_write[order]), summary
