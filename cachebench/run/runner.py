"""``cachebench run``: every cell of the matrix on fresh processes, into one results folder.

Per cell: a fresh empty Redis, the target with its settings, ``verify`` (a target that fails
is not measured), an unrecorded warm-up, the measured Locust phase with a per-second sampler,
``/metrics`` before and after, then everything stopped by PID — also on failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil

from cachebench import results
from cachebench.load.workload import WARMUP_SEED_OFFSET
from cachebench.metrics_text import parse_metrics
from cachebench.results import Manifest, write_atomic, write_json
from cachebench.run import fault_goals
from cachebench.run import summary as cell_summary
from cachebench.run.benchfile import SCENARIOS_DIR, Cell
from cachebench.run.faults import FaultInjector, redis_url_for_target
from cachebench.run.launcher import TargetProcess
from cachebench.run.processes import free_port, terminate
from cachebench.run.redis_server import RedisServer
from cachebench.run.sampling import Sampler, tree
from cachebench.run.steady_state import WINDOW_S, SettleWatch, ttl_by_layer
from cachebench.run.verify import verify
from cachebench.serve.origin import export_write_log
from cachebench.serve.settings import load_settings
from targets import TARGETS

#: Seconds Locust may take beyond its run time to spawn, stop and write its files.
LOCUST_GRACE_S = 45.0


class CellFailed(Exception):
    """The cell could not be measured; the reason goes into the manifest."""


def plan_cpus() -> tuple[list[int] | None, list[int] | None]:
    """Disjoint CPUs for the target side (target + Redis) and the load generator, when there are ≥ 2."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return cpus[:half], cpus[half:]


def locust_command(cell: Cell, url: str, duration_s: float, out_dir: Path | None) -> list[str]:
    seed = cell.seed if out_dir is not None else cell.seed + WARMUP_SEED_OFFSET
    command = [
        sys.executable, "-m", "locust", "-f", str(SCENARIOS_DIR / f"{cell.scenario}.py"),
        "--headless", "--host", url, "--users", str(cell.users), "--spawn-rate", str(cell.users),
        "--run-time", f"{max(1, round(duration_s))}s",
        "--loglevel", "WARNING", "--only-summary",
        "--seed", str(seed), "--rate", f"{cell.rate_per_s:g}",
    ]  # fmt: skip
    if cell.locust_processes > 1:
        # The master waits only briefly for workers' last reports at the end of a headless run,
        # so users stop at once (--stop-timeout 0); and it listens on a private loopback port,
        # not 5557 on every interface, so two runs never swap workers.
        port = free_port()
        command += [
            "--processes", str(cell.locust_processes), "--stop-timeout", "0",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--master-port", str(port),
        ]  # fmt: skip
    else:
        command += ["--stop-timeout", "5"]
    if out_dir is not None:
        command += ["--csv", str(out_dir / results.LOCUST_CSV_PREFIX), "--csv-full-history"]
        command += ["--results-dir", str(out_dir)]
        # Locust's CSVs are rewritten each second and not at the end; its JSON is final.
        command += ["--json-file", str(out_dir / results.LOCUST_FINAL_PREFIX)]
    for option, value in cell.scenario_options.items():
        command += [f"--{option}", str(value)]
    return command


