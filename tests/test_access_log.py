"""Access logs as sweep input: each format read, malformed lines counted with examples, bounded
memory on a large log, a clear error for an unreadable file, and ``cachebench sweep --trace``
end to end on the sample log (tests/fixtures/make_access_log.py)."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from cachebench.cli.sweep_command import add_parsers, cmd_sweep
from cachebench.load import access_log
from cachebench.results.schema import check_folder
from cachebench.results.sweep_record import TraceSweepResults
from cachebench.tuning import trace_sweep
from cachebench.tuning.curves import GRID_ERROR_PP

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "access_log.gz"
ROOT = Path(__file__).resolve().parent.parent

CLF = """\
10.0.0.1 - - [04/Mar/2025:10:00:00 +0000] "GET /items/1 HTTP/1.1" 200 1200
10.0.0.2 - alice [04/Mar/2025:10:00:01 +0000] "GET /items/1?fields=name HTTP/1.1" 200 300
10.0.0.1 - - [04/Mar/2025:10:00:02 +0000] "PUT /items/1 HTTP/1.1" 200 1200
10.0.0.3 - - [04/Mar/2025:10:00:03 +0000] "GET /items/2 HTTP/1.1" 200 -
"""
COMBINED = """\
10.0.0.1 - - [04/Mar/2025:10:00:00 +0000] "GET /items/1 HTTP/1.1" 200 1200 "-" "curl/8.0"
10.0.0.1 - - [04/Mar/2025:10:00:00 +0100] "DELETE /items/1 HTTP/1.1" 204 0 "https://x/" "curl/8.0"
"""
JSONL = "\n".join(
    json.dumps(row)
    for row in [
        {"ts": 1700000000.5, "method": "GET", "path": "/items/1", "size": 100},
        {"time": "2023-11-14T22:13:21Z", "method": "POST", "url": "/items/1"},
        {"timestamp": 1700000002, "key": "custom-key"},
    ]
)
CSV = "timestamp,key,size,op\n1.0,a,10,read\n2.0,b,,GET\n3.0,a,10,write\n4.0,a,10,\n"


def _write(tmp_path: Path, name: str, text: str, gzipped: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    return path


@pytest.mark.parametrize("gzipped", [False, True])
def test_common_log_format(tmp_path, gzipped):
    requests, found = access_log.load(_write(tmp_path, "access.log", CLF, gzipped))
    assert found.format == "clf" and (found.reads, found.writes, found.malformed) == (3, 1, 0)
    # Query strings are not part of the key by default: the second read is key 0 again; the PUT
    # invalidates its path's GET key.
    assert requests.keys.tolist() == [0, 0, 0, 1] and requests.is_write.tolist() == [
        False,
        False,
        True,
        False,
    ]
    assert requests.times_s.tolist() == [1741082400.0 + s for s in range(4)]
    assert found.mean_size_bytes == pytest.approx(750)
    _, keyed = access_log.load(tmp_path / "access.log", options=access_log.KeyOptions(query=True, user=True))
    assert keyed.distinct_keys == 3


def test_combined_log_format_orders_by_time(tmp_path):
    requests, found = access_log.load(_write(tmp_path, "combined.log", COMBINED))
    assert found.format == "combined" and found.out_of_order == 1
    assert requests.is_write.tolist() == [True, False]  # 10:00 +0100 is an hour before 10:00 UTC


def test_json_lines(tmp_path):
    requests, found = access_log.load(_write(tmp_path, "log.jsonl", JSONL, gzipped=True))
    assert found.format == "jsonl" and (found.reads, found.writes) == (2, 1)
    assert requests.times_s.tolist() == [1700000000.5, 1700000001.0, 1700000002.0]
    assert requests.keys.tolist() == [0, 0, 1]


def test_csv(tmp_path):
    requests, found = access_log.load(_write(tmp_path, "log.csv", CSV))
    assert found.format == "csv" and (found.reads, found.writes, found.malformed) == (3, 1, 0)
    assert requests.keys.tolist() == [0, 1, 0, 0] and requests.is_write.tolist() == [
        False,
        False,
        True,
        False,
    ]


def test_malformed_lines_are_counted_with_examples(tmp_path):
    lines = CLF + 'garbage line\n10.0.0.1 - - [04/Mar/2025:10:00:09 +0000] "GET /items/1\n' * 4
    requests, found = access_log.load(_write(tmp_path, "bad.log", lines))
    assert found.malformed == 8 and len(found.examples) == access_log.EXAMPLES_KEPT
    assert found.examples[0].startswith("line 5: 'garbage line'")
    assert "8 malformed lines" in found.describe() and len(requests) == 4


def test_an_unreadable_log_is_one_clear_error_from_the_command(tmp_path):
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(CLF.encode())[:40])
    for path, reason in ((tmp_path / "absent.log", "No such file"), (broken, "cannot read")):
        done = subprocess.run(
            [sys.executable, "-m", "cachebench.cli", "sweep", "--trace", str(path)],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert str(path) in done.stderr and reason in done.stderr
    with pytest.raises(access_log.AccessLogError, match="no request could be read"):
        access_log.load(_write(tmp_path, "empty.log", "nonsense\n"))


def test_a_large_log_streams_in_bounded_memory(tmp_path):
    # 600,000 lines (~60 MB): streaming them keeps memory flat; loading keeps a few arrays.
    path = tmp_path / "large.log"
    line = '10.0.0.1 - - [04/Mar/2025:10:%02d:%02d +0000] "GET /items/%d HTTP/1.1" 200 1200 "-" "agent/1.0"\n'
    count = 600_000
    with path.open("w") as out:
        for n in range(count):
            out.write(line % (n // 60_000, (n // 1000) % 60, n % 5000))
    process = psutil.Process(os.getpid())
    before = process.memory_info().rss
    seen = sum(1 for _ in access_log.records(path))
    streamed = process.memory_info().rss - before
    requests, found = access_log.load(path)
    loaded = process.memory_info().rss - before
    assert seen == count == len(requests) and found.distinct_keys == 5000
    assert streamed < 10_000_000, streamed
    # The arrays are 17 bytes a request (plus growth slack and the time sort's copies); the lines
    # themselves, as Python strings, would be ~150 bytes each.
    assert loaded < 60 * count, loaded


def test_sweep_trace_end_to_end_on_the_sample_log(tmp_path, monkeypatch):
    monkeypatch.setattr(trace_sweep, "RESULTS_ROOT", tmp_path)
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers())
    assert cmd_sweep(parser.parse_args(["sweep", "--trace", str(FIXTURE), "--min-hit-ratio", "0.3"])) == 0
    (found,) = list(tmp_path.rglob(TraceSweepResults.FILE))
    run_dir = found.parent
    results = TraceSweepResults.read(found)
    simulator = results.simulator
    assert simulator.trace.malformed == 3 and simulator.trace.reads > 7000
    checks = simulator.curves.checks
    assert len(checks) == 9 and all(-GRID_ERROR_PP <= c.error_pp <= 0.5 for c in checks), checks
    assert results.recommendation.recommended, results.recommendation.verdict
    # One process whose writes delete their key: nothing is stale, and nothing stale is old.
    assert {(p.stale_read_ratio, p.staleness_age_max_s) for p in results.points} == {(0.0, 0.0)}
    assert check_folder(run_dir) == (["manifest.json", TraceSweepResults.FILE], [])
    # Recommending again reads the trace sweep's record back.
    assert cmd_sweep(parser.parse_args(["sweep", "--from", str(run_dir), "--min-hit-ratio", "0.99"])) == 0
    assert TraceSweepResults.read(found).recommendation.recommended == []
    page = (run_dir / "sweep_report.html").read_text()
    assert page.index("hit ratio against L1 size") < page.index("Recommendation")
    assert "malformed lines were left out" in page and (run_dir / "hit_ratio_curves.png").exists()
