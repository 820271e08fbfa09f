"""Measurement: Locust event listeners, registered on import, that record what the targets did.

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

Across processes (``--processes N``, ``--master``/``--worker``): each worker sends the
histograms recorded since its last report (encoded HDR, i.e. deltas) with Locust's own stats
report (``events.report_to_master``), and the master adds them up (``events.worker_report``);
both ride in the same message, so our counts and Locust's always cover the same requests.

Files, in ``--results-dir`` (nothing is written when it is empty), written atomically:

- ``latency.json`` (master or single process; at test stop and again at quit): ``schema``,
  ``unit`` ("us"), ``mode`` (``capacity``|``fixed_rate``), ``histograms``
  {"<name>|<outcome>|<service|corrected>": base64 HDR}, ``summary`` (same keys: count, min_us,
  mean_us, p50_us, p90_us, p99_us, p999_us, max_us), ``counts`` {"<name>|<outcome>": n},
  ``requests``, ``errors``, ``target_rate_per_s``, ``offered_rate_per_s``,
  ``achieved_rate_per_s``, ``window`` (the full seconds the rates cover), ``timeline``,
  ``per_worker_counts``, ``incomplete_workers``, ``browser``, ``options``, ``locustfile``,
  ``host``. ``offered_rate_per_s`` (fixed rate only) counts intended sends, ``achieved`` completions.
- ``reads-<hostname>-<pid>.csv.gz`` and ``writes-<hostname>-<pid>.csv.gz`` from every process
  that ran users (workers included), renamed into place when the process quits.

In distributed runs keep ``--stop-timeout`` small (0 is best): at the end of a headless run
Locust's master waits only 0.5 s for the workers' last reports, and a worker still waiting for
its users to finish reports too late; such a worker is listed in ``incomplete_workers``.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import socket
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from locust import events
from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner

SCHEMA = 1
LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3

L1_HIT = "l1_hit"
REDIS_HIT = "redis_hit"
MISS = "miss"
CLIENT_LOCAL = "client_local"
NOT_MODIFIED = "not_modified"
ERROR = "error"
ALL = "all"
OUTCOMES = (L1_HIT, REDIS_HIT, MISS, CLIENT_LOCAL, NOT_MODIFIED, ERROR)
SERVICE = "service"
CORRECTED = "corrected"

#: Attributes set on ``parsed_options`` by the master; Locust copies custom options into every
#: spawn message, which is how workers learn them.
TOTAL_USERS_OPTION = "cachebench_total_users"
START_OPTION = "cachebench_start_unix_s"
TOTAL_USERS_MESSAGE = "cachebench_total_users"
PAYLOAD_KEY = "cachebench"
LATENCY_FILE = "latency.json"

log = logging.getLogger(__name__)


def process_name() -> str:
    """``<hostname>-<pid>``, read when called: Locust's ``--processes`` forks after import."""
    return f"{socket.gethostname()}-{os.getpid()}"


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def classify_cache_status(cache_status: str | None) -> str:
    """Outcome of a successful response from its ``Cache-Status`` (RFC 9211) header.

    Members run from the cache nearest the origin to the one nearest the client, so the last
    member that says ``hit`` is the layer that answered; none means the origin was read.
    """
    if not cache_status or "hit" not in cache_status:
        return MISS
    for member in reversed(cache_status.split(",")):
        layer, _, params = member.partition(";")
        if any(param.strip() == "hit" for param in params.split(";")):
            return f"{layer.strip().lower()}_hit"
    return MISS


def body_int(body: bytes | None, field: bytes) -> int | None:
    """An integer field of a flat JSON body (``field`` is e.g. ``b'"version":'``), found
    without parsing the whole body: the targets' bodies are compact msgspec JSON."""
    if not body:
        return None
    start = body.find(field)
    if start < 0:
        return None
    start += len(field)
    end = body.find(b",", start)
    if end < 0:
        end = body.find(b"}", start)
    try:
        return int(body[start:end])
    except ValueError:
        return None


def body_version(body: bytes | None) -> int | None:
    """The ``version`` field of an item (or profile) JSON body."""
    return body_int(body, b'"version":')


def etag_version(etag: str | None) -> int | None:
    """The version in one of the targets' ETags, ``"item-<id>-v<version>"``."""
    if not etag:
        return None
    _, _, version = etag.strip().strip('"').rpartition("-v")
    return int(version) if version.isdigit() else None


def histogram_key(name: str, outcome: str, kind: str) -> str:
    return f"{name}|{outcome}|{kind}"


def _clamp_us(value_us: float) -> int:
    # hdrh silently drops values above its range: clamp, so every request is counted.
    if value_us < 0:
        return 0
    return HIGHEST_US if value_us > HIGHEST_US else int(value_us)


