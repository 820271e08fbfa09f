"""The keep-warm load between measured phases: the scenario's reads at its rate, stopped on demand,
for caching targets on item workloads only, and to this machine only."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from conftest import ORIGIN_ITEMS, metric

from cachebench.load.workload import WorkloadSpec
from cachebench.run.keep_warm import KeepWarm, keeper_for
from cachebench.run.matrix import expand, load_matrix


@pytest.mark.serial  # judges a rate (it read 105 and 119 of at least 120 beside other tests)
def test_it_reads_the_scenarios_keys_at_its_rate_until_stopped(start_target):
    target = start_target("l1")
    spec = WorkloadSpec(keys=ORIGIN_ITEMS, write_ratio=0.05)
    before = metric(target, "cachebench_cache_operations_total", layer="l1")
    keeper = KeepWarm(target.url, spec, rate_per_s=200).start()
    time.sleep(1.0)
    started = time.monotonic()
    keeper.stop()
    assert time.monotonic() - started < 1.0  # stops at once, not at the end of its bound
    sent = keeper.answered
    # About 95% of 200 slots a second are reads (writes keep their slots but are not sent).
    assert 120 <= sent <= 215, sent
    time.sleep(0.2)
    assert keeper.answered == sent  # nothing after stop
    lookups = metric(target, "cachebench_cache_operations_total", layer="l1", result="hit") + metric(
        target, "cachebench_cache_operations_total", layer="l1", result="miss"
    )
    assert lookups - before >= sent * 0.99  # each read looked in L1 (before counts every result)


@pytest.mark.serial  # judges a rate
def test_it_keeps_its_rate_when_every_read_waits_for_a_slow_origin(start_target):
    # Each read waits 50 ms for the origin: a client waiting for each answer would read 20 a second.
    target = start_target("nocache", origin_latency_ms=50, origin_jitter_ms=0)
    keeper = KeepWarm(target.url, WorkloadSpec(keys=ORIGIN_ITEMS), rate_per_s=100).start()
    time.sleep(1.5)
    keeper.stop()
    assert keeper.answered >= 100, keeper.answered  # ~95% of 150 slots are reads; sequential would be ~30


def test_it_hands_over_when_another_client_reads_and_waits_no_longer_than_its_bound(start_target):
    # A slow origin keeps several of its own reads in flight: they must not pass for another's.
    target = start_target("nocache", origin_latency_ms=40, origin_jitter_ms=20)
    spec = WorkloadSpec(keys=ORIGIN_ITEMS)
    keeper = KeepWarm(target.url, spec, rate_per_s=150).start()
    assert 1.0 <= keeper.stop_once_overtaken(max_wait_s=1.0) < 2.0  # nobody else came: its bound
    assert keeper.answered > 0

    keeper = KeepWarm(target.url, spec, rate_per_s=100).start()
    other = threading.Thread(target=_read_after, args=(target.url, 0.5), daemon=True)
    other.start()
    waited = keeper.stop_once_overtaken(max_wait_s=5.0)
    other.join()
    assert 0.5 <= waited < 2.0, waited  # the other client's reads ended it, not the bound
    sent = keeper.answered
    time.sleep(0.1)
    assert keeper.answered == sent  # stopped


def _read_after(url: str, delay_s: float) -> None:
    time.sleep(delay_s)
    with httpx.Client(base_url=url) as client:
        for item_id in range(1, 21):
            client.get(f"/items/{item_id}")
            time.sleep(0.01)


def test_only_caching_targets_at_a_fixed_rate_on_item_workloads_get_one():
    def first_cell(**overrides):
        modes = [{"kind": "fixed_rate", "offered_rate_per_s": 100}]
        return expand(load_matrix(None, {"modes": modes, **overrides}))[0]

    url = "http://127.0.0.1:9"
    assert keeper_for(first_cell(targets=["l1"]), url) is not None
    assert keeper_for(first_cell(targets=["nocache"]), url) is None
    assert keeper_for(first_cell(targets=["l1"], scenarios=["per_user"]), url) is None
    closed = expand(load_matrix(None, {"targets": ["l1"]}))[0]
    assert keeper_for(closed, url) is None
    assert keeper_for(first_cell(targets=["l1"], steady_state=False), url) is None


def test_it_refuses_an_address_off_this_machine():
    with pytest.raises(ValueError, match="this machine only"):
        KeepWarm("http://10.0.0.1:8000", WorkloadSpec(), 10)