def _pin(cpus: list[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


@contextlib.contextmanager
def running_locust(command: list[str], cpus: list[int] | None, log_path: Path) -> Iterator[subprocess.Popen]:
    # Locust must monkey-patch with gevent; a caller that imported locust without it (tests) must
    # not pass that choice on.
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_pin(cpus),
        )
    try:
        yield proc
    finally:
        terminate(proc, timeout_s=15)


def _wait(proc: subprocess.Popen, timeout_s: float, on_tick: Callable[[], None]) -> int:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise CellFailed(f"locust did not finish within {timeout_s:.0f}s")
        on_tick()
        time.sleep(0.25)
    return proc.returncode


def _verify(url: str, cell: Cell, external: bool) -> list[dict[str, str]]:
    # A service we did not start may lack /healthz or /metrics: those checks only warn then.
    checks = verify(url, None, strict=False) if external else verify(url, cell.target, workers=cell.workers)
    return [{"name": c.name, "status": c.status, "reason": c.reason} for c in checks]


class ExternalTarget:
    """A service the user runs: measured over HTTP, with no process of ours to sample."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def processes(self) -> list[psutil.Process]:
        return []


class CellRunner:
    """Runs one cell; ``on_tick(cell, sampler, phase, ends_at)`` feeds the live progress."""

    def __init__(
        self, run_dir: Path, on_tick: Callable[..., None] = lambda *a: None, external_url: str | None = None
    ) -> None:
        self.run_dir = run_dir
        self.on_tick = on_tick
        self.external_url = external_url
        self.target_cpus, self.generator_cpus = plan_cpus() if external_url is None else (None, None)

    def run(self, cell: Cell) -> dict[str, object]:
        cell_dir = results.cell_dir(self.run_dir, cell.name)
        cell_dir.mkdir(parents=True, exist_ok=True)
        write_json(cell_dir / results.CELL_FILE, cell.as_dict())
        with contextlib.ExitStack() as stack:
            redis_server, proxy = None, None
            settings = dict(cell.settings)
            if self.external_url is not None:
                target = ExternalTarget(self.external_url)
            elif TARGETS[cell.target].needs_redis:
                redis_server = stack.enter_context(RedisServer())
                settings["redis_url"], proxy = stack.enter_context(
                    redis_url_for_target(redis_server, cell.faults)
                )
                if self.target_cpus:
                    psutil.Process(redis_server.pid).cpu_affinity(self.target_cpus)
            if self.external_url is None:
                target = stack.enter_context(
                    TargetProcess(
                        cell.target, settings, workers=cell.workers, cpus=self.target_cpus,
                        log_path=cell_dir / results.TARGET_LOG_FILE,
                    )
                )  # fmt: skip
            checks = _verify(target.url, cell, external=self.external_url is not None)
            write_json(cell_dir / results.VERIFY_FILE, checks)
            failed = [c["name"] for c in checks if c["status"] == "fail"]
            if failed:
                raise CellFailed(f"verification failed: {', '.join(failed)}")
            warmup = self._warm_up(cell, target, cell_dir) if cell.warmup_s > 0 else None
            metrics_before = _save_metrics(target.url, cell_dir / results.METRICS_BEFORE_FILE)
            started_at = time.time()
            returncode, rows, interrupted = None, [], False
            injector = FaultInjector(cell.faults, redis_server, proxy) if cell.faults else None
            try:
                returncode = self._measure(cell, target, redis_server, cell_dir, rows, injector)
            except KeyboardInterrupt:
                interrupted = True
            metrics_after = _save_metrics(target.url, cell_dir / results.METRICS_AFTER_FILE)
            if getattr(target, "origin_path", None) is not None:
                # The origin's own record of every write: the ground truth for staleness.
                export_write_log(target.origin_path, cell_dir / results.ORIGIN_WRITES_FILE)
            result = cell_summary.summarize(
                cell, cell_dir, rows, started_at, time.time(), returncode,
                cpus={"target": self.target_cpus, "generator": self.generator_cpus}, interrupted=interrupted,
                metrics_before=metrics_before, metrics_after=metrics_after,
            )  # fmt: skip
            result["warmup"] = warmup
            if injector is not None:
                result["faults"] = _evaluate_faults(
                    cell, cell_dir, injector, rows, metrics_before, metrics_after
                )
                result["headline"]["fault_goals"] = fault_goals.goal_lines(result["faults"]["goals"])
            write_json(cell_dir / results.SUMMARY_FILE, result)
            if interrupted:
                raise KeyboardInterrupt
            return result

    def _warm_up(self, cell: Cell, target: TargetProcess, cell_dir: Path) -> dict[str, object]:
        """Same load, nothing recorded: until the hit ratio settles (at most warmup_s), or warmup_s."""
        row = TARGETS.get(cell.target)  # None for a service we did not start
        watch = SettleWatch(
            ttl_s_by_layer=(
                ttl_by_layer(row.layers, load_settings(**cell.settings), row.library_redis) if row else None
            ),
            caches=row.caches if row else True,
        )
        log_path = cell_dir / results.LOCUST_WARMUP_LOG_FILE
        command = locust_command(cell, target.url, cell.warmup_s, None)
        started = time.monotonic()
        ends_at, next_scrape_at, settled = started + cell.warmup_s, started, False
        with (
            running_locust(command, self.generator_cpus, log_path) as proc,
            httpx.Client(timeout=5) as client,
        ):

            def on_tick() -> None:
                nonlocal next_scrape_at, settled
                self.on_tick(cell, None, "warm-up", ends_at)
                now = time.monotonic()
                if cell.warmup != "steady_state" or now < next_scrape_at:
                    return
                next_scrape_at = now + WINDOW_S
                with contextlib.suppress(httpx.HTTPError):
                    watch.observe(parse_metrics(client.get(f"{target.url}/metrics").text))
                if watch.settled(now - started):
                    settled = True
                    terminate(proc)  # ends the warm-up here; Locust stops its users on SIGTERM

            returncode = _wait(proc, cell.warmup_s + LOCUST_GRACE_S, on_tick)
        if not settled:
            _check_exit(returncode, log_path)
        return {"kind": cell.warmup, **watch.record(time.monotonic() - started, settled)}

    def _measure(
        self,
        cell: Cell,
        target: TargetProcess,
        redis_server: RedisServer | None,
        cell_dir: Path,
        rows: list[dict],
        injector: FaultInjector | None = None,
    ) -> int:
        """The measured phase, sampled every second into ``rows`` (and the samples file).

        The rows go into the caller's list rather than the return value, so a phase that fails
        or is interrupted midway still hands its samples to the summary.
        """
        command = locust_command(cell, target.url, cell.duration_s, cell_dir)
        log_path = cell_dir / results.LOCUST_LOG_FILE
        with running_locust(command, self.generator_cpus, log_path) as proc:
            sampler = Sampler(
                target.url, target.processes, tree(proc.pid),
                redis_url=redis_server.url if redis_server else None,
                redis_pid=redis_server.pid if redis_server else None,
                all_ours=tree(os.getpid()) if self.external_url is None else None,
                redis_timeout_s=0.2 if injector else 1.0,
            ).start()  # fmt: skip
            if injector is not None:
                injector.start()  # fault times count from here: the measured phase's start
            try:
                ends_at = time.monotonic() + cell.duration_s
                returncode = _wait(
                    proc,
                    cell.duration_s + LOCUST_GRACE_S,
                    lambda: self.on_tick(cell, sampler, "measure", ends_at),
                )
            finally:
                if injector is not None:
                    injector.stop()
                rows.extend(sampler.stop())
                cell_summary.write_samples(cell_dir / results.SAMPLES_FILE, rows)
        _check_exit(returncode, log_path)
        return returncode


def _save_metrics(url: str, path: Path) -> str | None:
    """The target's ``/metrics`` now, saved to ``path`` and returned; None when it did not answer."""
    with httpx.Client(timeout=5) as client, contextlib.suppress(httpx.HTTPError):
        text = client.get(f"{url}/metrics").text
        write_atomic(path, text)
        return text
    return None


def _evaluate_faults(
    cell: Cell,
    cell_dir: Path,
    injector: FaultInjector,
    rows: list[dict],
    metrics_before: str | None,
    metrics_after: str | None,
) -> dict[str, object]:
    """The fault phases and goals, written to ``faults.json``; returns them."""
    latency_path = cell_dir / results.LATENCY_FILE
    row = TARGETS.get(cell.target)
    evaluated = fault_goals.evaluate(
        cell.faults, injector.events, injector.started_unix_s or time.time(), injector.stopped_unix_s,
        cell_dir, json.loads(latency_path.read_text()) if latency_path.exists() else {}, rows,
        metrics_before, metrics_after, row.layers if row else (),
        load_settings(**cell.settings).redis_cooldown_s,
    )  # fmt: skip
    write_json(cell_dir / results.FAULTS_FILE, evaluated)
    return evaluated


def _check_exit(returncode: int, log_path: Path) -> None:
    # Locust exits 1 when some requests failed; that is a result, not a broken run.
    if returncode not in (0, 1):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        raise CellFailed(f"locust exited with {returncode}: {' | '.join(tail)}")


def run_cells(
    cells: list[Cell],
    run_dir: Path,
    manifest: Manifest,
    on_tick: Callable[..., None] = lambda *a: None,
    external_url: str | None = None,
) -> str:
    """Run every cell, recording each one's status; returns the run's status."""
    runner = CellRunner(run_dir, on_tick, external_url)
    status = "complete"
    for cell in cells:
        manifest.set_cell(cell.index, "running")
        try:
            result = runner.run(cell)
        except KeyboardInterrupt:
            manifest.set_cell(cell.index, "incomplete", "interrupted")
            for later in cells[cell.index :]:
                manifest.set_cell(later.index, "not_run", "run interrupted")
            manifest.finish("incomplete")
            raise
        except Exception as exc:  # a failed cell must not end the run; its reason is kept
            manifest.set_cell(cell.index, "failed", f"{type(exc).__name__}: {exc}")
            status = "complete_with_failures"
            continue
        state = "complete" if result.get("complete") else "incomplete"
        if state != "complete":
            status = "complete_with_failures"
        manifest.set_cell(cell.index, state, result.get("incomplete_reason"), summary=result["headline"])
    manifest.finish(status)
    return status
