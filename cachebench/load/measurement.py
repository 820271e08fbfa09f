"""Measurement: Locust event listeners, registered on import, that record what the targets did.

The pieces they use live beside them: ``outcomes`` (Cache-Status to outcome), ``histograms`` (HDR
recording and merging) and ``records`` (the per-request read and write logs).

Per request (``events.request``):

- the latency in microseconds into HDR histograms (1 µs .. 60 s, 3 significant digits), keyed
  by request name and cache outcome, and by request name and ``all``. The outcome comes from the
  response's RFC 9211 ``Cache-Status`` header: the member nearest the client that says ``hit``
  gives ``<layer>_hit`` (``l1_hit``, ``redis_hit``), otherwise ``miss`` (the origin was read;
  also when there is no Cache-Status at all, so a write is a ``miss`` too); a 304 is
  ``not_modified``, a failure ``error``, and the browser scenario marks answers from its own
  cache ``client_local`` through the request context (``context={"outcome": ...}``).
- in fixed-rate runs (``--rate`` > 0) also the latency corrected for coordinated omission:
  measured from the request's intended send time (``context["lateness_s"]`` is how late the
  paced user sent it), as wrk2 does, so a stalled server shows in the latency of every request
  that queued behind the stall and not only in the one that was in flight.
- per second: completions, intended sends, each outcome and coalesced (``collapsed``) misses.
- one row per item read (``t_unix_s,item_id,version,outcome``; t = send time, version = the
  body's ``version``, or for ``not_modified`` the ETag's, for ``client_local`` the cached
  copy's) and per item write (``t_unix_s,item_id,new_version``; t = acknowledgement time), so a
  later analysis can tell which reads were stale: a read sent after a write of a newer version
  was acknowledged returned stale data.

With ``--lead-in-s L`` nothing sent (intended) in the run's first L seconds is recorded, and
the rates' window starts after them: a capacity step's first seconds carry Locust's start and a
cache still adapting to the new rate, not the rate's steady state. Writes are logged throughout,
since a read after the lead-in is stale against a write acknowledged within it.

An answer handled once Locust began to stop (``test_stopping``) is only counted, per request
name (``after_stop``), not recorded or logged: ``Runner.stop`` first blocks the loop 36-46 ms
(Locust 2.47, measured) in an ``inspect.stack()`` for a debug log, so those answers waited on the
generator: recorded, they took 50-110 ms over a 20 ms origin and set a 4 s cell's p99.

Across processes (``--processes N``, ``--master``/``--worker``): each worker sends the
histograms recorded since its last report (encoded HDR, i.e. deltas) with Locust's own stats
report (``events.report_to_master``), and the master adds them up (``events.worker_report``);
both ride in the same message, so our counts and Locust's always cover the same requests.

Files, in ``--results-dir`` (nothing is written when it is empty), written atomically:

- ``latency.json`` (master or single process; at test stop and again at quit): a
  ``cachebench.results.LatencyRecord`` — histograms ``<name>|<outcome>|<service|corrected>``,
  counts, the offered, intended and achieved rates over the full-rate ``window``, the per-second
  ``timeline``, per-process counts, browser-cache counters and the answers after Locust's stop.
- ``reads-<hostname>-<pid>.csv.gz`` and ``writes-<hostname>-<pid>.csv.gz`` from every process
  that ran users (workers included), renamed into place when the process quits.

In distributed runs keep ``--stop-timeout`` small (0 is best): at the end of a headless run
Locust's master waits only 0.5 s for the workers' last reports, and a worker still waiting for
its users to finish reports too late; such a worker is listed in ``incomplete_workers``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner

from cachebench.load.histograms import AFTER_STOP, Aggregate, Recorder, latency_bucket
from cachebench.load.outcomes import CLIENT_LOCAL, ERROR, MISS, NOT_MODIFIED, classify_cache_status
from cachebench.load.records import READS_HEADER, WRITES_HEADER, RowLog, body_version, etag_version
from cachebench.results import LATENCY_FILE, READS_PREFIX, WRITES_PREFIX

#: Attributes set on ``parsed_options`` by the master; Locust copies custom options into every
#: spawn message, which is how workers learn them.
TOTAL_USERS_OPTION = "cachebench_total_users"
START_OPTION = "cachebench_start_unix_s"
TOTAL_USERS_MESSAGE = "cachebench_total_users"
PAYLOAD_KEY = "cachebench"

log = logging.getLogger(__name__)


# --- Total user count, for the per-user rate of fixed-rate runs -----------------------------


def publish_total_users(environment: Any, users: int | None) -> None:
    """On the master (or in a shape's tick): the total user count workers pace against."""
    options = environment.parsed_options
    if options is not None and users:
        setattr(options, TOTAL_USERS_OPTION, int(users))


_warned_share = False


def total_users(environment: Any) -> int:
    """Users across all processes: what a fixed total rate is divided by."""
    global _warned_share
    runner = environment.runner
    options = environment.parsed_options
    if isinstance(runner, WorkerRunner):
        users = getattr(options, TOTAL_USERS_OPTION, None) or getattr(options, "num_users", None)
        if not users:
            if not _warned_share:
                log.warning("total user count unknown on this worker; pacing this worker's share only")
                _warned_share = True
            users = runner.target_user_count
    else:
        users = (runner.target_user_count if runner is not None else 0) or getattr(options, "num_users", None)
    return max(1, int(users or 1))


def run_start_unix_s(environment: Any) -> float:
    """When the test started (the master's clock in distributed runs): t = 0 of the workload."""
    start = getattr(environment.parsed_options, START_OPTION, None)
    return float(start) if start else (STATE.start_s or time.time())


def measured_from_unix_s(environment: Any) -> float | None:
    """When recording starts: the run's start plus ``--lead-in-s`` (None: from the start)."""
    lead_in_s = float(getattr(environment.parsed_options, "lead_in_s", 0) or 0)
    return run_start_unix_s(environment) + lead_in_s if lead_in_s > 0 else None


def offered_rate_per_s(environment: Any) -> float:
    """The rate asked of the generator (``--rate``; 0: a closed loop)."""
    return float(getattr(environment.parsed_options, "rate", 0) or 0)


# --- Per-process state and the listeners --------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.environment: Any = None
        self.recorder = Recorder()
        self.aggregate = Aggregate()
        self.reads: RowLog | None = None
        self.writes: RowLog | None = None
        self.started = False
        self.start_s: float | None = None
        self.full_load_s: float | None = None
        self.stop_s: float | None = None
        #: When Locust began to stop (``test_stopping``): answers after it are left out.
        self.stopping_s: float | None = None
        #: ``measured_from_unix_s``, read at the first request (a worker learns the master's
        #: start time only with its spawn message); False until then.
        self.measured_from_s: float | None | bool = False

    @property
    def is_worker(self) -> bool:
        return isinstance(getattr(self.environment, "runner", None), WorkerRunner)

    @property
    def is_master(self) -> bool:
        return isinstance(getattr(self.environment, "runner", None), MasterRunner)

    def results_dir(self) -> Path | None:
        options = getattr(self.environment, "parsed_options", None)
        directory = getattr(options, "results_dir", "") if options is not None else ""
        return Path(directory) if directory else None

    def begin(self, environment: Any) -> None:
        self.environment = environment
        self.recorder = Recorder()
        self.aggregate = Aggregate()
        self.started = True
        self.start_s = time.time()
        self.full_load_s = None
        self.stop_s = None
        self.stopping_s = None
        self.measured_from_s = False
        directory = self.results_dir()
        if directory is not None and self.reads is None and not self.is_master:
            self.reads = RowLog(directory, READS_PREFIX, READS_HEADER)
            self.writes = RowLog(directory, WRITES_PREFIX, WRITES_HEADER)

    def write_results(self, final: bool) -> None:
        directory = self.results_dir()
        if directory is None or not self.started or self.is_worker:
            return
        if not self.is_master:
            self.aggregate.merge({**self.recorder.drain(), "final": True})
        options = self.environment.parsed_options
        rate = offered_rate_per_s(self.environment)
        measured_from_s = measured_from_unix_s(self.environment)
        report = self.aggregate.report(
            mode="fixed_rate" if rate > 0 else "capacity",
            offered_rate_per_s=rate or None,
            start_s=self.start_s,
            full_load_s=max(filter(None, (self.full_load_s, measured_from_s)), default=None),
            stop_s=self.stop_s,
            expect_final_reports=self.is_master,
            locustfile=getattr(options, "locustfile", None),
            host=self.environment.host,
            options=_workload_options(options),
            measured_from_unix_s=measured_from_s,
            stopping_unix_s=self.stopping_s,
        )
        if final and report.incomplete_workers:
            log.warning("no final report from %s: their last requests are missing", report.incomplete_workers)
        report.write(directory / LATENCY_FILE)

    def close_rows(self) -> None:
        for rows in (self.reads, self.writes):
            if rows is not None:
                rows.close()


STATE = _State()

_COMMON_OPTION_NAMES = (
    "keys", "distribution", "zipf_alpha", "hot_keys_fraction", "hot_traffic_fraction",
    "hotspot_shift_s", "write_ratio", "seed", "rate", "users_count", "user_token_seed", "num_users",
    "spawn_rate", "run_time", "lead_in_s", "stop_timeout", "processes",
)  # fmt: skip


def _workload_options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    return {name: getattr(options, name) for name in _COMMON_OPTION_NAMES if hasattr(options, name)}


def in_lead_in(intended_s: float) -> bool:
    """Whether a request meant to go at ``intended_s`` falls in the lead-in, and is not recorded."""
    if STATE.measured_from_s is False:
        STATE.measured_from_s = measured_from_unix_s(STATE.environment)
    return bool(STATE.measured_from_s) and intended_s < STATE.measured_from_s


def record_browser(**amounts: int) -> None:
    """Browser-cache counters (``BrowserCounts``' fields, e.g. ``record_browser(client_local=1)``),
    summed across processes into ``latency.json``'s ``browser``."""
    if STATE.stopping_s is None and not in_lead_in(time.time()):  # as the requests they go with
        for counter, amount in amounts.items():
            STATE.recorder.browser[counter] += amount


@events.init.add_listener
def on_init(environment: Any, **_kwargs: Any) -> None:
    STATE.environment = environment
    # Locust times --run-time with a gevent timer, counted from the hub's cached clock, which last
    # moved when the hub last ran: before the ~0.5 s of imports and setup. Every run stopped that
    # much short (3.46 s of a 4 s --run-time, three of three runs); moved to now, it is on time.
    gevent.get_hub().loop.update_now()
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        def on_total_users(environment: Any, msg: Any, **_kwargs: Any) -> None:
            publish_total_users(environment, msg.data.get("users"))

        runner.register_message(TOTAL_USERS_MESSAGE, on_total_users)
    elif isinstance(runner, MasterRunner) and environment.parsed_options is not None:
        publish_total_users(environment, environment.parsed_options.num_users)


@events.test_start.add_listener
def on_test_start(environment: Any, **_kwargs: Any) -> None:
    STATE.begin(environment)
    if not STATE.is_worker and environment.parsed_options is not None:
        # Fired before the master sends spawn messages, which carry these to the workers.
        publish_total_users(environment, environment.runner.target_user_count)
        setattr(environment.parsed_options, START_OPTION, STATE.start_s)


@events.spawning_complete.add_listener
def on_spawning_complete(user_count: int, **_kwargs: Any) -> None:
    if STATE.is_worker:
        return
    if STATE.full_load_s is None:
        STATE.full_load_s = time.time()
    if STATE.is_master:
        # A user count changed mid-test (web UI) reaches workers only this way.
        STATE.environment.runner.send_message(TOTAL_USERS_MESSAGE, {"users": user_count})


@events.request.add_listener
def on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: dict | None = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_kwargs: Any,
) -> None:
    """Kept cheap (~10 µs): no JSON parsing, a few dict look-ups and histogram increments."""
    context = context or {}
    outcome = context.get("outcome")
    collapsed = False
    if outcome is None:
        if exception is not None:
            outcome = ERROR
        elif response is None:
            outcome = MISS  # an event from a custom client, with nothing to classify
        elif response.status_code == 304:
            outcome = NOT_MODIFIED
        else:
            headers = response.headers
            cache_status = headers.get("cache-status") if headers is not None else None
            outcome = classify_cache_status(cache_status)
            collapsed = outcome == MISS and cache_status is not None and "collapsed" in cache_status
    service_us = response_time * 1000.0
    lateness_s = context.get("lateness_s")
    sent_s = start_time or time.time()
    if in_lead_in(sent_s - (lateness_s or 0.0)):
        if request_type == "PUT":
            _log_row(request_type, outcome, response, context, sent_s, response_time)
        return
    recorder = STATE.recorder
    if STATE.stopping_s is not None:  # answered while Locust stops: partly its own wait (docstring)
        recorder.timeline[(int(time.time()), f"{AFTER_STOP}|{name}")] += 1
        return
    if lateness_s is None:
        recorder.record(name, outcome, service_us)
    else:
        recorder.record(name, outcome, service_us, service_us + lateness_s * 1e6)
    done_second = int(sent_s + response_time / 1000.0)
    timeline = recorder.timeline
    timeline[(done_second, "completed")] += 1
    timeline[(done_second, outcome)] += 1
    # The latency a user saw: from the intended send time at a fixed rate, so a stall shows.
    timeline[(done_second, latency_bucket(service_us + (lateness_s or 0.0) * 1e6))] += 1
    if collapsed:
        timeline[(done_second, "collapsed")] += 1
    if lateness_s is not None:
        timeline[(int(sent_s - lateness_s), "intended")] += 1
    _log_row(request_type, outcome, response, context, sent_s, response_time)