class Recorder:
    """What this process measured since its last drain (a worker drains every report)."""

    def __init__(self) -> None:
        self.histograms: dict[tuple[str, str, str], HdrHistogram] = {}
        self.timeline: Counter[tuple[int, str]] = Counter()
        self.browser: Counter[str] = Counter()

    def _histogram(self, key: tuple[str, str, str]) -> HdrHistogram:
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = new_histogram()
        return histogram

    def record(self, name: str, outcome: str, service_us: float, corrected_us: float | None = None) -> None:
        service = _clamp_us(service_us)
        self._histogram((name, outcome, SERVICE)).record_value(service)
        self._histogram((name, ALL, SERVICE)).record_value(service)
        if corrected_us is not None:
            corrected = _clamp_us(corrected_us)
            self._histogram((name, outcome, CORRECTED)).record_value(corrected)
            self._histogram((name, ALL, CORRECTED)).record_value(corrected)

    def drain(self) -> dict[str, Any]:
        """Everything since the last drain, in a form msgpack carries (str keys, no tuples)."""
        payload = {
            "process": process_name(),
            "histograms": {
                histogram_key(*key): histogram.encode().decode("ascii")
                for key, histogram in self.histograms.items()
                if histogram.get_total_count()
            },
            "timeline": [[second, series, count] for (second, series), count in self.timeline.items()],
            "browser": dict(self.browser),
        }
        # New objects rather than hdrh's reset(), which walks every counter in Python.
        self.histograms = {}
        self.timeline = Counter()
        self.browser = Counter()
        return payload


