"""Scenarios run as real, short headless Locust runs against real targets on 127.0.0.1.

Also holds the helpers the measurement tests share: ``run_locust`` (a bounded Locust run in a
subprocess, stopped by PID with its worker processes) and ``fake_server`` (a tiny HTTP server
that can stall once or hand out another user's profile, for what a correct target never does).

Importing locust monkey-patches the whole test process with gevent unless
``LOCUST_SKIP_MONKEY_PATCH`` is set; these tests only use Locust-free parts in-process (Locust
itself runs in subprocesses), so the variable is set just while importing.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

SKIP_PATCH = "LOCUST_SKIP_MONKEY_PATCH"
_skip_patch_was_set = SKIP_PATCH in os.environ
os.environ[SKIP_PATCH] = "1"
from cachebench.load.shapes import (  # noqa: E402
    SHAPES,
    ShapeError,
    SpikeShape,
    StepRampShape,
    apply_environment,
    selected_shape,
)
from cachebench.load.workload import Workload, WorkloadSpec, expected_hot_set  # noqa: E402
from cachebench.results import LATENCY_FILE, LatencyRecord  # noqa: E402
from cachebench.run.processes.children import free_port, terminate  # noqa: E402
from cachebench.run.processes.launcher import TargetProcess  # noqa: E402

if not _skip_patch_was_set:
    del os.environ[SKIP_PATCH]

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.stem for p in (REPO / "scenarios").glob("[!_]*.py"))
LOCUST_TIMEOUT_S = 60
FAST_ORIGIN = {"origin_latency_ms": 1, "origin_jitter_ms": 0}

# An HTTP/1.1 keep-alive server on asyncio, in one file: GET/PUT /items/<id> answer item JSON,
# GET /me answers a profile. argv: port, stall_after (the request that blocks the whole server
# for stall_s, like a long GC pause; 0 = never), stall_s, and "leak" to answer /me with user 0.
FAKE_SERVER = r"""
import asyncio, json, sys, time
port, stall_after, stall_s, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
served = 0

def answer(method, path):
    if path.startswith("/items/"):
        ident = int(path.rsplit("/", 1)[1])
        version = 2 if method == "PUT" else 1
        return "200 OK", {"id": ident, "version": version, "name": f"item-{ident}", "payload": "x"}
    if path == "/me":
        owner = 0 if mode == "leak" else 1
        return "200 OK", {"id": owner, "version": 1, "name": "someone", "email": "e", "plan": "p"}
    return "404 Not Found", {"detail": "Not Found"}

async def handle(reader, writer):
    global served
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            fields = (line.partition(":") for line in head[1:] if line)
            headers = {name.strip().lower(): value.strip() for name, _, value in fields}
            if int(headers.get("content-length") or 0):
                await reader.readexactly(int(headers["content-length"]))
            served += 1
            if served == stall_after:
                time.sleep(stall_s)  # blocks the event loop: every connection waits
            status, body = answer(method, path)
            data = json.dumps(body, separators=(",", ":")).encode()
            head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}"
            writer.write(head.encode() + b"\r\n\r\n" + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


@contextlib.contextmanager
def fake_server(stall_after: int = 0, stall_s: float = 0.0, leak: bool = False) -> Iterator[str]:
    port = free_port()
    args = [str(port), str(stall_after), str(stall_s), "leak" if leak else "ok"]
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_line = proc.stdout.readline()  # "" at EOF if it died
        assert first_line.strip() == "ready", first_line + proc.stdout.read()
        yield f"http://127.0.0.1:{port}"
    finally:
        terminate(proc)
        proc.stdout.close()


@dataclass
class LocustRun:
    returncode: int
    output: str
    results: Path

    @property
    def latency(self) -> LatencyRecord:
        return LatencyRecord.read(self.results / LATENCY_FILE)

    def locust_stats(self) -> dict[str, dict]:
        """Locust's own final statistics (``--json-file``), by request name."""
        return {entry["name"]: entry for entry in json.loads((self.results / "locust.json").read_text())}

    def histogram(self, key: str) -> HdrHistogram:
        return HdrHistogram.decode(self.latency.histograms[key])

    def rows(self, kind: str) -> list[list[str]]:
        """Rows of every process's ``reads``/``writes`` file, without headers."""
        rows = []
        for path in sorted(self.results.glob(f"{kind}-*.csv.gz")):
            with gzip.open(path, "rt") as file:
                lines = file.read().splitlines()
            assert lines[0].startswith("t_unix_s,item_id,")
            rows += [line.split(",") for line in lines[1:]]
        return rows


def run_locust(
    scenario: str,
    host: str,
    results: Path,
    *extra: str,
    users: int = 10,
    run_time: str = "3s",
    env: dict[str, str] | None = None,
) -> LocustRun:
    """One bounded headless run; its processes are stopped by PID even if the test fails."""
    command = [
        sys.executable, "-m", "locust", "-f", f"scenarios/{scenario}.py", "--headless",
        "-u", str(users), "-r", str(users), "--run-time", run_time, "--stop-timeout", "0",
        "--host", host, "--results-dir", str(results), "--json-file", str(results / "locust"),
        "--loglevel", "INFO", *extra,
    ]  # fmt: skip
    if "--processes" in extra:
        # Locust's master listens on 5557 on every interface by default: a free loopback port
        # instead, so that concurrent runs never pick up each other's workers.
        port = str(free_port())
        command += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]
    environment = {**os.environ, **(env or {})}
    environment.pop(SKIP_PATCH, None)  # Locust needs its gevent patching
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    try:
        output, _ = proc.communicate(timeout=LOCUST_TIMEOUT_S)
    finally:
        terminate(proc)
    return LocustRun(proc.returncode, output, results)


