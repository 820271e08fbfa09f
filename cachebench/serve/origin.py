"""The slow origin every target sits in front of: a seeded SQLite file plus added latency.

All workers of a target open the same file. It is created once, under a file lock, and seeded
deterministically from the settings, so two runs with the same settings start from the same data.
Writes are logged with their wall-clock time so staleness can be measured from records.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import hashlib
import hmac
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from cachebench.serve import metrics
from cachebench.serve.codec import Item, Profile
from cachebench.settings import Settings

SEEDED_AT = "2026-01-01T00:00:00.000000Z"
#: Seconds the current request's last origin operation waited for a pool connection: each
#: request runs in its own task, so the value is the request's own (Server-Timing shows it).
ORIGIN_QUEUE_S: ContextVar[float] = ContextVar("origin_queue_s", default=0.0)
_PLANS = ("free", "team", "enterprise")

_SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, updated_at TEXT NOT NULL,
                    name TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE users (id INTEGER PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE,
                    version INTEGER NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL,
                    plan TEXT NOT NULL);
CREATE TABLE writes (item_id INTEGER NOT NULL, version INTEGER NOT NULL, at_unix_s REAL NOT NULL);
"""


def user_token(user_id: int, seed: int = 42) -> str:
    """The bearer token the origin seeds for ``user_id``; scenarios derive tokens the same way."""
    return hmac.new(f"cachebench-{seed}".encode(), str(user_id).encode(), "sha256").hexdigest()


def export_write_log(origin_path: Path, out_path: Path) -> int:
    """Copy the origin's write log to a gzipped CSV of ``OriginWriteRow``s; returns rows."""
    # Here, not at the top: only the runner calls this. A target's processes import this module
    # and load no results record (pydantic models for every file): their start-up and RSS, which
    # cells measure, stay as they were.
    from cachebench.results.row_log_record import OriginWriteRow

    with sqlite3.connect(f"file:{origin_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT item_id, version, at_unix_s FROM writes ORDER BY at_unix_s").fetchall()
    db.close()
    # The table's columns are OriginWriteRow's, in its order.
    text = OriginWriteRow.header() + "".join(f"{i},{v},{t:.6f}\n" for i, v, t in rows)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_bytes(gzip.compress(text.encode()))
    os.replace(tmp, out_path)
    return len(rows)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _payload(rng: random.Random, size: int) -> str:
    return rng.randbytes((size + 1) // 2).hex()[:size]


def _seed(path: Path, settings: Settings) -> None:
    """Build the database in a side file and rename it into place, so no reader sees it half-made."""
    building = path.with_suffix(f".building-{os.getpid()}")
    building.unlink(missing_ok=True)
    rng = random.Random(settings.seed)
    with sqlite3.connect(building) as db:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO items VALUES (?, 1, ?, ?, ?)",
            (
                (i, SEEDED_AT, f"item-{i}", _payload(rng, settings.payload_bytes))
                for i in range(1, settings.origin_items + 1)
            ),
        )
        db.executemany(
            "INSERT INTO users VALUES (?, ?, 1, ?, ?, ?)",
            (
                (
                    u,
                    _token_digest(user_token(u, settings.seed)),
                    f"user-{u}",
                    f"user-{u}@example.test",
                    _PLANS[u % len(_PLANS)],
                )
                for u in range(1, settings.origin_users + 1)
            ),
        )
    db.close()
    os.replace(building, path)


class Origin:
    """Reads and writes items and profiles through a bounded pool, paying the latency on each."""

    def __init__(self, settings: Settings) -> None:
        self._latency_s = settings.origin_latency_ms / 1000
        self._jitter_s = settings.origin_jitter_ms / 1000
        # A database answers through a pool of a few connections per process; beyond it callers
        # queue. Without the bound, asyncio.sleep would let any number of reads overlap and the
        # origin could never saturate, so no cache could show what it saves.
        self._pool = asyncio.Semaphore(settings.origin_concurrency)
        self._path = settings.origin_file
        self._ensure_seeded(settings)
        # One connection per process, used from the event loop thread only: a primary-key read
        # takes ~10 µs, far less than handing it to a thread would cost.
        self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 5000")
        # No fsync per write (WAL still keeps the file consistent): a commit's ~1 ms fsync would
        # block the event loop, a cost of this stand-in, not of the remote database it models.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._users_by_token = dict(self._db.execute("SELECT token_sha256, id FROM users"))

    @staticmethod
    def _ensure_seeded(settings: Settings) -> None:
        path = settings.origin_file
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                _seed(path, settings)
            with sqlite3.connect(path) as db:
                db.execute("PRAGMA journal_mode = WAL")
            db.close()

    def close(self) -> None:
        self._db.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[None]:
        """A pool connection for one operation, held for the origin's latency; waits are counted."""
        queued_at = time.perf_counter() if self._pool.locked() else None
        async with self._pool:
            queued_s = 0.0 if queued_at is None else time.perf_counter() - queued_at
            ORIGIN_QUEUE_S.set(queued_s)
            if queued_at is not None:
                metrics.ORIGIN_QUEUED.inc()
                metrics.ORIGIN_QUEUE_SECONDS.inc(queued_s)
            held_from = time.perf_counter()
            try:
                await self._pay_latency()
                yield
            finally:
                metrics.ORIGIN_HELD_SECONDS.inc(time.perf_counter() - held_from)

    async def _pay_latency(self) -> None:
        delay_s = self._latency_s + random.uniform(-self._jitter_s, self._jitter_s)
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    async def read_item(self, item_id: int) -> Item | None:
        async with self._connection():
            metrics.ORIGIN_READS.inc()
            row = self._db.execute(
                "SELECT id, version, updated_at, name, payload FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        return Item(*row) if row else None

    async def write_item(self, item_id: int, name: str | None, payload: str | None) -> Item | None:
        """Apply a partial update, bump the version and log the write; None for an unknown id."""
        async with self._connection():
            metrics.ORIGIN_WRITES.inc()
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute(
                    "UPDATE items SET version = version + 1, updated_at = ?,"
                    " name = coalesce(?, name), payload = coalesce(?, payload) WHERE id = ?"
                    " RETURNING id, version, updated_at, name, payload",
                    (now, name, payload, item_id),
                ).fetchone()
                if row:
                    self._db.execute("INSERT INTO writes VALUES (?, ?, ?)", (item_id, row[1], time.time()))
        return Item(*row) if row else None

    def user_for_token(self, token: str) -> int | None:
        """Authenticate locally, as a service checking a signed token would: no origin read."""
        return self._users_by_token.get(_token_digest(token))

    async def read_profile(self, user_id: int) -> Profile | None:
        async with self._connection():
            metrics.ORIGIN_READS.inc()
            row = self._db.execute(
                "SELECT id, version, name, email, plan FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        return Profile(*row) if row else None

    def write_log(self) -> list[tuple[int, int, float]]:
        """Every write so far as (item_id, new_version, unix time): the ground truth for staleness."""
        return self._db.execute("SELECT item_id, version, at_unix_s FROM writes").fetchall()