def _log_row(
    request_type: str, outcome: str, response: Any, context: dict, sent_s: float, response_time: float
) -> None:
    """The request's row in the read or write log."""
    item_id = context.get("item_id")
    if item_id is None or outcome == ERROR or STATE.reads is None:
        return
    if request_type == "GET":
        if outcome == NOT_MODIFIED:
            version = etag_version(response.headers.get("etag"))
        elif outcome == CLIENT_LOCAL:
            version = context.get("version")
        else:
            version = body_version(response.content)
        if version is not None:
            STATE.reads.write(f"{sent_s:.6f},{item_id},{version},{outcome}\n")
    elif request_type == "PUT":
        version = body_version(response.content)
        if version is not None:
            STATE.writes.write(f"{sent_s + response_time / 1000.0:.6f},{item_id},{version}\n")


@events.report_to_master.add_listener
def on_report_to_master(client_id: str, data: dict, **_kwargs: Any) -> None:
    payload = STATE.recorder.drain()
    runner = getattr(STATE.environment, "runner", None)
    payload["final"] = runner is not None and runner.state == STATE_STOPPED
    data[PAYLOAD_KEY] = payload


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict, **_kwargs: Any) -> None:
    payload = data.get(PAYLOAD_KEY)
    if payload:
        STATE.aggregate.merge(payload)


@events.test_stopping.add_listener
def on_test_stopping(environment: Any, **_kwargs: Any) -> None:
    STATE.stopping_s = time.time()  # before Locust stops any user (module docstring)


@events.test_stop.add_listener
def on_test_stop(environment: Any, **_kwargs: Any) -> None:
    STATE.stop_s = time.time()
    for rows in (STATE.reads, STATE.writes):
        if rows is not None:
            rows.flush()
    # In a headless distributed run the workers' last reports are still on their way: the file is
    # written again, complete, at quit.
    STATE.write_results(final=False)


@events.quitting.add_listener
def on_quitting(environment: Any, **_kwargs: Any) -> None:
    STATE.close_rows()
    STATE.write_results(final=True)
