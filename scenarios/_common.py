"""What every scenario shares: the workload options, a paced FastHttpUser base, item requests.

Importing this module also registers the measurement listeners (``cachebench.load.measurement``).

Options (Locust custom arguments, so they show in the web UI and on the command line; each
scenario registers them with its own defaults through ``add_common_arguments``):
``--keys``, ``--distribution`` (uniform|zipf|hotspot), ``--zipf-alpha``, ``--hot-keys-fraction``,
``--hot-traffic-fraction``, ``--hotspot-shift-s`` (0 = the hot set stays put), ``--write-ratio``,
``--seed``, ``--rate`` (total requests/s over all users and processes; 0 = closed loop),
``--results-dir``, ``--lead-in-s`` (seconds at the full rate before anything is recorded),
``--user-token-seed``, ``--users-count``.

Pacing: with ``--rate`` > 0 every user sends one request per ``total users / rate`` seconds at
fixed intended times (a random phase apart, so users do not fire together). A user that falls
behind sends at once, and the measurement listeners record both the service time and the
latency from the intended time. With ``--rate 0`` users send back to back (capacity runs).
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

import gevent
from locust import task
from locust.contrib.fasthttp import FastHttpUser

from cachebench.arg_types import non_negative_float, positive_float, positive_int
from cachebench.load import measurement
from cachebench.load.workload import DISTRIBUTIONS, READ, Workload, WorkloadSpec, stream_rng

ITEM_GET = "GET /items/[id]"
ITEM_PUT = "PUT /items/[id]"
ME_GET = "GET /me"

COMMON_DEFAULTS: dict[str, Any] = {
    "keys": 10_000,
    "distribution": "zipf",
    "zipf_alpha": 0.99,
    "hot_keys_fraction": 0.2,
    "hot_traffic_fraction": 0.8,
    "hotspot_shift_s": 0.0,
    "write_ratio": 0.05,
    "seed": 42,
    "rate": 0.0,
    "results_dir": "",
    "lead_in_s": 0.0,
    "user_token_seed": 42,
    "users_count": 1000,
}

_user_numbers = itertools.count()
_workloads: dict[WorkloadSpec, Workload] = {}


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def add_common_arguments(parser: Any, **defaults: Any) -> None:
    """Register the workload options; ``defaults`` overrides ``COMMON_DEFAULTS`` per scenario."""
    unknown = set(defaults) - set(COMMON_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option defaults: {sorted(unknown)}")
    d = {**COMMON_DEFAULTS, **defaults}
    parser.add_argument(
        "--keys", type=positive_int, default=d["keys"], help="Items the workload touches (1..N)"
    )
    parser.add_argument(
        "--distribution", choices=DISTRIBUTIONS, default=d["distribution"], help="Key popularity distribution"
    )
    parser.add_argument(
        "--zipf-alpha", type=positive_float, default=d["zipf_alpha"], help="Zipf exponent (YCSB: 0.99)"
    )
    parser.add_argument(
        "--hot-keys-fraction",
        type=_share,
        default=d["hot_keys_fraction"],
        help="hotspot: share of keys that are hot",
    )
    parser.add_argument(
        "--hot-traffic-fraction",
        type=_share,
        default=d["hot_traffic_fraction"],
        help="hotspot: share of requests that go to hot keys",
    )
    parser.add_argument(
        "--hotspot-shift-s",
        type=non_negative_float,
        default=d["hotspot_shift_s"],
        help="hotspot: move the hot set every this many seconds (0 = never)",
    )
    parser.add_argument(
        "--write-ratio", type=_fraction, default=d["write_ratio"], help="Share of requests that write"
    )
    parser.add_argument("--seed", type=int, default=d["seed"], help="Seed of the key and operation streams")
    parser.add_argument(
        "--rate",
        type=non_negative_float,
        default=d["rate"],
        help="Total requests/s over all users and processes (0 = closed loop, for capacity)",
    )
    parser.add_argument(
        "--results-dir",
        default=d["results_dir"],
        help="Where latency.json and read/write logs go (empty = nowhere)",
    )
    parser.add_argument(
        "--lead-in-s",
        type=non_negative_float,
        default=d["lead_in_s"],
        help="Seconds the load runs before anything is recorded (start-up, caches adapting to the rate)",
    )
    parser.add_argument(
        "--user-token-seed", type=int, default=d["user_token_seed"], help="Seed of the user tokens"
    )
    parser.add_argument(
        "--users-count",
        type=positive_int,
        default=d["users_count"],
        help="Seeded users at the origin (1..N)",
    )


def workload_for(environment: Any) -> Workload:
    """The process's workload for the options in force (built once per distinct spec)."""
    spec = WorkloadSpec.from_options(environment.parsed_options)  # WorkloadError names the bad option
    workload = _workloads.get(spec)
    if workload is None:
        workload = _workloads[spec] = Workload(spec)
    return workload


