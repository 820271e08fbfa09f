"""Hit-path speed benchmark: does a cache hit cost little more than serving constant bytes?

For each target (``l1``, ``hierarchical``, ``redis``) this starts one uvicorn worker pinned to
CPU 0, warms one hot item, and then measures on that same process, in pairs of back-to-back wrk
runs whose order alternates, ``GET /bench/constant`` (pre-encoded item-sized bytes: the
ceiling) and ``GET /items/<hot id>`` (an always-hit key). The load tool is wrk (C, one thread)
pinned to CPU 1; its CPU share is measured (from its rusage) and printed with every run, so
nobody has to take on trust that it was not the bottleneck. Every hit run is checked against the
target's own ``/metrics`` (hit counter growth = requests, no misses) and ``Cache-Status``.

The machine may be shared: a pair in which the worker did not get at least 90% of its core is
repeated (up to three times as many pairs as asked for), since it measured the other load.

It also measures what an L1 entry costs in memory: a fresh interpreter fills an ``L1Backend``
with seeded-shape items encoded by ``cachebench.serve.codec.encode`` (the bytes the targets cache) and
reports RSS growth per value byte.

Requirements (from the issue): hit/constant throughput >= 0.95 for ``l1`` and ``hierarchical``,
>= 0.6 for ``redis``; L1 RSS per value byte <= 1.3.

Exit status: 0 when every figure meets its requirement, 1 when one misses, 2 when the run itself
cannot be trusted (wrk errors, hits that were not hits, a saturated load tool, a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from cachebench.run.launcher import TargetProcess
from cachebench.run.redis_server import RedisServer

#: hit/constant throughput each target must reach.
THROUGHPUT_REQUIREMENTS = {"l1": 0.95, "hierarchical": 0.95, "redis": 0.6}
#: The layer a hit on the hot key must come from, as Cache-Status names it.
HIT_LAYER = {"l1": "l1", "hierarchical": "l1", "redis": "redis"}
MEMORY_REQUIREMENT = 1.3  # RSS growth per L1 value byte
MEMORY_ENTRY_COUNTS = "10000,50000"  # the default L1 size, and five times it
HOT_ITEM_ID = 1
HOT_KEY_TTL_S = 3600
SERVER_CPU = 0
LOAD_CPU = 1
#: At or above this share of its core, wrk may be what limits the rate.
LOAD_TOOL_CPU_LIMIT = 0.90
#: Below this share of its core the worker was starved by other processes: the pair is repeated.
WORKER_CPU_CLEAN = 0.90
MAX_ATTEMPTS_PER_PAIR = 3
#: Nice value for the processes measured, when allowed (root): other work on the machine then
#: takes less of the worker's core, and fewer pairs are lost to it.
MEASURED_NICE = -10
WARMUP_S = 1.0
HIT_READY_TIMEOUT_S = 10.0

# Wide enough for the summary table when the output is a file or a pipe.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

# wrk's own summary, as one JSON line: its text report rounds and mixes units.
WRK_REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nCACHEBENCH_WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# -- the load tool --------------------------------------------------------------------------


def find_wrk() -> str:
    """Path of ``wrk``; installs the Debian package when running as root with apt, else exits."""
    found = shutil.which("wrk")
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if os.geteuid() == 0 and apt_get:
        console.print("wrk not found: installing the Debian package (apt-get install -y wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        policy = subprocess.run(["apt-cache", "policy", "wrk"], capture_output=True, text=True).stdout
        updated = "Candidate: (none)" in policy or "Candidate:" not in policy
        if updated:
            subprocess.run([apt_get, "update", "-qq"], env=env, check=False)
        install = [apt_get, "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=env).returncode != 0 and not updated:
            subprocess.run([apt_get, "update", "-qq"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    # No fallback on purpose: Locust (or any Python client) saturates its core before one
    # uvicorn worker does, so it would measure itself rather than the target.
    sys.exit(
        "error: the HTTP load tool wrk is not installed; install it (`sudo apt-get install wrk`, "
        "`brew install wrk`) and run again (Locust is too slow to load one worker to its limit)"
    )


@dataclass
class WrkRun:
    requests: int
    duration_s: float
    errors: int
    p50_ms: float
    wrk_cpu: float  # share of one core, user + system
    worker_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def per_cpu_s(self) -> float:
        """Requests per second of worker CPU: a cross-check that other load skews less."""
        return self.rps / max(self.worker_cpu, 1e-9)

    def describe(self) -> str:
        return (
            f"{self.rps:6.0f} req/s (p50 {self.p50_ms:.2f} ms, wrk CPU {self.wrk_cpu:.0%}, "
            f"worker CPU {self.worker_cpu:.0%})"
        )


def raise_priority(pid: int) -> None:
    """Lower the nice value of a process we started, when permitted; else leave it."""
    with suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, pid, MEASURED_NICE)


def _prepare_wrk() -> None:  # runs in the wrk child before exec
    os.sched_setaffinity(0, {LOAD_CPU})
    raise_priority(0)


def run_wrk(
    wrk: str, url: str, duration_s: float, connections: int, script: Path, worker: psutil.Process
) -> WrkRun:
    """One wrk run (1 thread, pinned to the load CPU), with its CPU share and the worker's."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration_s:g}s", "-s", str(script), url]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_before = worker.cpu_times()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=_prepare_wrk)
    wall_s = time.perf_counter() - started
    worker_after = worker.cpu_times()
    # wrk is the only child reaped while it runs (targets and Redis outlive every run), so the
    # growth of the reaped-children rusage is exactly wrk's own CPU time.
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"CACHEBENCH_WRK (\{.*\})", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    report = json.loads(match.group(1))
    wrk_cpu_s = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    worker_cpu_s = (worker_after.user - worker_before.user) + (worker_after.system - worker_before.system)
    return WrkRun(
        requests=report["requests"],
        duration_s=report["duration_us"] / 1e6,
        errors=sum(report[name] for name in ("connect", "read", "write", "status", "timeout")),
        p50_ms=report["p50_us"] / 1000,
        wrk_cpu=wrk_cpu_s / wall_s,
        worker_cpu=worker_cpu_s / wall_s,
    )


