"""Stale reads, measured from records: what the reads returned against the origin's own write log.

Records (all in one cell folder, all on one machine, so wall clocks agree):

- ``reads-<host>-<pid>.csv.gz`` from every Locust process: a ``ReadRow`` per read,
  ``t_unix_s`` the time it was sent, ``version`` what the body (or ETag) said;
- ``origin_writes.csv.gz`` exported by the runner from the origin: an ``OriginWriteRow`` for
  every write any worker committed (warm-up included), the ground truth.

(``cachebench.results.row_log_record``: the rows, and the column names used here.)

A read sent at ``t`` that returned version ``v`` of an item is stale when the origin had
committed a version newer than ``v`` at or before ``t``. A write committed after the read was
sent is not staleness (the read may legitimately have been served before it). The staleness
age is ``t`` minus the commit time of the write that made ``v`` obsolete (version ``v + 1``).

Several Locust processes and several target workers change nothing: reads are concatenated,
and the origin log is one table all workers write to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cachebench.results import (
    ORIGIN_WRITE,
    ORIGIN_WRITES_FILE,
    READ,
    READS_GLOB,
    WRITES_GLOB,
    ClientWriteRow,
    ReadRow,
    StaleFigures,
    Staleness,
)

#: Items start at version 1 (seeded); write n of an item commits version n + 1.
SEEDED_VERSION = 1


def age_summary(ages_s: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """p50, p99 and max of staleness ages (nearest rank: each is an age some read had)."""
    ages = np.asarray(ages_s, dtype=float)
    if not ages.size:
        return {"staleness_age_p50_s": None, "staleness_age_p99_s": None, "staleness_age_max_s": None}
    p50, p99 = np.percentile(ages, [50, 99], method="inverted_cdf")
    return {
        "staleness_age_p50_s": float(p50),
        "staleness_age_p99_s": float(p99),
        "staleness_age_max_s": float(ages.max()),
    }


def load_reads(cell_dir: Path) -> pd.DataFrame:
    """Every Locust process's read log, concatenated (empty frame when there are none)."""
    frames = [pd.read_csv(path) for path in sorted(Path(cell_dir).glob(READS_GLOB))]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame({column: [] for column in ReadRow.columns()})
    return pd.concat(frames, ignore_index=True)


def load_origin_writes(cell_dir: Path) -> pd.DataFrame:
    return pd.read_csv(Path(cell_dir) / ORIGIN_WRITES_FILE)


def load_client_writes(cell_dir: Path) -> pd.DataFrame:
    """The writes the measured Locust processes had acknowledged (``ClientWriteRow``s)."""
    frames = [pd.read_csv(path) for path in sorted(Path(cell_dir).glob(WRITES_GLOB))]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame({column: [] for column in ClientWriteRow.columns()})
    return pd.concat(frames, ignore_index=True)


def classify(reads: pd.DataFrame, writes: pd.DataFrame) -> pd.DataFrame:
    """``reads`` with ``current_version`` (the origin's at send time), ``stale`` and ``age_s``.

    Also ``unexplained``: a stale read whose obsoleting write is missing from the log, or a read
    of a version the origin never committed — either means the records disagree.
    """
    # The two logs name the item alike (ReadRow, OriginWriteRow): the merges below join on it.
    item = READ.item_id
    reads = reads.astype({READ.t_unix_s: float, item: "int64", READ.version: "int64"})
    writes = writes.astype(
        {ORIGIN_WRITE.item_id: "int64", ORIGIN_WRITE.version: "int64", ORIGIN_WRITE.at_unix_s: float}
    )
    ordered = reads.reset_index(drop=True).reset_index(names="_row").sort_values(READ.t_unix_s, kind="stable")
    log = writes.sort_values(ORIGIN_WRITE.at_unix_s, kind="stable").rename(
        columns={ORIGIN_WRITE.version: "current_version", ORIGIN_WRITE.at_unix_s: "_current_at"}
    )
    # The newest write of the same item committed at or before the read was sent.
    merged = pd.merge_asof(
        ordered,
        log,
        left_on=READ.t_unix_s,
        right_on="_current_at",
        by=item,
        direction="backward",
        allow_exact_matches=True,
    )
    merged["current_version"] = merged["current_version"].fillna(SEEDED_VERSION).astype("int64")
    merged["stale"] = merged[READ.version] < merged["current_version"]
    obsoleting = writes.rename(
        columns={ORIGIN_WRITE.version: "_next", ORIGIN_WRITE.at_unix_s: "_obsoleted_at"}
    )
    merged["_next"] = merged[READ.version] + 1
    merged = merged.merge(obsoleting, on=[item, "_next"], how="left")
    merged["age_s"] = np.where(merged["stale"], merged[READ.t_unix_s] - merged["_obsoleted_at"], np.nan)
    committed = set(zip(writes[ORIGIN_WRITE.item_id], writes[ORIGIN_WRITE.version], strict=True))
    never = [
        v > SEEDED_VERSION and (i, v) not in committed
        for i, v in zip(merged[item], merged[READ.version], strict=True)
    ]
    merged["unexplained"] = (merged["stale"] & merged["_obsoleted_at"].isna()) | np.asarray(never, bool)
    merged = merged.sort_values("_row").drop(columns=["_row", "_current_at", "_next", "_obsoleted_at"])
    return merged.reset_index(drop=True)


def _figures(frame: pd.DataFrame) -> StaleFigures:
    reads = len(frame)
    stale = frame[frame["stale"]]
    return StaleFigures(
        reads=reads,
        stale_reads=len(stale),
        stale_read_ratio=len(stale) / reads if reads else None,
        **age_summary(stale["age_s"].dropna().to_numpy()),
    )


def summarize(reads: pd.DataFrame, writes: pd.DataFrame) -> Staleness:
    """Stale-read ratio and staleness age overall and per outcome (``l1_hit``, ``miss``...)."""
    classified = classify(reads, writes)
    return Staleness(
        available=True,
        **_figures(classified).model_dump(),
        origin_writes=len(writes),
        unexplained_reads=int(classified["unexplained"].sum()),
        by_outcome={
            str(outcome): _figures(group) for outcome, group in classified.groupby(READ.outcome, sort=True)
        },
    )


def summarize_cell(cell_dir: Path) -> Staleness:
    """Staleness of one cell from its files; not ``available``, with the reason, without them."""
    cell_dir = Path(cell_dir)
    if not (cell_dir / ORIGIN_WRITES_FILE).exists():
        return Staleness(
            available=False, reason=f"no {ORIGIN_WRITES_FILE} (a target cachebench did not start)"
        )
    reads = load_reads(cell_dir)
    if reads.empty:
        return Staleness(available=False, reason=f"no {READS_GLOB} with rows")
    return summarize(reads, load_origin_writes(cell_dir))


__all__ = [
    "age_summary",
    "classify",
    "load_client_writes",
    "load_origin_writes",
    "load_reads",
    "summarize",
    "summarize_cell",
]
