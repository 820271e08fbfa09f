"""A session's cells on the processes they share (``CellRunner``); the whole run and its manifest
are ``cachebench.run.driver``'s.

Per session: a fresh empty Redis, the target with its settings, ``verify`` (a target that fails
is not measured), an unrecorded warm-up, the measured Locust phase with a per-second sampler,
``/metrics`` before and after, then everything stopped by PID — also on failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from cachebench import results
from cachebench.load.browser_state import CLIENT_CACHE_DIR_ENV
from cachebench.metrics_text import parse_metrics
from cachebench.results import (
    METRICS_AFTER_FILE,
    AfterRecorded,
    CellFile,
    CellSpec,
    CellSummary,
    CheckOutcome,
    Cpus,
    FaultsFile,
    SearchSummary,
    VerifyFile,
    WarmupRecord,
)
from cachebench.run import summary as cell_summary
from cachebench.run import target_state
from cachebench.run.capacity import capacity_run
from cachebench.run.faults.fault_injector import FaultInjector, evaluate_faults, redis_url_for_target
from cachebench.run.keep_warm import keeper_for
from cachebench.run.processes.children import plan_cpus, terminate
from cachebench.run.processes.launcher import ExternalTarget, TargetProcess
from cachebench.run.processes.locust_process import (
    LOCUST_GRACE_S,
    CellFailed,
    check_exit,
    locust_command,
    recorded_s,
    running_locust,
    wait,
)
from cachebench.run.processes.redis_server import RedisServer
from cachebench.run.sampling import Sampler, tree
from cachebench.run.session import Session
from cachebench.run.verify.verification import verify
from cachebench.run.warmup_settle import WINDOW_S, settle_watch
from cachebench.serve.origin import export_write_log
from targets import TARGETS


def _verify(url: str, cell: CellSpec, external: bool) -> list[CheckOutcome]:
    # A service we did not start may lack /healthz or /metrics: those checks only warn then.
    checks = verify(url, None, strict=False) if external else verify(url, cell.target, workers=cell.workers)
    return [CheckOutcome(name=c.name, status=c.status, reason=c.reason) for c in checks]


#: After Locust's run time, its users have stopped and their last requests are answered.
END_MARGIN_S = 0.05


class CellRunner:
    """Runs cells; ``on_tick(cell, sampler, phase, ends_at)`` feeds the live progress."""

    def __init__(
        self, run_dir: Path, on_tick: Callable[..., None] = lambda *a: None, external_url: str | None = None
    ) -> None:
        self.run_dir = run_dir
        self.on_tick = on_tick
        self.external_url = external_url
        self.target_cpus, self.generator_cpus = plan_cpus() if external_url is None else (None, None)
        #: What every Locust process of the current session gets in its environment.
        self._locust_env: dict[str, str] = {}

    def run(self, cell: CellSpec) -> CellSummary | SearchSummary:
        """One cell on processes of its own."""
        for _, outcome in self.run_session([cell]):
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        raise CellFailed("the cell was not run")

    def run_session(
        self, cells: list[CellSpec]
    ) -> Iterator[tuple[CellSpec, CellSummary | SearchSummary | Exception]]:
        """Start the session's processes, verify and warm them up once, then measure each cell.

        Yields each cell with its result, or with the exception that ended it (later cells still
        run). A failure before the first cell (start, verify, warm-up) raises: no cell was measured.
        """
        first = cells[0]
        first_dir = self._cell_dir(first)
        with contextlib.ExitStack() as stack:
            # Browsers keep their HTTP caches across the session's Locust processes (browser_state).
            browsers = stack.enter_context(tempfile.TemporaryDirectory(prefix="cachebench-browsers-"))
            self._locust_env = {CLIENT_CACHE_DIR_ENV: browsers}
            session = self._start(first, first_dir, stack)
            checks = _verify(session.target.url, first, external=self.external_url is not None)
            for cell in cells:
                VerifyFile(checks=checks).write(self._cell_dir(cell) / results.VERIFY_FILE)
            failed = [c.name for c in checks if c.status == "fail"]
            if failed:
                raise CellFailed(f"verification failed: {', '.join(failed)}")
            if self.external_url is None:
                # At rest before the warm-up: a pause after it would let entries expire unrefilled,
                # and their misses would all land at the start of the first measured cell.
                session.idle_cpu = target_state.idle_cpu(
                    session.target.url, session.target.processes,
                    session.redis_server.url if session.redis_server else None,
                    session.redis_server.pid if session.redis_server else None,
                )  # fmt: skip
            session.keeper = keeper_for(first, session.target.url)
            stack.callback(lambda: session.keeper and session.keeper.stop())
            if first.warmup_s > 0:
                session.warmup = self._warm_up(first, session.target, first_dir, session.keep_warm)
            session.keep_warm()
            done: list[CellSummary | SearchSummary] = []
            for position, cell in enumerate(cells):
                try:
                    if cell.search:
                        rate = cell.offered_rate_per_s
                        same_rate = [
                            r
                            for r in done
                            if isinstance(r, CellSummary) and r.cell.offered_rate_per_s == rate
                        ]
                        result = capacity_run.search(
                            cell, self._cell_dir(cell), self._measure_step(session), (same_rate or [None])[-1]
                        )
                    else:
                        result = self._measure_cell(cell, session, self._cell_dir(cell))
                except (CellFailed, OSError, ValueError, httpx.HTTPError) as exc:
                    yield cell, exc
                    continue
                result.warmup = _warmup_record(session.warmup, position, first)
                result.write(self._cell_dir(cell) / results.SUMMARY_FILE)
                if result.interrupted:
                    raise KeyboardInterrupt
                done.append(result)
                session.keep_warm()
                yield cell, result

    def _cell_dir(self, cell: CellSpec) -> Path:
        cell_dir = results.cell_dir(self.run_dir, cell.name)
        if not cell_dir.exists():
            cell_dir.mkdir(parents=True)
            CellFile.of(cell).write(cell_dir / results.CELL_FILE)
        return cell_dir

    def _start(self, cell: CellSpec, cell_dir: Path, stack: contextlib.ExitStack) -> Session:
        if self.external_url is not None:
            return Session(ExternalTarget(self.external_url))
        settings = dict(cell.settings)
        redis_server, proxy = None, None
        if TARGETS[cell.target].needs_redis:
            redis_server = stack.enter_context(RedisServer(cpus=self.target_cpus))
            settings["redis_url"], proxy = stack.enter_context(
                redis_url_for_target(redis_server, cell.faults)
            )
        target = stack.enter_context(
            TargetProcess(
                cell.target, settings, workers=cell.workers, cpus=self.target_cpus,
                log_path=cell_dir / results.TARGET_LOG_FILE,
            )
        )  # fmt: skip
        return Session(target, redis_server, proxy)

    def _measure_step(self, session: Session) -> Callable[[CellSpec, Path], CellSummary]:
        def measure(step: CellSpec, step_dir: Path) -> CellSummary:
            step_dir.mkdir(parents=True, exist_ok=True)
            result = self._measure_cell(step, session, step_dir, resume_keep_warm=False)
            if not result.interrupted:
                # None: still serving at the bound, and the next step starts behind a queue.
                result.drained_after_s = target_state.wait_until_drained(session.target.url)
                result.still_serving = result.drained_after_s is None
            result.write(step_dir / results.SUMMARY_FILE)
            if result.interrupted:
                raise KeyboardInterrupt
            session.keep_warm()
            return result

        return measure

    def _measure_cell(
        self, cell: CellSpec, session: Session, cell_dir: Path, resume_keep_warm: bool = True
    ) -> CellSummary:
        """Metrics before, the measured phase, metrics after: the cell's summary (not yet written).

        ``resume_keep_warm``: the keep-warm starts again as soon as the phase's counters are read
        (a search step instead waits for the target to drain first).
        """
        target = session.target
        before: dict[str, object] = {"metrics": None, "started_at": time.time(), "handover_s": None}

        def on_launch() -> None:
            # The keep-warm hands over to Locust; the phase's counters start from here, or after
            # the lead-in Locust does not record either.
            before["handover_s"] = session.hand_over()
            if cell.lead_in_s > 0:
                self._lead_in(cell, target.url, waited_for_load=before["handover_s"] is not None)
            before["metrics"] = target_state.save_metrics(target.url, cell_dir / results.METRICS_BEFORE_FILE)
            before["started_at"] = time.time()

        def keep_warm_again() -> None:  # (not named like the flag above, which it would hide)
            session.keep_warm()
            marks.setdefault("keep_warm_resumed", time.time())

        def at_end() -> None:
            # Reads again once Locust's users stop, not after its process exits: entries expiring
            # in a gap are not refilled (simulated, l1 at 200 req/s, 10 s TTL: a 1.2 s gap after
            # each cell left the next 1.2-1.7 points below steady state).
            before["metrics_after"] = target_state.save_metrics(target.url, cell_dir / METRICS_AFTER_FILE)
            keep_warm_again()

        returncode, rows, interrupted, marks = None, [], False, {}
        injector = FaultInjector(cell.faults, session.redis_server, session.proxy) if cell.faults else None
        early = at_end if resume_keep_warm and session.keeper and injector is None else None
        try:
            returncode = self._measure(cell, session, cell_dir, rows, marks, injector, on_launch, early)
        except KeyboardInterrupt:
            interrupted = True
        metrics_before, started_at = before["metrics"], float(before["started_at"])
        after = before.get("metrics_after")
        metrics_after = after or target_state.save_metrics(target.url, cell_dir / METRICS_AFTER_FILE)
        if resume_keep_warm and not interrupted:
            keep_warm_again()  # now at the latest: the summary below takes a while
        if getattr(target, "origin_path", None) is not None:
            # The origin's own record of every write: the ground truth for staleness.
            export_write_log(target.origin_path, cell_dir / results.ORIGIN_WRITES_FILE)
        result = cell_summary.summarize(
            cell, cell_dir, rows, started_at, time.time(), returncode,
            cpus=Cpus(target=self.target_cpus, generator=self.generator_cpus), interrupted=interrupted,
            metrics_before=metrics_before, metrics_after=metrics_after, idle_cpu=session.idle_cpu,
        )  # fmt: skip
        result.keep_warm_handover_s = before["handover_s"]
        result.after_recorded_s = _after_recorded(marks, result.locust_stopping_unix_s, session.keeper)
        if injector is not None:
            result.faults = evaluate_faults(cell, cell_dir, injector, rows, metrics_before, metrics_after)
            FaultsFile(**result.faults.model_dump()).write(cell_dir / results.FAULTS_FILE)
            result.headline.fault_goals = [goal.line() for goal in result.faults.goals]
        return result

    def _lead_in(self, cell: CellSpec, url: str, waited_for_load: bool) -> None:
        """The phase's first ``cell.lead_in_s`` seconds of load, which Locust does not record."""
        if not waited_for_load:
            target_state.wait_until_loaded(url)
        ends_at = time.monotonic() + cell.lead_in_s
        while (left_s := ends_at - time.monotonic()) > 0:
            self.on_tick(cell, None, "lead-in", ends_at)
            time.sleep(min(0.25, left_s))

    def _warm_up(
        self,
        cell: CellSpec,
        target: TargetProcess,
        cell_dir: Path,
        before_end: Callable[[], None] = lambda: None,
    ) -> WarmupRecord:
        """Same load, nothing recorded: until the hit ratio settles (at most warmup_s), or warmup_s.

        ``before_end`` runs while Locust still sends, just before the warm-up ends (the keep-warm
        starting): Locust takes a second or more to stop, and a cache left without reads in that
        time starts the first measured phase below its steady state.
        """
        watch = settle_watch(cell)
        log_path = cell_dir / results.LOCUST_WARMUP_LOG_FILE
        command = locust_command(cell, target.url, cell.warmup_s, None)
        started = time.monotonic()
        ends_at, next_scrape_at, settled = started + cell.warmup_s, started, False
        with (
            running_locust(command, self.generator_cpus, log_path, self._locust_env) as proc,
            httpx.Client(timeout=5) as client,
        ):

            def on_tick() -> None:
                nonlocal next_scrape_at, settled
                self.on_tick(cell, None, "warm-up", ends_at)
                now = time.monotonic()
                if now >= ends_at:
                    before_end()  # Locust ends by itself within its start-up time from here
                if cell.warmup != "steady_state" or now < next_scrape_at:
                    return
                next_scrape_at = now + WINDOW_S
                with contextlib.suppress(httpx.HTTPError):
                    watch.observe(parse_metrics(client.get(f"{target.url}/metrics").text))
                if watch.settled(now - started):
                    settled = True
                    before_end()
                    terminate(proc)  # ends the warm-up here; Locust stops its users on SIGTERM

            returncode = wait(proc, cell.warmup_s + LOCUST_GRACE_S, on_tick)
        if not settled:
            check_exit(returncode, log_path)
        return watch.record(cell.warmup, time.monotonic() - started, settled)

    def _measure(
        self,
        cell: CellSpec,
        session: Session,
        cell_dir: Path,
        rows: list[dict],
        marks: dict[str, float],
        injector: FaultInjector | None = None,
        on_launch: Callable[[], None] = lambda: None,
        at_end: Callable[[], None] | None = None,
    ) -> int:
        """The measured phase, sampled every second into ``rows`` (and the samples file).

        The rows go into the caller's list rather than the return value, so a phase that fails or
        is interrupted midway still hands its samples to the summary. ``at_end`` runs once, just
        after Locust's users stop, or as its process exits if that comes first. ``marks`` gets the
        time Locust's process exited."""
        target, redis_server = session.target, session.redis_server
        command = locust_command(cell, target.url, cell.duration_s, cell_dir)
        log_path = cell_dir / results.LOCUST_LOG_FILE
        with running_locust(command, self.generator_cpus, log_path, self._locust_env) as proc:
            on_launch()
            sampler = Sampler(
                target.url, target.processes, tree(proc.pid),
                redis_url=redis_server.url if redis_server else None,
                redis_pid=(lambda: redis_server.pid) if redis_server else None,
                all_ours=tree(os.getpid()) if self.external_url is None else None,
                redis_timeout_s=0.2 if injector else 1.0,
            ).start()  # fmt: skip
            if injector is not None:
                injector.start()  # fault times count from here: the measured phase's start
            try:
                ends_at, stops_at = time.monotonic() + cell.duration_s, time.monotonic() + recorded_s(cell)

                def on_tick() -> None:
                    nonlocal at_end
                    self.on_tick(cell, sampler, "measure", ends_at)
                    if at_end is not None and time.monotonic() >= stops_at + END_MARGIN_S:
                        at_end, run_now = None, at_end
                        run_now()

                returncode = wait(proc, cell.duration_s + LOCUST_GRACE_S, on_tick)
                marks["generator_exited"] = time.time()
                if at_end is not None:  # Locust exited within the margin: now, before the sampler stops
                    at_end()
            finally:
                if injector is not None:
                    injector.stop()
                rows.extend(sampler.stop())
                cell_summary.write_samples(cell_dir / results.SAMPLES_FILE, rows)
        check_exit(returncode, log_path)
        return returncode


def _after_recorded(marks: dict[str, float], stopped: float | None, keeper: object) -> AfterRecorded | None:
    """Seconds after Locust began to stop its users (``stopped``) at which its process exited and
    the keep-warm read again (negative: the two loads overlapped). A cache gets no reads between."""
    if not stopped:
        return None

    def since(mark: str) -> float | None:
        return round(marks[mark] - stopped, 3) if mark in marks else None

    resumed = since("keep_warm_resumed") if keeper is not None else None
    return AfterRecorded(generator_exited_s=since("generator_exited"), keep_warm_resumed_s=resumed)


def _warmup_record(warmup: WarmupRecord | None, position: int, first: CellSpec) -> WarmupRecord | None:
    """The session's warm-up; a later cell notes that it ran on the same warmed processes."""
    if warmup is None or position == 0:
        return warmup
    return warmup.model_copy(update={"shared_with": first.name})