# -- one target -----------------------------------------------------------------------------


@dataclass
class Pair:
    """A constant run and a hit run, back to back on the same worker."""

    constant: WrkRun
    hit: WrkRun
    #: Growth of the layer's hit counter / requests wrk counted (its last in-flight ones add a few).
    hit_accounting: float
    misses: int

    @property
    def clean(self) -> bool:
        return min(self.constant.worker_cpu, self.hit.worker_cpu) >= WORKER_CPU_CLEAN

    @property
    def ratio(self) -> float:
        return self.hit.rps / self.constant.rps


@dataclass
class TargetResult:
    strategy: str
    pairs: list[Pair] = field(default_factory=list)
    repeated: int = 0  # pairs thrown away because the machine was busy
    cache_status: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def required(self) -> float:
        return THROUGHPUT_REQUIREMENTS[self.strategy]

    @property
    def counted(self) -> list[Pair]:
        """The clean pairs, or every pair when none was clean (then the result is flagged)."""
        return [pair for pair in self.pairs if pair.clean] or self.pairs

    @property
    def ratio(self) -> float:
        # The median of per-pair ratios: each pair's two runs saw the same machine.
        return statistics.median(pair.ratio for pair in self.counted)

    @property
    def constant_rps(self) -> float:
        return statistics.median(pair.constant.rps for pair in self.counted)

    @property
    def hit_rps(self) -> float:
        return statistics.median(pair.hit.rps for pair in self.counted)

    @property
    def cpu_ratio(self) -> float:
        """The ratio in requests per worker CPU-second."""
        return statistics.median(pair.hit.per_cpu_s / pair.constant.per_cpu_s for pair in self.counted)

    def runs(self) -> list[WrkRun]:
        return [run for pair in self.counted for run in (pair.constant, pair.hit)]

    @property
    def passed(self) -> bool:
        return bool(self.pairs) and self.ratio >= self.required