def assert_counts_match_locust(run: LocustRun) -> None:
    """Ours and Locust's count the same requests: those recorded, and those answered while Locust
    stopped (left out of ours, see cachebench.load.measurement)."""
    latency, stats = run.latency, run.locust_stats()
    after_stop = latency.after_stop
    total = latency.requests + sum(after_stop.values())
    assert total == sum(entry["num_requests"] for entry in stats.values()), run.output[-3000:]
    for name, entry in stats.items():
        assert latency.counts.get(f"{name}|all", 0) + after_stop.get(name, 0) == entry["num_requests"]
    assert latency.incomplete_workers == []


@pytest.fixture(scope="module")
def l1_target() -> Iterator[str]:
    with TargetProcess("l1", FAST_ORIGIN) as target:
        yield target.url


def test_there_are_all_the_scenarios_the_issue_names():
    assert {
        "read_heavy",
        "read_only",
        "write_heavy",
        "shifting_hotspot",
        "stampede",
        "per_user",
        "browser_clients",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_states_its_question_and_uses_the_common_options(scenario):
    tree = ast.parse((REPO / "scenarios" / f"{scenario}.py").read_text())
    docstring = ast.get_docstring(tree)
    assert docstring and "Question:" in docstring and f"locust -f scenarios/{scenario}.py" in docstring
    source = ast.unparse(tree)
    assert "init_command_line_parser" in source and "add_common_arguments(" in source
    assert "Shape = selected_shape()" in source
    users = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name.endswith("User")]
    assert users, "a scenario defines a <Thing>User"


def test_read_only_reads_and_logs_every_read(l1_target, tmp_path):
    run = run_locust("read_only", l1_target, tmp_path, "--keys", "200", run_time="2s")
    assert run.returncode == 0, run.output[-3000:]
    assert_counts_match_locust(run)
    counts = run.latency.counts
    assert "PUT /items/[id]|all" not in counts
    assert counts["GET /items/[id]|l1_hit"] > 0 and counts["GET /items/[id]|miss"] > 0
    reads = run.rows("reads")
    assert len(reads) == counts["GET /items/[id]|all"]
    assert {row[3] for row in reads} == {"l1_hit", "miss"} and {row[2] for row in reads} == {"1"}
    assert not any(key.endswith("|corrected") for key in run.latency.histograms)  # capacity run


def test_write_heavy_writes_half_the_time_and_logs_new_versions(l1_target, tmp_path):
    run = run_locust("write_heavy", l1_target, tmp_path, "--rate", "300", run_time="2s")  # light
    assert run.returncode == 0, run.output[-3000:]
    assert_counts_match_locust(run)
    counts = run.latency.counts
    share = counts["PUT /items/[id]|all"] / run.latency.requests
    assert 0.4 < share < 0.6
    writes = run.rows("writes")
    assert len(writes) == counts["PUT /items/[id]|all"]
    by_item: dict[str, list[int]] = {}
    for _, item_id, version in writes:
        by_item.setdefault(item_id, []).append(int(version))
    # Each acknowledged write got the next version of its item: no gaps, no repeats.
    for versions in by_item.values():
        assert sorted(versions) == list(range(min(versions), min(versions) + len(versions)))
        assert min(versions) >= 2  # the seeded version is 1


def test_shifting_hotspot_moves_the_hot_set_during_the_run(l1_target, tmp_path):
    run = run_locust(
        "shifting_hotspot", l1_target, tmp_path, "--keys", "1000", "--hotspot-shift-s", "1", run_time="3s"
    )
    assert run.returncode == 0, run.output[-3000:]
    assert_counts_match_locust(run)
    workload = Workload(
        WorkloadSpec(keys=1000, distribution="hotspot", hot_keys_fraction=0.01, hotspot_shift_s=1)
    )
    read_items = Counter(int(row[1]) for row in run.rows("reads"))
    first, second = expected_hot_set(workload, 0.0), expected_hot_set(workload, 1.0)
    assert len(first) == 10 and not first & second
    # Both hot sets were hot for a while: each of their items was read far more than a cold one.
    cold_mean = sum(n for item, n in read_items.items() if item not in first | second) / (1000 - 20)
    assert all(read_items[item] > 5 * cold_mean for item in first | second)


