"""The simulator's trace: the requests a live fixed-rate run sends, in send order, warm-up first.

The same users (stream ids ``<locust process>-<user number>``), each drawing from
``stream_rng(seed, stream_id)`` exactly as ``scenarios._common.ItemUser`` does, at the intended
send times of its pacer (a phase from the user's ``aux-`` stream, then one request every
``users / rate`` seconds). The runner's warm-up is a separate Locust run with the seed
``seed + WARMUP_SEED_OFFSET``; ``gap_s`` after it, the measured phase starts the streams of ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from cachebench.load.workload import WARMUP_SEED_OFFSET, WRITE, Workload, WorkloadSpec, stream_rng
from cachebench.tuning.sim_model import SimulationError

#: Seconds between the end of the warm-up run and the start of the measured one (Locust exits,
#: /metrics is read, a new Locust starts); measured 0.7-1.1 s (median 0.88 s) on the 2-core dev machine.
DEFAULT_GAP_S = 0.9


@dataclass(frozen=True)
class LoadModel:
    """How the live run sends: users, total rate, phase lengths (as a cell's settings say)."""

    users: int = 32
    rate_per_s: float = 200.0
    duration_s: float = 20.0
    warmup_s: float = 0.0
    gap_s: float = DEFAULT_GAP_S
    locust_processes: int = 1
    #: The warm-up's streams are those of ``seed + warmup_seed_offset`` (as the runner draws them).
    warmup_seed_offset: int = WARMUP_SEED_OFFSET

    def __post_init__(self) -> None:
        if self.users < 1 or self.locust_processes < 1:
            raise SimulationError("users and locust_processes must be >= 1")
        if not self.rate_per_s > 0:
            raise SimulationError(f"the simulator needs a request rate > 0, not {self.rate_per_s}")
        if not self.duration_s > 0 or self.warmup_s < 0 or self.gap_s < 0:
            raise SimulationError("duration_s must be > 0, warmup_s and gap_s >= 0")


@dataclass(frozen=True)
class Trace:
    """Requests in send order: time, write or read, item id, user index. Warm-up first."""

    spec: WorkloadSpec
    load: LoadModel
    times_s: list[float]
    is_write: list[bool]
    items: list[int]
    users: list[int]
    #: Index of the first request of the measured phase.
    measured_from: int

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def measured_requests(self) -> int:
        return len(self.times_s) - self.measured_from


def stream_id(user: int, locust_processes: int = 1) -> str:
    """The stream id a scenario user gets: ``<worker index>-<user number in its process>``
    (Locust hands users to its processes in turn)."""
    return f"{user % locust_processes}-{user // locust_processes}"


def _phase(spec: WorkloadSpec, load: LoadModel, start_s: float, length_s: float, out: Trace) -> None:
    interval_s = load.users / load.rate_per_s
    workload = Workload(spec)
    per_user: list[list[tuple[bool, int]]] = []
    firsts: list[float] = []
    for user in range(load.users):
        sid = stream_id(user, load.locust_processes)
        first_s = stream_rng(spec.seed, f"aux-{sid}").random() * interval_s  # the pacer's phase
        count = max(0, math.ceil((length_s - first_s) / interval_s))
        rng = stream_rng(spec.seed, sid)
        draws = []
        for k in range(count):
            op, item = workload.next_operation(rng, first_s + k * interval_s)
            draws.append((op == WRITE, item))
        per_user.append(draws)
        firsts.append(first_s)
    # Every user has the same interval and a phase below it, so ordering users by phase orders
    # each round, and rounds follow each other: a merge without sorting.
    order = sorted(range(load.users), key=firsts.__getitem__)
    rounds = max((len(d) for d in per_user), default=0)
    for k in range(rounds):
        base_s = start_s + k * interval_s
        for user in order:
            draws = per_user[user]
            if k < len(draws):
                write, item = draws[k]
                out.times_s.append(base_s + firsts[user])
                out.is_write.append(write)
                out.items.append(item)
                out.users.append(user)


def build_trace(spec: WorkloadSpec, load: LoadModel) -> Trace:
    """The warm-up (if any) and measured phases of a fixed-rate run, in send order."""
    trace = Trace(spec, load, [], [], [], [], 0)
    measured_start_s = 0.0
    if load.warmup_s > 0:
        _phase(replace(spec, seed=spec.seed + load.warmup_seed_offset), load, 0.0, load.warmup_s, trace)
        measured_start_s = load.warmup_s + load.gap_s
    measured_from = len(trace.times_s)
    _phase(spec, load, measured_start_s, load.duration_s, trace)
    object.__setattr__(trace, "measured_from", measured_from)
    return trace