def server_stack(worker: psutil.Process) -> str:
    """Which event loop and HTTP parser the worker loaded (uvicorn picks them at start)."""
    paths = [region.path for region in worker.memory_maps()]
    loop = "uvloop" if any("/uvloop/" in path for path in paths) else "asyncio"
    parser = "httptools" if any("/httptools/" in path for path in paths) else "h11"
    return f"{loop} + {parser}"


def cache_counts(client: httpx.Client, layer: str) -> dict[str, float]:
    """``cachebench_cache_operations_total`` of ``layer``, by result."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        if family.name != "cachebench_cache_operations":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("layer") == layer:
                result = sample.labels["result"]
                counts[result] = counts.get(result, 0.0) + sample.value
    return counts


def wait_for_hit(client: httpx.Client, path: str, expected: str) -> str:
    """GET ``path`` until its Cache-Status is ``expected`` (hierarchical bypasses L1 until its
    invalidation channel is up); returns the last Cache-Status seen."""
    deadline = time.monotonic() + HIT_READY_TIMEOUT_S
    status = ""
    while time.monotonic() < deadline:
        response = client.get(path)
        response.raise_for_status()
        status = response.headers.get("cache-status", "")
        if status == expected:
            break
        time.sleep(0.1)
    return status


def measure_target(
    strategy: str, wrk: str, script: Path, duration_s: float, rounds: int, connections: int
) -> TargetResult:
    result = TargetResult(strategy)
    layer = HIT_LAYER[strategy]
    expected_status = f"{layer}; hit"
    with ExitStack() as stack:
        # TTLs longer than the run: the hot key must not expire (and miss) while hits are measured.
        settings: dict[str, object] = {
            "origin_latency_ms": 1,
            "origin_jitter_ms": 0,
            "l1_ttl_s": HOT_KEY_TTL_S,
            "redis_ttl_s": HOT_KEY_TTL_S,
        }
        if strategy in ("redis", "hierarchical"):
            redis_server = stack.enter_context(RedisServer())
            # Redis shares the load core with wrk, so the worker's core runs the worker only, as
            # it would with Redis on its own host.
            psutil.Process(redis_server.pid).cpu_affinity([LOAD_CPU])
            raise_priority(redis_server.pid)
            settings["redis_url"] = redis_server.url
        target = stack.enter_context(TargetProcess(strategy, settings, workers=1, cpus=[SERVER_CPU]))
        processes = target.processes()
        worker = processes[-1]
        for process in processes:
            raise_priority(process.pid)
        client = stack.enter_context(httpx.Client(base_url=target.url, timeout=5.0))
        hot_path = f"/items/{HOT_ITEM_ID}"
        result.cache_status = wait_for_hit(client, hot_path, expected_status)
        if result.cache_status != expected_status:
            result.problems.append(f"the hot key never hit: Cache-Status {result.cache_status!r}")
            return result
        urls = {"constant": f"{target.url}/bench/constant", "hit": f"{target.url}{hot_path}"}
        sizes = {which: len(client.get(url).content) for which, url in urls.items()}
        stack_name = server_stack(worker)
        if stack_name != "uvloop + httptools":
            result.problems.append(f"uvicorn runs {stack_name}, not uvicorn[standard]'s uvloop + httptools")
        console.print(
            f"[bold]{strategy}[/]: worker pid {worker.pid} ({stack_name}) on CPU {SERVER_CPU}, wrk on CPU "
            f"{LOAD_CPU} with {connections} connections; bodies: constant {sizes['constant']} B, "
            f"hit {sizes['hit']} B"
        )
        for url in urls.values():  # not counted: first connections, allocator and caches warm-up
            run_wrk(wrk, url, WARMUP_S, connections, script, worker)
        attempts = 0
        while len(result.pairs) < rounds and attempts < rounds * MAX_ATTEMPTS_PER_PAIR:
            attempts += 1
            # Alternate which endpoint goes first, so a drift in machine load favours neither.
            order = ("constant", "hit") if attempts % 2 else ("hit", "constant")
            runs: dict[str, WrkRun] = {}
            hits = misses = 0.0
            for which in order:
                before = cache_counts(client, layer) if which == "hit" else {}
                runs[which] = run = run_wrk(wrk, urls[which], duration_s, connections, script, worker)
                if which == "hit":
                    after = cache_counts(client, layer)
                    hits, misses = (after.get(r, 0) - before.get(r, 0) for r in ("hit", "miss"))
                if run.errors:
                    result.problems.append(f"{run.errors} wrk errors on {which}")
            pair = Pair(runs["constant"], runs["hit"], hits / max(runs["hit"].requests, 1), int(misses))
            shown = "; ".join(f"{which} {runs[which].describe()}" for which in order)
            if pair.clean:
                result.pairs.append(pair)
                console.print(f"  pair {len(result.pairs)}: {shown}; ratio {pair.ratio:.3f}")
            else:
                result.repeated += 1
                console.print(f"  [dim]busy machine, repeated: {shown}[/]")
                if attempts == rounds * MAX_ATTEMPTS_PER_PAIR:
                    result.pairs.append(pair)  # something to show; flagged below
        final_status = client.get(hot_path).headers.get("cache-status", "")
        if final_status != expected_status:
            result.problems.append(f"after the runs the hot key answered Cache-Status {final_status!r}")
    check_target(result, connections)
    shares = ", ".join(f"{pair.hit_accounting:.3f}" for pair in result.pairs)
    console.print(
        f"  hits checked: Cache-Status {final_status!r} before and after; {layer} hit counter growth / "
        f"requests per pair: {shares}; {layer} misses: {sum(pair.misses for pair in result.pairs)}"
    )
    return result


def check_target(result: TargetResult, connections: int) -> None:
    """Everything that would make the figures untrustworthy, as one-line problems."""
    if not result.pairs:
        return
    layer = HIT_LAYER[result.strategy]
    misses = sum(pair.misses for pair in result.pairs)
    if misses:
        result.problems.append(f"{misses} {layer} misses while measuring hits")
    # wrk stops counting at the deadline while up to `connections` requests are still answered.
    shares = [pair.hit_accounting for pair in result.pairs]
    if any(not 0.99 <= share <= 1.0 + connections / 1000 for share in shares):
        shown = ", ".join(f"{share:.3f}" for share in shares)
        result.problems.append(f"{layer} hit counter growth / requests: {shown} (expected 1)")
    if not any(pair.clean for pair in result.pairs):
        result.problems.append(f"the worker never had {WORKER_CPU_CLEAN:.0%} of its core: machine busy")
    wrk_cpu = max(run.wrk_cpu for run in result.runs())
    if wrk_cpu >= LOAD_TOOL_CPU_LIMIT:
        result.problems.append(f"wrk used {wrk_cpu:.0%} of its core: the load tool may be the limit")


# -- L1 memory ------------------------------------------------------------------------------


def memory_child(entries: int) -> None:
    """In a fresh interpreter: RSS growth of an L1Backend holding ``entries`` encoded items."""
    from cachebench.serve import codec
    from cachebench.serve.backends.l1 import L1Backend
    from cachebench.serve.origin import SEEDED_AT
    from cachebench.serve.settings import Settings

    settings = Settings()
    rng = random.Random(settings.seed)
    backend = L1Backend(max_entries=entries + 1)  # + the warm-up entry
    process = psutil.Process()

    def seeded_item(item_id: int) -> codec.Item:
        # The origin's seeded shape: a hex payload of payload_bytes characters.
        payload = rng.randbytes((settings.payload_bytes + 1) // 2).hex()[: settings.payload_bytes]
        return codec.Item(item_id, 1, SEEDED_AT, f"item-{item_id}", payload)

    async def fill() -> int:
        value_bytes = 0
        for item_id in range(1, entries + 1):
            value = codec.encode(seeded_item(item_id))
            value_bytes += len(value)
            await backend.set(f"{settings.namespace}:item:{item_id}", value, settings.l1_ttl_s)
        return value_bytes

    loop = asyncio.new_event_loop()
    loop.run_until_complete(backend.set("warm-up", codec.encode(seeded_item(0)), settings.l1_ttl_s))
    gc.collect()
    rss_before = process.memory_info().rss
    value_bytes = loop.run_until_complete(fill())
    gc.collect()
    rss_after = process.memory_info().rss
    report = {
        "entries": backend.stats()["entries"] - 1,
        "value_bytes": value_bytes,
        "rss_delta_bytes": rss_after - rss_before,
    }
    print(json.dumps(report))


def measure_memory(entries: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(entries)], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["ratio"] = report["rss_delta_bytes"] / report["value_bytes"]
    return report


# -- report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]MISS[/]"


def print_report(results: list[TargetResult], memory: list[dict[str, float]], rounds: int) -> int:
    """The summary table and one line per requirement; returns the exit status."""
    table = Table(title=f"Cache hit vs constant bytes, one uvicorn worker (median of {rounds} pairs)")
    columns = ("target", "constant req/s", "hit req/s", "ratio", "required", "", "ratio per CPU-s",
               "worker CPU", "wrk CPU max", "repeated", "checks")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "", "checks") else "right")
    missed = untrusted = False
    for result in results:
        untrusted |= bool(result.problems) or not result.pairs
        if not result.pairs:
            table.add_row(result.strategy, *["-"] * 3, f">= {result.required}", "[red]ERROR[/]",
                          *["-"] * 4, "; ".join(result.problems))  # fmt: skip
            continue
        missed |= not result.passed
        runs = result.runs()
        checks = "; ".join(result.problems) or f"{result.cache_status}, counter = requests"
        table.add_row(
            result.strategy, f"{result.constant_rps:.0f}", f"{result.hit_rps:.0f}", f"{result.ratio:.3f}",
            f">= {result.required}", verdict(result.passed), f"{result.cpu_ratio:.3f}",
            f"{statistics.median(run.worker_cpu for run in runs):.0%}",
            f"{max(run.wrk_cpu for run in runs):.0%}", str(result.repeated), checks,
        )  # fmt: skip
    console.print()
    console.print(table)
    for result in results:
        if result.pairs:
            console.print(
                f"ratio {result.strategy} {result.ratio:.3f} (hit {result.hit_rps:.0f} / constant "
                f"{result.constant_rps:.0f} req/s; required >= {result.required}) {verdict(result.passed)}"
            )
    for report in memory:
        ok = report["ratio"] <= MEMORY_REQUIREMENT
        missed |= not ok
        console.print(
            f"l1 memory {report['entries']} entries: RSS +{report['rss_delta_bytes'] / 2**20:.1f} MiB for "
            f"{report['value_bytes'] / 2**20:.1f} MiB of values = {report['ratio']:.3f}x "
            f"(required <= {MEMORY_REQUIREMENT}) {verdict(ok)}"
        )
    if untrusted:
        console.print("[red]the run cannot be trusted: see the checks column[/]")
        return 2
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=3.0, help="length of each wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=5, help="constant/hit pairs per target (default 5)")
    parser.add_argument("--targets", default=",".join(THROUGHPUT_REQUIREMENTS), help="comma-separated")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--memory-entries",
        default=MEMORY_ENTRY_COUNTS,
        help=f"L1 sizes to measure (default {MEMORY_ENTRY_COUNTS})",
    )
    parser.add_argument("--skip-memory", action="store_true", help="skip the L1 memory measurement")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0

    strategies = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in strategies if name not in THROUGHPUT_REQUIREMENTS]
    if unknown:
        choices = ", ".join(THROUGHPUT_REQUIREMENTS)
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {choices}")
    if not {SERVER_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"error: needs CPUs {SERVER_CPU} and {LOAD_CPU} (one for the worker, one for wrk)")
    wrk = find_wrk()
    os.sched_setaffinity(0, {LOAD_CPU})  # this process only orchestrates: off the worker's core

    results = []
    with tempfile.TemporaryDirectory(prefix="cachebench-perf-") as scratch:
        script = Path(scratch) / "report.lua"
        script.write_text(WRK_REPORT_LUA)
        for strategy in strategies:
            results.append(
                measure_target(strategy, wrk, script, args.duration_s, args.rounds, args.connections)
            )
    entry_counts = [] if args.skip_memory else [int(n) for n in args.memory_entries.split(",")]
    memory = [measure_memory(entries) for entries in entry_counts]
    return print_report(results, memory, args.rounds)


if __name__ == "__main__":
    sys.exit(main())
