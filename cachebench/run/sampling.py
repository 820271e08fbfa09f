"""Once a second while a cell is measured: memory, CPU, request rate and hit ratio per layer,
the rows of ``samples.csv`` (their columns: ``cachebench.results.sample_record``).

CPU is taken from each process's cumulative CPU time (psutil ``cpu_times``) rather than
``cpu_percent``, so processes that appear mid-run (Locust workers, uvicorn workers) are counted
from their first sample instead of reading 0 until primed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psutil
import redis

from cachebench.metrics_text import metric_changes, metric_sum, parse_metrics
from cachebench.results import LAYER, SAMPLE, layer_column

SAMPLE_INTERVAL_S = 1.0
#: When stopped, the seconds since the last row get a row of their own if at least this long.
#: Locust exits 0.1 s after its users stop, so a 3 s step had two whole seconds sampled; with
#: 0.5 s here one step of a default run still had two rows (marked incomplete). Measured while
#: Locust's runs still ended 0.5 s early (measurement.on_init), which shortened the last row.
LAST_ROW_MIN_S = 0.2


#: The cache operations' ``result`` label counted per layer, and the figure each one's rate is.
_LAYER_RESULTS = (("hit", LAYER.hits_per_s), ("error", LAYER.errors_per_s), ("bypass", LAYER.bypasses_per_s))


def scrape_metrics(client: httpx.Client, url: str) -> dict[tuple[str, tuple], float]:
    return parse_metrics(client.get(f"{url}/metrics").text)


def fault_figures(before: dict, after: dict, elapsed_s: float) -> dict[str, float | None]:
    """What the fault timeline needs each second: 5xx, and per layer hits, failed calls (a
    timeout or a refusal, made for a request or in the background), bypasses, timeouts requests
    waited for with the breaker open, and workers with the breaker open; and L1's size, which a
    soak watches."""
    values: dict[str, float | None] = {}
    if not after:
        return values

    def delta(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    statuses = {dict(lbls).get("status", "") for (n, lbls) in after if n == "cachebench_http_requests_total"}
    values[SAMPLE.server_5xx_per_s] = (
        sum(delta("cachebench_http_requests_total", status=s) for s in statuses if s.startswith("5"))
        / elapsed_s
    )
    layers = {dict(lbls).get("layer") for (n, lbls) in after if n == "cachebench_cache_operations_total"}
    for layer in sorted(filter(None, layers)):
        for result, figure in _LAYER_RESULTS:
            changed = delta("cachebench_cache_operations_total", layer=layer, result=result)
            values[layer_column(layer, figure)] = changed / elapsed_s
        if any(n == "cachebench_cache_timeouts_total" for (n, _) in after):
            waited = delta("cachebench_cache_timeouts_total", layer=layer, breaker="open")
            values[layer_column(layer, LAYER.open_timeouts_per_s)] = waited / elapsed_s
    for (name, lbls), value in after.items():
        if name == "cachebench_circuit_open":
            values[layer_column(str(dict(lbls).get("layer")), LAYER.circuit_open_workers)] = value
    if ("cachebench_l1_entries", ()) in after:
        values[SAMPLE.l1_entries] = after[("cachebench_l1_entries", ())]
        values[SAMPLE.l1_bytes] = after.get(("cachebench_l1_bytes", ()))
    return values


class ProcessGroupCpu:
    """CPU use, in % of one core, of the processes a callable returns (which may change)."""

    def __init__(self, processes: Callable[[], list[psutil.Process]]) -> None:
        self._processes = processes
        self._seen: dict[int, float] = {}

    def sample(self) -> float:
        """CPU seconds used since the last call, summed over the group (first call primes)."""
        used_s = 0.0
        current: dict[int, float] = {}
        for process in self._processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total = times.user + times.system
            current[process.pid] = total
            used_s += total - self._seen.get(process.pid, total)
        self._seen = current
        return used_s


def machine_busy_cpu_s() -> float:
    """CPU seconds every core of the machine has spent busy; steal too (a neighbour VM's load)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + getattr(times, "steal", 0.0)


def tree(pid: int) -> Callable[[], list[psutil.Process]]:
    def processes() -> list[psutil.Process]:
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    return processes


def rss_bytes(processes: list[psutil.Process]) -> list[int]:
    sizes = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            sizes.append(process.memory_info().rss)
    return sizes


@dataclass
class Sampler:
    """Samples a running cell every second on a background thread."""

    target_url: str
    target_processes: Callable[[], list[psutil.Process]]
    generator_processes: Callable[[], list[psutil.Process]]
    redis_url: str | None = None
    #: The Redis server's PID, or a callable that says it each time: a fault may restart it.
    redis_pid: int | Callable[[], int | None] | None = None
    #: Every process of the benchmark (the runner and all it started), when all of them are ours:
    #: the machine's busy time minus theirs is what other work took (``other_cpu_percent``), and
    #: what no one used is ``idle_cpu_percent`` (both in % of one core).
    all_ours: Callable[[], list[psutil.Process]] | None = None
    #: Per INFO call: short for a cell whose Redis is paused on purpose, so a sample is not late.
    redis_timeout_s: float = 1.0
    rows: list[dict[str, float | int | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachebench-sampler", daemon=True)
        self._target_cpu = ProcessGroupCpu(self.target_processes)
        self._generator_cpu = ProcessGroupCpu(self.generator_processes)
        self._redis_cpu = ProcessGroupCpu(self._redis_processes) if self.redis_pid else None
        self._ours_cpu = ProcessGroupCpu(self.all_ours) if self.all_ours else None
        self._machine_busy_s = 0.0
        self._redis = (
            redis.Redis.from_url(
                self.redis_url,
                socket_timeout=self.redis_timeout_s,
                socket_connect_timeout=self.redis_timeout_s,
            )
            if self.redis_url
            else None
        )
        self._http = httpx.Client(timeout=2.0)

    def _redis_processes(self) -> list[psutil.Process]:
        pid = self.redis_pid() if callable(self.redis_pid) else self.redis_pid
        return tree(pid)() if pid else []

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, float | int | None]]:
        self._stop.set()
        self._thread.join(timeout=10)
        self._http.close()
        if self._redis is not None:
            self._redis.close()
        return self.rows

    @property
    def latest(self) -> dict[str, float | int | None]:
        return self.rows[-1] if self.rows else {}

    def _run(self) -> None:
        started = time.monotonic()
        previous_metrics = self._scrape()
        self._target_cpu.sample()
        self._generator_cpu.sample()
        if self._redis_cpu:
            self._redis_cpu.sample()
        self._machine_cpu_s(0.0)
        previous_at = time.monotonic()
        while True:
            stopped = self._stop.wait(SAMPLE_INTERVAL_S - ((time.monotonic() - started) % SAMPLE_INTERVAL_S))
            now = time.monotonic()
            elapsed_s = now - previous_at
            if stopped and elapsed_s < LAST_ROW_MIN_S:
                return
            metrics_now = self._scrape()
            row: dict[str, float | int | None] = {
                SAMPLE.t_s: round(now - started, 3),
                SAMPLE.unix_s: time.time(),
            }
            row.update(self._rates(previous_metrics, metrics_now, elapsed_s))
            row.update(fault_figures(previous_metrics, metrics_now, elapsed_s) if previous_metrics else {})
            row.update(self._memory())
            row[SAMPLE.target_cpu_percent] = 100 * self._target_cpu.sample() / elapsed_s
            row[SAMPLE.generator_cpu_percent] = 100 * self._generator_cpu.sample() / elapsed_s
            row[SAMPLE.redis_cpu_percent] = (
                100 * self._redis_cpu.sample() / elapsed_s if self._redis_cpu else None
            )
            other_s, idle_s = self._machine_cpu_s(elapsed_s)
            row[SAMPLE.other_cpu_percent] = None if other_s is None else 100 * other_s / elapsed_s
            row[SAMPLE.idle_cpu_percent] = None if idle_s is None else 100 * idle_s / elapsed_s
            self.rows.append(row)
            previous_metrics, previous_at = metrics_now or previous_metrics, now
            if stopped:
                return

    def _machine_cpu_s(self, elapsed_s: float) -> tuple[float | None, float | None]:
        """CPU seconds other processes used, and that nobody used, since the last call."""
        if self._ours_cpu is None:
            return None, None
        busy_s, previous_s = machine_busy_cpu_s(), self._machine_busy_s
        self._machine_busy_s = busy_s
        busy_s -= previous_s
        # Clock-tick rounding on either side can make these slightly negative.
        other_s = max(0.0, busy_s - self._ours_cpu.sample())
        idle_s = max(0.0, (psutil.cpu_count() or 1) * elapsed_s - busy_s)
        return other_s, idle_s

    def _scrape(self) -> dict[tuple[str, tuple], float]:
        try:
            return scrape_metrics(self._http, self.target_url)
        except httpx.HTTPError:
            return {}

    def _rates(self, before: dict, after: dict, elapsed_s: float) -> dict[str, float | None]:
        if not before or not after:
            return {SAMPLE.requests_per_s: None, SAMPLE.origin_reads_per_s: None}
        return metric_changes(before, after, elapsed_s).sample_columns()

    def _memory(self) -> dict[str, int | None]:
        sizes = rss_bytes(self.target_processes())
        row: dict[str, int | None] = {
            SAMPLE.target_rss_bytes: sum(sizes),
            # The largest process is a worker (a supervisor holds no cache): what a soak watches.
            SAMPLE.target_rss_max_process_bytes: max(sizes, default=None),
            SAMPLE.target_processes: len(sizes),
            SAMPLE.redis_used_memory_bytes: None,
            SAMPLE.redis_rss_bytes: None,
            SAMPLE.redis_keys: None,
        }
        if self._redis is not None:
            try:
                info = self._redis.info("memory")
                row[SAMPLE.redis_used_memory_bytes] = info["used_memory"]
                row[SAMPLE.redis_rss_bytes] = info["used_memory_rss"]
                row[SAMPLE.redis_keys] = self._redis.dbsize()
            except redis.RedisError:
                pass
        return row
