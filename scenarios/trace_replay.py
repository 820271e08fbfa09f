"""trace_replay — your own access log, replayed live against a target.

Question: does the live target do what ``cachebench sweep --trace FILE`` predicted for this
traffic (hit ratio, origin reads, staleness under its writes)? Each distinct cache key of the log
(method and path, as the sweep keys it) is mapped to one item id (``cachebench.load.replay``);
reads are GETs and writes (PUT, POST, PATCH, DELETE) PUTs, sent at the log's own offsets
(``--trace-speed 10``: ten times as fast). Bounded: at most ``--trace-max-requests`` requests and
Locust's ``--run-time``; the run ends when the log does. Load only to 127.0.0.1 (a loopback host).

Options: ``--trace FILE`` (required), ``--trace-format`` (auto|clf|combined|jsonl|csv),
``--trace-key-query``, ``--trace-key-user``, ``--trace-speed``, ``--trace-max-requests``,
``--trace-items`` (items the keys map onto: at most the target's ``ORIGIN_ITEMS``). Users take the
log's requests in turn, so give enough users for the log's concurrency (``-u 16``).

    locust -f scenarios/trace_replay.py --host http://127.0.0.1:8000 --headless -u 16 \\
        --run-time 60s --trace tests/fixtures/access_log.gz --trace-speed 10
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import gevent
from locust import events, task
from locust.exception import StopUser
from locust.runners import WorkerRunner

from cachebench.arg_types import is_loopback_url, positive_float, positive_int
from cachebench.load import access_log, measurement
from cachebench.load.replay import Replay, build_replay
from cachebench.load.shapes import selected_shape
from scenarios._common import WorkloadUser, add_common_arguments


class _Progress:
    """A process's replay, the next request to send and how many were sent (its users share it)."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.cursor = itertools.count()
        self.sent = 0


_replays: dict[tuple, _Progress] = {}
#: How long a user with nothing left to send waits before it looks again.
IDLE_S = 0.5


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kwargs):
    add_common_arguments(parser, write_ratio=0.0)
    parser.add_argument("--trace", default="", help="The access log to replay (plain or gzip)")
    parser.add_argument("--trace-format", choices=access_log.FORMATS, default="auto", help="The log's format")
    parser.add_argument("--trace-key-query", action="store_true", help="The query string is part of the key")
    parser.add_argument("--trace-key-user", action="store_true", help="The log's user is part of the key")
    parser.add_argument(
        "--trace-speed", type=positive_float, default=1.0, help="Replay this many times as fast as logged"
    )
    parser.add_argument(
        "--trace-max-requests", type=positive_int, default=100_000, help="Replay at most this many requests"
    )
    parser.add_argument(
        "--trace-items", type=positive_int, default=10_000, help="Items the log's keys map onto"
    )


def replay_for(environment: Any) -> _Progress:
    """This process's share of the log and the cursor its users share (built once)."""
    options = environment.parsed_options
    runner = environment.runner
    processes = max(1, int(getattr(options, "processes", 1) or 1)) if isinstance(runner, WorkerRunner) else 1
    key = (options.trace, options.trace_format, options.trace_key_query, options.trace_key_user,
           options.trace_speed, options.trace_max_requests, options.trace_items)  # fmt: skip
    if key not in _replays:
        keys = access_log.KeyOptions(query=options.trace_key_query, user=options.trace_key_user)
        replay = build_replay(
            options.trace, options.trace_format, keys, options.trace_speed, options.trace_max_requests,
            options.trace_items, getattr(runner, "worker_index", 0), processes,
        )  # fmt: skip
        _replays[key] = _Progress(replay)
    return _replays[key]


class ReplayUser(WorkloadUser):
    """Sends the log's next request at its offset: a GET for a read, a PUT for a write."""

    def setup(self) -> None:
        if not self.environment.parsed_options.trace:
            raise StopUser("trace_replay needs --trace FILE")
        if not is_loopback_url(self.host):
            raise StopUser(f"trace_replay sends load to 127.0.0.1 only, not to {self.host!r}")
        self.progress = replay_for(self.environment)
        self.replay = self.progress.replay

    @task
    def send_next(self) -> None:
        index = next(self.progress.cursor)
        if index >= len(self.replay):  # idle until the run ends (the last request's sender ends it)
            gevent.sleep(IDLE_S)
            return
        intended_s = measurement.run_start_unix_s(self.environment) + self.replay.offsets_s[index]
        gevent.sleep(max(0.0, intended_s - time.time()))
        self.late_s = max(0.0, time.time() - intended_s)
        if self.replay.writes[index]:
            self.write_item(self.replay.items[index])
        else:
            self.read_item(self.replay.items[index])
        self.progress.sent += 1
        runner = self.environment.runner
        if self.progress.sent == len(self.replay) and not isinstance(runner, WorkerRunner):
            # The log is over, so is the run; from another greenlet, as quit() stops this one.
            gevent.spawn(runner.quit)

    def request_context(self, **extra: Any) -> dict[str, Any]:
        # The log's offsets, not the pacer, say when a request was meant to go.
        return {**extra, "lateness_s": self.late_s}


Shape = selected_shape()
