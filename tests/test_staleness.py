"""Staleness from records: a constructed case with a known answer, then real multi-process runs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cachebench import staleness
from cachebench.results import READ, CsvRow, OriginWriteRow, ReadRow, read_manifest
from cachebench.run.driver import run_bench
from cachebench.run.matrix import load_matrix


def _write_gz(path: Path, row_model: type[CsvRow], rows: list[tuple]) -> None:
    text = row_model.header() + "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    path.write_bytes(gzip.compress(text.encode()))


@pytest.fixture
def known_cell(tmp_path: Path) -> Path:
    """Item 1: v2 committed at 10, v3 at 20; item 2: v2 at 15; item 3 never written.
    Reads come from two Locust processes (two files)."""
    _write_gz(
        tmp_path / "origin_writes.csv.gz",
        OriginWriteRow,
        [
            (1, 2, 10.0),
            (2, 2, 15.0),
            (1, 3, 20.0),
        ],
    )
    _write_gz(
        tmp_path / "reads-host-100.csv.gz",
        ReadRow,
        [
            (5.0, 1, 1, "miss"),  # before any write: fresh
            (10.0, 1, 1, "l1_hit"),  # the write committed at exactly t: stale, age 0
            (15.0, 1, 1, "l1_hit"),  # stale, age 5
            (15.0, 1, 2, "miss"),  # current: fresh
        ],
    )
    _write_gz(
        tmp_path / "reads-host-200.csv.gz",
        ReadRow,
        [
            (19.999, 1, 2, "l1_hit"),  # v3 not committed yet: fresh
            (21.0, 1, 2, "l1_hit"),  # stale, age 1 (v2 obsolete since 20)
            (25.0, 1, 1, "l1_hit"),  # stale, age 15 (v1 obsolete since 10, not since 20)
            (12.0, 1, 3, "miss"),  # newer than what was committed at t: not stale
            (16.0, 2, 1, "redis_hit"),  # stale, age 1
            (3.0, 3, 1, "l1_hit"),  # never written: fresh
            (30.0, 3, 7, "l1_hit"),  # a version the origin never committed: unexplained
        ],
    )
    # A half-written log of a process that had not quit: not a finished record, ignored.
    (tmp_path / ".reads-host-300.csv.gz.part").write_bytes(b"garbage")
    return tmp_path


def test_stale_reads_and_ages_of_a_constructed_case(known_cell):
    found = staleness.summarize_cell(known_cell)

    assert found.available is True
    assert found.reads == 11
    assert found.stale_reads == 5
    assert found.stale_read_ratio == pytest.approx(5 / 11)
    # Ages 0, 5, 1, 15, 1 -> sorted 0, 1, 1, 5, 15; nearest-rank p50 is the 3rd, p99 the 5th.
    assert found.staleness_age_p50_s == pytest.approx(1.0)
    assert found.staleness_age_p99_s == pytest.approx(15.0)
    assert found.staleness_age_max_s == pytest.approx(15.0)
    assert found.origin_writes == 3
    assert found.unexplained_reads == 1


def test_staleness_per_outcome(known_cell):
    by_outcome = staleness.summarize_cell(known_cell).by_outcome

    assert set(by_outcome) == {"l1_hit", "miss", "redis_hit"}
    assert (by_outcome["l1_hit"].reads, by_outcome["l1_hit"].stale_reads) == (7, 4)
    assert by_outcome["l1_hit"].staleness_age_max_s == pytest.approx(15.0)
    assert by_outcome["l1_hit"].staleness_age_p50_s == pytest.approx(1.0)  # of 0, 1, 5, 15
    assert (by_outcome["miss"].reads, by_outcome["miss"].stale_reads) == (3, 0)
    assert by_outcome["miss"].staleness_age_max_s is None
    assert by_outcome["redis_hit"].stale_read_ratio == 1.0


def test_classify_keeps_the_reads_in_their_order(known_cell):
    reads = staleness.load_reads(known_cell)
    classified = staleness.classify(reads, staleness.load_origin_writes(known_cell))

    assert list(classified[READ.t_unix_s]) == list(reads[READ.t_unix_s])
    stale_ages = classified.loc[classified["stale"], "age_s"].tolist()
    assert sorted(stale_ages) == pytest.approx([0.0, 1.0, 1.0, 5.0, 15.0])
    assert list(classified["current_version"])[:4] == [1, 2, 2, 2]


def test_a_cell_without_records_says_why(tmp_path):
    missing = staleness.summarize_cell(tmp_path)
    assert (missing.available, missing.reason) == (
        False,
        "no origin_writes.csv.gz (a target cachebench did not start)",
    )
    _write_gz(tmp_path / "origin_writes.csv.gz", OriginWriteRow, [])
    _write_gz(tmp_path / "reads-h-1.csv.gz", ReadRow, [])
    assert staleness.summarize_cell(tmp_path).available is False


def test_age_summary_of_nothing_is_unknown():
    assert staleness.age_summary([]) == {
        "staleness_age_p50_s": None,
        "staleness_age_p99_s": None,
        "staleness_age_max_s": None,
    }


# -- real runs: several target workers, several Locust processes -------------------------------

LIVE = {"duration_s": 4, "warmup_s": 0.5, "label": "stale", "scenarios": ["write_heavy"],
        "scenario_options": {"keys": 100}}  # fmt: skip
TTL_S = 2.0


def _rows(path: Path) -> int:
    with gzip.open(path, "rt") as lines:
        return sum(1 for _ in lines) - 1  # less the header


def _only_cell(run_dir: Path) -> Path:
    manifest = read_manifest(run_dir)
    assert manifest.status == "complete", [c.reason for c in manifest.cells]
    return run_dir / "cells" / manifest.cells[0].name


def test_two_workers_and_two_locust_processes_give_stale_reads_bounded_by_the_ttl(tmp_path):
    # l1 on two workers: a write invalidates only the worker that served it, so the other one
    # serves the old version until its TTL; every stale read must be younger than the TTL.
    matrix = load_matrix(
        None,
        {
            **LIVE,
            "targets": ["l1"],
            "workers": 2,
            "locust_processes": 2,
            "settings": {"two": {"l1_ttl_s": TTL_S, "origin_latency_ms": 2, "invalidation": "delete"}},
        },
    )
    cell_dir = _only_cell(run_bench(matrix, results_root=tmp_path))

    read_logs = list(cell_dir.glob("reads-*.csv.gz"))
    assert len(read_logs) == 2, "one read log per Locust process"
    found = staleness.summarize_cell(cell_dir)
    assert found.reads == sum(_rows(path) for path in read_logs)
    assert found.unexplained_reads == 0
    assert found.stale_reads > 0
    assert 0 <= found.staleness_age_max_s < TTL_S + 0.1
    assert (found.by_outcome["miss"].stale_reads if "miss" in found.by_outcome else 0) == 0


def test_one_worker_with_delete_invalidation_serves_nothing_stale(tmp_path):
    # One worker applies each write's delete before it serves another request: no stale read
    # can exist, so any found would be an accounting error.
    matrix = load_matrix(
        None,
        {
            **LIVE,
            "targets": ["l1"],
            "workers": 1,
            "settings": {"one": {"l1_ttl_s": 30, "origin_latency_ms": 2, "invalidation": "delete"}},
        },
    )
    cell_dir = _only_cell(run_bench(matrix, results_root=tmp_path))

    found = staleness.summarize_cell(cell_dir)
    assert found.reads > 100 and found.origin_writes > 100
    assert found.stale_reads == 0
    assert found.unexplained_reads == 0
