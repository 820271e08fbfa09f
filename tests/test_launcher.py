"""Starting a target: it is ready only once its own process listens, not when the port answers."""

from __future__ import annotations

import pytest

from cachebench.run.processes.launcher import PortTaken, TargetProcess

FAST_ORIGIN = {"origin_latency_ms": 1, "origin_jitter_ms": 0}


def test_a_port_another_target_serves_is_not_taken_for_ours():
    # The other target answers /healthz on the port: a readiness check on the answer alone would
    # have called ours started, and measured the other one.
    with TargetProcess("nocache", FAST_ORIGIN) as other:
        with pytest.raises(PortTaken, match="exited"):
            TargetProcess("l1", FAST_ORIGIN, port=other.port).start()
        with TargetProcess("l1", FAST_ORIGIN) as ours:  # a port chosen free: its own
            assert ours.port != other.port