def test_stampede_shows_expiries_and_coalesced_misses(tmp_path):
    # A 1 s TTL and a 20 ms origin: every second each of the 5 hot entries expires, and the 20
    # users pile onto the origin read; with coalescing they wait on one read per key.
    settings = {"origin_latency_ms": 20, "origin_jitter_ms": 0, "l1_ttl_s": 1, "coalesce": True}
    with TargetProcess("l1", settings) as target:
        run = run_locust("stampede", target.url, tmp_path, users=20, run_time="3s")
    assert run.returncode == 0, run.output[-3000:]
    assert_counts_match_locust(run)
    assert {int(row[1]) for row in run.rows("reads")} <= set(range(1, 6))
    per_s = run.latency.timeline.per_s
    misses, collapsed = sum(per_s["miss"]), sum(per_s.get("collapsed", []))
    assert misses == run.latency.counts["GET /items/[id]|miss"]
    assert collapsed > 0
    # Origin reads (misses that did not share another's read): about one per key per expiry.
    assert misses - collapsed <= 5 * 6


def test_per_user_reads_only_its_own_profile(l1_target, tmp_path):
    run = run_locust("per_user", l1_target, tmp_path, "--rate", "300", run_time="2s")  # light
    assert run.returncode == 0, run.output[-3000:]
    assert_counts_match_locust(run)
    stats = run.locust_stats()
    assert stats["GET /me"]["num_requests"] > 0 and stats["GET /me"]["num_failures"] == 0
    assert run.latency.counts["GET /me|l1_hit"] > 0


def test_per_user_records_another_users_data_as_a_failure(tmp_path):
    with fake_server(leak=True) as url:
        run = run_locust("per_user", url, tmp_path, run_time="2s")
    stats = run.locust_stats()
    assert run.returncode == 1  # Locust's exit code when requests failed
    assert stats["GET /me"]["num_requests"] > 0
    assert stats["GET /me"]["num_failures"] == stats["GET /me"]["num_requests"]
    assert stats["GET /items/[id]"]["num_failures"] == 0
    # The fake server answers 200: the failures are the scenario's own check of whose data it got.
    left_out = run.latency.after_stop.get("GET /me", 0)  # answered as Locust stopped
    assert run.latency.counts["GET /me|error"] + left_out == stats["GET /me"]["num_requests"]


def test_browser_clients_answer_locally_and_revalidate(tmp_path):
    with TargetProcess("client-headers", {**FAST_ORIGIN, "max_age_s": 1}) as target:
        run = run_locust("browser_clients", target.url, tmp_path, "--keys", "50", run_time="3s")
    assert run.returncode == 0, run.output[-3000:]
    assert_counts_match_locust(run)
    browser, counts = run.latency.browser, run.latency.counts
    assert browser.client_local == counts["GET /items/[id]|client_local"] > 0
    assert browser.not_modified == counts["GET /items/[id]|not_modified"] > 0
    assert browser.network == counts["GET /items/[id]|miss"] > 0
    body_bytes = browser.bytes_received / browser.network
    assert browser.bytes_saved == pytest.approx(
        body_bytes * (browser.client_local + browser.not_modified), rel=0.05
    )
    outcomes = Counter(row[3] for row in run.rows("reads"))
    assert (
        outcomes["client_local"] == browser.client_local
        and outcomes["not_modified"] == browser.not_modified
    )


def test_a_shape_from_the_environment_drives_and_ends_the_run(l1_target, tmp_path):
    env = {"CACHEBENCH_SHAPE": "steady", "CACHEBENCH_SHAPE_USERS": "3", "CACHEBENCH_SHAPE_DURATION_S": "2"}
    run = run_locust("read_heavy", l1_target, tmp_path, run_time="30s", env=env)
    assert run.returncode == 0, run.output[-3000:]
    assert "Shape test completed" in run.output
    assert "3 total users" in run.output
    assert_counts_match_locust(run)


def test_shapes_follow_their_stages():
    ramp = StepRampShape()
    ramp.start_users, ramp.step_users, ramp.step_s, ramp.steps = 5, 10, 2.0, 3
    assert [ramp._stage(t) for t in (0.0, 1.9, 2.0, 5.9, 6.0)] == [
        (5, 50.0),
        (5, 50.0),
        (15, 50.0),
        (25, 50.0),
        None,
    ]
    spike = SpikeShape()
    stages = [spike._stage(t) for t in (0.0, 15.0, 24.9, 25.0, 39.9, 40.0)]
    assert [s and s[0] for s in stages] == [10, 100, 100, 10, 10, None]


def test_shape_selection_and_parameters_come_from_the_environment():
    assert selected_shape({}) is None
    assert selected_shape({"CACHEBENCH_SHAPE": "Spike"}) is SHAPES["spike"]
    with pytest.raises(ShapeError):
        selected_shape({"CACHEBENCH_SHAPE": "sawtooth"})
    shape = StepRampShape()
    apply_environment(shape, {"CACHEBENCH_SHAPE_STEPS": "7", "CACHEBENCH_SHAPE_STEP_S": "2.5"})
    assert (shape.steps, shape.step_s) == (7, 2.5)
    with pytest.raises(ShapeError):
        apply_environment(shape, {"CACHEBENCH_SHAPE_STEPS": "many"})
