"""The per-request row logs of a cell, which staleness is measured from: one row model each.

- ``reads-<host>-<pid>.csv.gz``, from every Locust process that runs users: a ``ReadRow`` per
  item read;
- ``writes-<host>-<pid>.csv.gz``, from the same processes: a ``ClientWriteRow`` per item write
  acknowledged;
- ``origin_writes.csv.gz``, exported by the runner from the origin: an ``OriginWriteRow`` per
  write any worker committed (warm-up included), the ground truth.

The writers format each line by position, in the model's column order (a read is logged on every
request: no dict, no csv module); readers take the columns by name from ``READ``,
``CLIENT_WRITE`` and ``ORIGIN_WRITE``.
"""

from __future__ import annotations

from cachebench.results.csv_row import Columns, CsvRow


class ReadRow(CsvRow):
    """One item read a Locust user sent."""

    #: When it was sent (Unix seconds, to the µs).
    t_unix_s: float
    item_id: int
    #: The version the body (or, for a 304, the ETag) said.
    version: int
    #: How it was answered: ``l1_hit``, ``redis_hit``, ``miss``, ``client_local``,
    #: ``not_modified`` (``cachebench.load.outcomes``).
    outcome: str


class ClientWriteRow(CsvRow):
    """One item write a Locust user had acknowledged."""

    #: When the answer came (Unix seconds, to the µs).
    t_unix_s: float
    item_id: int
    #: The version the write made.
    new_version: int


class OriginWriteRow(CsvRow):
    """One write the origin committed."""

    item_id: int
    #: The version it committed.
    version: int
    #: When (Unix seconds, to the µs).
    at_unix_s: float


READ = Columns(ReadRow)
CLIENT_WRITE = Columns(ClientWriteRow)
ORIGIN_WRITE = Columns(OriginWriteRow)
