"""The ``faults`` schedule of a bench file: bad entries fail with one line naming the bad value."""

from __future__ import annotations

import pytest

from cachebench.run.faults.fault_schedule import fault_actions
from cachebench.run.matrix import BenchFileError, expand, load_matrix

BASE = {"targets": ["redis"], "duration_s": 20}


def _matrix(*faults: dict):
    return load_matrix(None, {**BASE, "faults": list(faults)})


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ({"kind": "melt", "at_s": 1, "duration_s": 2}, "faults.0.kind"),
        ({"kind": "pause", "at_s": -1, "duration_s": 2}, "faults.0.at_s"),
        ({"kind": "pause", "at_s": 1, "duration_s": 0}, "faults.0.duration_s"),
        ({"kind": "pause", "at_s": 1, "duration_s": 2, "speed": 3}, "faults.0.speed"),
        ({"kind": "slow", "at_s": 1, "duration_s": 2}, "needs delay_ms"),
        ({"kind": "slow", "at_s": 1, "duration_s": 2, "delay_ms": -5}, "faults.0.delay_ms"),
        ({"kind": "pause", "at_s": 1, "duration_s": 2, "delay_ms": 5}, "delay_ms=5 applies to slow"),
        ({"kind": "flap", "at_s": 1, "duration_s": 4}, "needs period_s"),
        ({"kind": "flap", "at_s": 1, "duration_s": 4, "period_s": 4}, "period_s=4 must be shorter"),
        ({"kind": "kill", "at_s": 15, "duration_s": 6}, "at_s=15 + duration_s=6 ends after the 20 s"),
    ],
)
def test_a_bad_fault_names_its_value_in_one_line(fault: dict, named: str) -> None:
    with pytest.raises(BenchFileError) as error:
        _matrix(fault)
    message = str(error.value)
    assert named in message and "\n" not in message, message


def test_overlapping_faults_are_refused() -> None:
    with pytest.raises(BenchFileError, match=r"faults.1: at_s=3 starts before the pause fault"):
        _matrix({"kind": "pause", "at_s": 1, "duration_s": 5}, {"kind": "kill", "at_s": 3, "duration_s": 1})


def test_a_shorter_duration_flag_than_the_schedule_is_refused_too() -> None:
    with pytest.raises(BenchFileError, match="ends after the 5 s measured phase"):
        load_matrix(
            None, {**BASE, "duration_s": 5, "faults": [{"kind": "pause", "at_s": 3, "duration_s": 3}]}
        )


def test_a_valid_schedule_reaches_every_cell_and_becomes_timed_steps() -> None:
    matrix = _matrix(
        {"kind": "flap", "at_s": 2, "duration_s": 3, "period_s": 1},
        {"kind": "slow", "at_s": 8, "duration_s": 2, "delay_ms": 30},
        {"kind": "restart", "at_s": 12, "duration_s": 1},
    )
    (cell,) = expand(matrix)
    assert [f.kind for f in cell.faults] == ["flap", "slow", "restart"]
    timed = [(s.at_s, s.action, s.delay_ms) for s in fault_actions(list(cell.faults))]
    assert timed == [
        (2, "pause", 0), (3, "resume", 0), (4, "pause", 0), (5, "resume", 0),
        (8, "delay", 30), (10, "delay", 0), (12, "stop", 0), (13, "restart", 0),
    ]  # fmt: skip