class Pacer:
    """Intended send times of one user in fixed-rate runs (see the module docstring)."""

    def __init__(self, environment: Any, phase: float) -> None:
        self.environment = environment
        self.rate_per_s = measurement.offered_rate_per_s(environment)
        self.phase = phase
        self.next_s = 0.0

    @property
    def fixed_rate(self) -> bool:
        return self.rate_per_s > 0

    def interval_s(self) -> float:
        # Read per request: the total user count changes with ramps and shapes.
        return measurement.total_users(self.environment) / self.rate_per_s

    def begin(self) -> None:
        if not self.fixed_rate:
            return
        self.next_s = time.perf_counter() + self.phase * self.interval_s()
        gevent.sleep(max(0.0, self.next_s - time.perf_counter()))

    def lateness_s(self) -> float:
        return max(0.0, time.perf_counter() - self.next_s)

    def wait_s(self) -> float:
        if not self.fixed_rate:
            return 0.0
        self.next_s += self.interval_s()
        return max(0.0, self.next_s - time.perf_counter())


class WorkloadUser(FastHttpUser):
    """Base of the scenario users: one workload stream and one pacer per user."""

    abstract = True

    def on_start(self) -> None:
        environment = self.environment
        runner = environment.runner
        self.workload = workload_for(environment)
        self.stream_id = f"{getattr(runner, 'worker_index', 0)}-{next(_user_numbers)}"
        self.rng = stream_rng(self.workload.spec.seed, self.stream_id)
        # A separate stream for everything but the operations, so the (op, item) sequence is
        # exactly what cachebench.load.workload.operations() yields for this stream id.
        self.aux_rng = stream_rng(self.workload.spec.seed, f"aux-{self.stream_id}")
        self.start_unix_s = measurement.run_start_unix_s(environment)
        self.pacer = Pacer(environment, self.aux_rng.random())
        self.writes = 0
        self.setup()
        self.pacer.begin()

    def setup(self) -> None:
        """Per-user preparation for subclasses, before the first request is paced."""

    def wait_time(self) -> float:
        return self.pacer.wait_s()

    def request_context(self, **extra: Any) -> dict[str, Any]:
        """Context for the measurement listeners; call it when the request is about to go."""
        if self.pacer.fixed_rate:
            extra["lateness_s"] = self.pacer.lateness_s()
        return extra

    def next_operation(self) -> tuple[str, int]:
        return self.workload.next_operation(self.rng, time.time() - self.start_unix_s)

    def read_item(self, item_id: int) -> None:
        self.client.get(f"/items/{item_id}", name=ITEM_GET, context=self.request_context(item_id=item_id))

    def write_item(self, item_id: int) -> None:
        self.writes += 1
        self.client.put(
            f"/items/{item_id}",
            data=f'{{"name":"w-{self.stream_id}-{self.writes}"}}',
            headers={"Content-Type": "application/json"},
            name=ITEM_PUT,
            context=self.request_context(item_id=item_id),
        )


class ItemUser(WorkloadUser):
    """Reads and writes items as the workload says; scenarios subclass it under their own name."""

    abstract = True

    @task
    def run_operation(self) -> None:
        op, item_id = self.next_operation()
        if op == READ:
            self.read_item(item_id)
        else:
            self.write_item(item_id)