class Aggregate:
    """Drained payloads of every process added up: what ``latency.json`` reports."""

    def __init__(self) -> None:
        self.histograms: dict[str, HdrHistogram] = {}
        self.timeline: Counter[tuple[int, str]] = Counter()
        self.browser: Counter[str] = Counter()
        self.per_process: Counter[str] = Counter()
        self.final_processes: set[str] = set()

    def merge(self, payload: dict[str, Any]) -> None:
        process = payload.get("process", "?")
        self.per_process[process] += 0  # a process that measured nothing still shows up
        for key, encoded in payload.get("histograms", {}).items():
            delta = HdrHistogram.decode(encoded)
            histogram = self.histograms.get(key)
            if histogram is None:
                histogram = self.histograms[key] = new_histogram()
            histogram.add(delta)
            if key.endswith(f"|{ALL}|{SERVICE}"):
                self.per_process[process] += delta.get_total_count()
        for second, series, count in payload.get("timeline", []):
            self.timeline[(int(second), series)] += count
        self.browser.update(payload.get("browser", {}))
        if payload.get("final"):
            self.final_processes.add(process)

    def total_requests(self) -> int:
        return sum(
            h.get_total_count() for key, h in self.histograms.items() if key.endswith(f"|{ALL}|{SERVICE}")
        )

    def report(
        self,
        *,
        mode: str,
        target_rate_per_s: float | None,
        start_s: float | None,
        full_load_s: float | None,
        stop_s: float | None,
        expect_final_reports: bool,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        counts: dict[str, int] = {}
        summary: dict[str, dict[str, float]] = {}
        for key in sorted(self.histograms):
            histogram = self.histograms[key]
            total = histogram.get_total_count()
            if not total:
                continue
            name, outcome, kind = key.rsplit("|", 2)
            if kind == SERVICE:
                counts[f"{name}|{outcome}"] = total
            summary[key] = summarize(histogram)
        requests = self.total_requests()
        errors = sum(n for key, n in counts.items() if key.endswith(f"|{ERROR}"))
        timeline, window, offered, achieved = self._rates(start_s, full_load_s, stop_s)
        incomplete = sorted(set(self.per_process) - self.final_processes) if expect_final_reports else []
        return {
            "schema": SCHEMA,
            "unit": "us",
            "mode": mode,
            "histograms": {key: self.histograms[key].encode().decode("ascii") for key in summary},
            "summary": summary,
            "counts": counts,
            "requests": requests,
            "errors": errors,
            "target_rate_per_s": target_rate_per_s,
            "offered_rate_per_s": offered if mode == "fixed_rate" else None,
            "achieved_rate_per_s": achieved,
            "window": window,
            "timeline": timeline,
            "per_worker_counts": dict(self.per_process),
            "incomplete_workers": incomplete,
            "browser": dict(self.browser),
            **extra,
        }

    def _rates(
        self, start_s: float | None, full_load_s: float | None, stop_s: float | None
    ) -> tuple[dict[str, Any], dict[str, Any], float | None, float | None]:
        seconds = sorted({second for second, _ in self.timeline})
        if not seconds:
            return {"t0_unix_s": None, "per_s": {}}, {}, None, None
        first, last = seconds[0], seconds[-1]
        series_names = sorted({series for _, series in self.timeline})
        per_s = {
            series: [self.timeline.get((s, series), 0) for s in range(first, last + 1)]
            for series in series_names
        }
        # Rates over the full seconds between "all users running" and the stop: ramp-up and the
        # partly measured first and last seconds would bias them low.
        begin = math.ceil(full_load_s or start_s or first)
        end = math.floor(stop_s) if stop_s else last
        if end - begin < 1:
            begin, end = first, last + 1
        completed = sum(self.timeline.get((s, "completed"), 0) for s in range(begin, end))
        intended = sum(self.timeline.get((s, "intended"), 0) for s in range(begin, end))
        seconds_covered = end - begin
        window = {"from_unix_s": begin, "to_unix_s": end, "seconds": seconds_covered}
        return (
            {"t0_unix_s": first, "per_s": per_s},
            window,
            intended / seconds_covered,
            completed / seconds_covered,
        )


def summarize(histogram: HdrHistogram) -> dict[str, float]:
    return {
        "count": histogram.get_total_count(),
        "min_us": histogram.get_min_value(),
        "mean_us": round(histogram.get_mean_value(), 1),
        "p50_us": histogram.get_value_at_percentile(50),
        "p90_us": histogram.get_value_at_percentile(90),
        "p99_us": histogram.get_value_at_percentile(99),
        "p999_us": histogram.get_value_at_percentile(99.9),
        "max_us": histogram.get_max_value(),
    }


class RowLog:
    """One gzip CSV per process, written under a hidden temporary name and renamed into place
    when closed, so a reader never sees a half-written file under the final name."""

    def __init__(self, directory: Path, prefix: str, header: str) -> None:
        self.path = directory / f"{prefix}-{process_name()}.csv.gz"
        self._temporary = directory / f".{self.path.name}.part"
        self._header = header
        self._file = None
        self.rows = 0

    def write(self, line: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Level 1: ~5x smaller than plain CSV for a few percent of one core.
            # Open across many write() calls, closed by close(): no context manager fits.
            self._file = gzip.open(self._temporary, "wt", compresslevel=1, newline="")  # noqa: SIM115
            self._file.write(self._header)
        self._file.write(line)
        self.rows += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            os.replace(self._temporary, self.path)


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        json.dump(data, tmp, indent=1)
        tmp.write("\n")
    os.chmod(tmp.name, 0o644)  # NamedTemporaryFile makes it private; results are meant to be read
    os.replace(tmp.name, path)


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


def target_rate_per_s(environment: Any) -> float:
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
        directory = self.results_dir()
        if directory is not None and self.reads is None and not self.is_master:
            self.reads = RowLog(directory, "reads", "t_unix_s,item_id,version,outcome\n")
            self.writes = RowLog(directory, "writes", "t_unix_s,item_id,new_version\n")

    def write_results(self, final: bool) -> None:
        directory = self.results_dir()
        if directory is None or not self.started or self.is_worker:
            return
        if not self.is_master:
            self.aggregate.merge({**self.recorder.drain(), "final": True})
        options = self.environment.parsed_options
        rate = target_rate_per_s(self.environment)
        report = self.aggregate.report(
            mode="fixed_rate" if rate > 0 else "capacity",
            target_rate_per_s=rate or None,
            start_s=self.start_s,
            full_load_s=self.full_load_s,
            stop_s=self.stop_s,
            expect_final_reports=self.is_master,
            extra={
                "locustfile": getattr(options, "locustfile", None),
                "host": self.environment.host,
                "options": _workload_options(options),
            },
        )
        if final and report["incomplete_workers"]:
            log.warning(
                "no final report from %s: their last requests are missing", report["incomplete_workers"]
            )
        write_json_atomically(directory / LATENCY_FILE, report)

    def close_rows(self) -> None:
        for rows in (self.reads, self.writes):
            if rows is not None:
                rows.close()


STATE = _State()

_COMMON_OPTION_NAMES = (
    "keys",
    "distribution",
    "zipf_alpha",
    "hot_keys_fraction",
    "hot_traffic_fraction",
    "hotspot_shift_s",
    "write_ratio",
    "seed",
    "rate",
    "users_count",
    "user_token_seed",
    "num_users",
    "spawn_rate",
    "run_time",
    "stop_timeout",
    "processes",
)


def _workload_options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    return {name: getattr(options, name) for name in _COMMON_OPTION_NAMES if hasattr(options, name)}


def record_browser(counter: str, amount: int = 1) -> None:
    """Browser-cache counters (``client_local``, ``not_modified``, ``network``, ``bytes_saved``,
    ``bytes_received``), summed across processes into ``latency.json["browser"]``."""
    STATE.recorder.browser[counter] += amount


@events.init.add_listener
def on_init(environment: Any, **_kwargs: Any) -> None:
    STATE.environment = environment
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
    recorder = STATE.recorder
    if lateness_s is None:
        recorder.record(name, outcome, service_us)
    else:
        recorder.record(name, outcome, service_us, service_us + lateness_s * 1e6)
    sent_s = start_time or time.time()
    done_second = int(sent_s + response_time / 1000.0)
    timeline = recorder.timeline
    timeline[(done_second, "completed")] += 1
    timeline[(done_second, outcome)] += 1
    if collapsed:
        timeline[(done_second, "collapsed")] += 1
    if lateness_s is not None:
        timeline[(int(sent_s - lateness_s), "intended")] += 1
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
