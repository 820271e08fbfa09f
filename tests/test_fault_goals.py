"""The fault goals computed from constructed records: phases that do not overlap, and a breaker
that keeps making requests wait for Redis timeouts is caught."""

from __future__ import annotations

import pandas as pd
import pytest

from cachebench.results import LAYER, FaultWindow, layer_column
from cachebench.run.faults.fault_goals import phase_spans, timeout_goal

COOLDOWN_S = 2.0


def test_the_phases_cover_the_measured_phase_once_in_order() -> None:
    windows = [
        FaultWindow(fault=0, kind="pause", from_unix_s=105.0, to_unix_s=110.0),
        FaultWindow(fault=1, kind="kill", from_unix_s=115.0, to_unix_s=119.0),
    ]
    spans = phase_spans(windows, 100.0, 130.0)
    assert [(s.fault, s.phase) for s in spans] == [
        (0, "before"), (0, "during"), (0, "after"), (1, "during"), (1, "after"),
    ]  # fmt: skip
    edges = [(s.from_unix_s, s.to_unix_s) for s in spans]
    assert edges == [(100, 105), (105, 110), (110, 115), (115, 119), (119, 130)]


OPEN_WORKERS = layer_column("redis", LAYER.circuit_open_workers)


def samples(open_workers: list[int], open_timeouts: list[float], refused: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            OPEN_WORKERS: open_workers,
            layer_column("redis", LAYER.open_timeouts_per_s): open_timeouts,
            layer_column("redis", LAYER.errors_per_s): [refused] * len(open_workers),
        }
    )


def test_a_breaker_that_keeps_waiting_on_redis_misses_the_goal() -> None:
    # One worker open for 10 s whose every request waits a timeout: a probe per request.
    goal = timeout_goal(samples([0, *[1] * 10, 0], [0, *[3.0] * 10, 0]), COOLDOWN_S)
    assert goal.met is False, goal
    assert goal.value.startswith("30 ")


def test_one_probe_per_cooldown_per_worker_meets_the_goal() -> None:
    # Two workers open 10 s, each probing once per 2 s cool-down (and each probe times out);
    # refused connections in between cost no wait and are not counted.
    waits = [0, *[1.0, 1.0] * 5, 0]
    goal = timeout_goal(samples([0, *[2] * 10, 0], waits, refused=50.0), COOLDOWN_S)
    assert goal.met is True, goal
    assert goal.value.startswith("10 ")


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (samples([0, 0, 0], [0, 0, 0]), "never opened"),
        (pd.DataFrame({OPEN_WORKERS: [0, 1, 0]}), "no count"),
    ],
)
def test_without_an_open_breaker_or_a_count_the_goal_is_not_judged(frame: pd.DataFrame, says: str) -> None:
    goal = timeout_goal(frame, COOLDOWN_S)
    assert goal.met is None and says in goal.value
