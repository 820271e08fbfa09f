"""Faults during a cell's measured phase: the injector that runs the schedule on the cell's Redis.

The injector is a thread that performs each ``fault_schedule.FaultAction`` at its time on the Redis
the runner started (by its PID: SIGSTOP/SIGCONT/SIGKILL) or on the delaying proxy in front of it,
and records when each action took effect, in unix time, for the fault timeline: in particular
when Redis answered again. Cells of targets without Redis record the same steps, not applied,
so the baseline's phases line up with the others'.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cachebench import results
from cachebench.results import CellSpec, FaultEvent, FaultsEvaluation, FaultSpec, LatencyRecord
from cachebench.run.faults import fault_goals
from cachebench.run.faults.fault_schedule import FaultAction, fault_actions
from cachebench.run.faults.tcp_delay import DelayProxy
from cachebench.run.processes.redis_server import RedisServer
from targets import TARGETS


def needs_proxy(faults: tuple[FaultSpec, ...]) -> bool:
    return any(fault.kind == "slow" for fault in faults)


@contextmanager
def redis_url_for_target(
    redis_server: RedisServer, faults: tuple[FaultSpec, ...]
) -> Iterator[tuple[str, DelayProxy | None]]:
    """The URL the target gets: Redis itself, or a delaying proxy in front of it for slow faults."""
    if not needs_proxy(faults):
        yield redis_server.url, None
        return
    with DelayProxy(redis_server.port) as proxy:
        yield redis_server.url.replace(f":{redis_server.port}/", f":{proxy.port}/"), proxy


class FaultInjector:
    """Runs a schedule on a background thread from ``start()``; ``stop()`` leaves Redis answering."""

    def __init__(
        self, faults: tuple[FaultSpec, ...], redis_server: RedisServer | None, proxy: DelayProxy | None = None
    ) -> None:
        self.schedule = list(faults)
        self.steps = fault_actions(self.schedule)
        self.redis_server = redis_server
        self.proxy = proxy
        self.started_unix_s: float | None = None
        self.stopped_unix_s = 0.0
        #: One record per step: fault index, action, planned and actual unix time, applied or not.
        self.events: list[FaultEvent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachebench-faults", daemon=True)
        self._paused = False

    def start(self) -> FaultInjector:
        self.started_unix_s = time.time()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> list[FaultEvent]:
        """End the schedule (also midway) and bring Redis back if a fault still holds it."""
        self.stopped_unix_s = time.time()
        self._stop.set()
        self._thread.join(timeout=30)
        server = self.redis_server
        if server is not None and self._paused and server.running:
            server.resume()
        elif server is not None and server.pid is None:  # killed or stopped by the schedule
            server.restart()
        if self.proxy is not None:
            self.proxy.delay_ms = 0
        return self.events

    def _run(self) -> None:
        for step in self.steps:
            if self._stop.wait(max(0.0, self._started + step.at_s - time.monotonic())):
                return
            self.events.append(self._apply(step))

    def _apply(self, step: FaultAction) -> FaultEvent:
        assert self.started_unix_s is not None
        planned_unix_s = self.started_unix_s + step.at_s
        applied, error = self._act(step), None
        if isinstance(applied, str):
            applied, error = False, applied
        return FaultEvent(
            fault=step.fault,
            kind=self.schedule[step.fault].kind,
            action=step.action,
            delay_ms=step.delay_ms if step.action == "delay" else None,
            planned_unix_s=planned_unix_s,
            redis_back=step.brings_redis_back,
            applied=applied,
            error=error,
            # After the action returned: for a restart, once the new process answered a PING.
            done_unix_s=time.time(),
        )

    def _act(self, step: FaultAction) -> bool | str:
        """True when done, False when there is no Redis to act on, else why it failed."""
        server = self.redis_server
        if server is None:
            return False
        try:
            if step.action == "delay":
                if self.proxy is None:
                    return "no proxy in front of Redis"
                self.proxy.delay_ms = step.delay_ms
            elif step.action == "pause":
                server.pause()
                self._paused = True
            elif step.action == "resume":
                server.resume()
                self._paused = False
            elif step.action == "kill":
                server.kill()
            elif step.action == "stop":
                server.stop()
            elif step.action == "restart":
                server.restart()
        except (RuntimeError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return True


def evaluate_faults(
    cell: CellSpec,
    cell_dir: Path,
    injector: FaultInjector,
    rows: list[dict],
    metrics_before: str | None,
    metrics_after: str | None,
) -> FaultsEvaluation:
    """The fault phases and goals (``faults.json``, and the cell summary's ``faults``)."""
    row = TARGETS.get(cell.target)
    return fault_goals.evaluate(
        list(cell.faults), injector.events, injector.started_unix_s or time.time(), injector.stopped_unix_s,
        cell_dir, LatencyRecord.read_if_present(cell_dir / results.LATENCY_FILE), rows,
        metrics_before, metrics_after, row.layers if row else (),
        cell.resolved.redis_cooldown_s,
    )  # fmt: skip
