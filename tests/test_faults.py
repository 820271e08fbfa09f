"""Faults in Redis: killed, paused (SIGSTOP), or holding garbage; reads and writes keep working.

Every test breaks its own ``private_redis``, never the session's. Settings make faults cheap:
a Redis call gives up after 0.1 s, and after 3 failed calls the breaker skips Redis for 1 s.
"""

from __future__ import annotations

import time

import httpx
import pytest
import redis
from conftest import (
    TargetStarter,
    cache_status,
    fresh_item_id,
    http_client,
    metric,
    poll_until,
)

from cachebench.run.processes.launcher import TargetProcess
from cachebench.run.processes.redis_server import RedisServer
from targets import TARGETS

pytestmark = pytest.mark.timeout(90)

#: Our strategies over Redis: these tests hold LayeredCache's fallback and breaker (the cache
#: libraries fail their own ways; bench/faults.toml measures any target under the same faults).
REDIS_TARGETS = [name for name, row in TARGETS.items() if row.needs_redis and row.library is None]
FAILURES_BEFORE_OPEN = 3
COOLDOWN_S = 1.0
FAULT_SETTINGS = {
    "redis_timeout_s": 0.1,
    "redis_failures_before_cooldown": FAILURES_BEFORE_OPEN,
    "redis_cooldown_s": COOLDOWN_S,
}
#: A request may pay a Redis timeout or two (get, then set); never anything near a second.
SLOW_REQUEST_S = 1.0
#: The bus misses heartbeats for 1 s before it declares a gap; a kill is noticed at once.
GAP_NOTICED_S = 3.0
RECOVERY_S = COOLDOWN_S + 5.0
CIRCUIT_OPEN = "redis; fwd=bypass; detail=circuit-open"
INVALIDATION_GAP = "l1; fwd=bypass; detail=invalidation-gap"


def break_redis(server: RedisServer, fault: str) -> None:
    server.pause() if fault == "pause" else server.kill()


def repair_redis(server: RedisServer, fault: str) -> None:
    server.resume() if fault == "pause" else server.restart()


def timed_get(client: httpx.Client, path: str) -> httpx.Response:
    started = time.monotonic()
    response = client.get(path)
    elapsed_s = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed_s < SLOW_REQUEST_S, f"{path} took {elapsed_s:.2f} s ({cache_status(response)})"
    return response


def redis_errors(target: TargetProcess) -> float:
    return metric(target, "cachebench_cache_operations_total", layer="redis", result="error")


def server_errors(target: TargetProcess) -> float:
    text = httpx.get(f"{target.url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("cachebench_http_requests_total{") and 'status="5' in line
    )


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_redis_down_reads_fall_back_and_breaker_opens(
    start_target: TargetStarter, private_redis: RedisServer, fault: str
) -> None:
    target = start_target("redis", redis_url=private_redis.url, **FAULT_SETTINGS)
    path = f"/items/{fresh_item_id()}"
    with http_client(target) as client:
        good = client.get(path).json()
        assert cache_status(client.get(path)) == "redis; hit"
        errors_before = redis_errors(target)
        break_redis(private_redis, fault)

        # Each failing request fails a get and a set; the breaker opens at the third failure.
        statuses = []
        for _ in range(FAILURES_BEFORE_OPEN):
            response = timed_get(client, path)
            assert response.json() == good  # served from the origin
            statuses.append(cache_status(response))
            if statuses[-1] == CIRCUIT_OPEN:
                break
        assert statuses[0] == "redis; fwd=miss; detail=error"
        assert statuses[-1] == CIRCUIT_OPEN, statuses
        assert redis_errors(target) - errors_before == FAILURES_BEFORE_OPEN

        # Open: Redis is not called at all, so no request pays its timeout.
        for _ in range(5):
            assert cache_status(timed_get(client, path)) == CIRCUIT_OPEN
        assert redis_errors(target) - errors_before == FAILURES_BEFORE_OPEN
        health = client.get("/healthz").json()["redis"]
        assert (health["reachable"], health["circuit_open"]) == (False, True)

        # One cool-down later one request probes: a paused Redis makes it wait its timeout, which
        # is counted as made with the breaker open; a dead one refuses at once, and nothing is.
        time.sleep(COOLDOWN_S)
        timed_get(client, path)
        waited = metric(target, "cachebench_cache_timeouts_total", layer="redis", breaker="open")
        assert waited == (1 if fault == "pause" else 0)

        # Repaired: after the cool-down a probe succeeds and hits resume by themselves.
        repair_redis(private_redis, fault)
        poll_until(
            lambda: cache_status(timed_get(client, path)) == "redis; hit",
            timeout_s=RECOVERY_S,
            interval_s=0.1,
            what="redis hits after the repair",
        )
        assert client.get(path).json() == good
        health = client.get("/healthz").json()["redis"]
        assert (health["reachable"], health["circuit_open"]) == (True, False)
    assert server_errors(target) == 0


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_hierarchical_bypasses_l1_during_invalidation_gap_then_clears_it(
    start_target: TargetStarter, private_redis: RedisServer, fault: str
) -> None:
    target = start_target("hierarchical", redis_url=private_redis.url, **FAULT_SETTINGS)
    path = f"/items/{fresh_item_id()}"
    with http_client(target) as client:
        good = client.get(path).json()
        assert cache_status(client.get(path)) == "l1; hit"
        gaps_before = metric(target, "cachebench_invalidation_messages_total", event="gap")
        break_redis(private_redis, fault)

        # L1 may have missed invalidations: it is bypassed once the bus notices, and Redis
        # is skipped by the breaker; every read is still served, correctly and quickly.
        seen: set[str | None] = set()

        def gap_and_breaker_seen() -> bool:
            response = timed_get(client, path)
            assert response.json() == good
            seen.update(cache_status(response).split(", "))
            return INVALIDATION_GAP in seen and CIRCUIT_OPEN in seen

        poll_until(gap_and_breaker_seen, timeout_s=GAP_NOTICED_S, what="gap and open breaker")
        assert metric(target, "cachebench_invalidation_messages_total", event="gap") == gaps_before + 1
        assert client.get("/healthz").json()["redis"]["invalidation_channel_healthy"] is False

        repair_redis(private_redis, fault)
        # Wait on /healthz, not on item reads: a read in flight while the channel comes back
        # may legitimately fill L1 (with what it read after the clear) and hide the clear.
        poll_until(
            lambda: client.get("/healthz").json()["redis"]["invalidation_channel_healthy"],
            timeout_s=RECOVERY_S,
            what="the invalidation channel back",
        )
        after_gap = timed_get(client, path)
        # The item was in L1 before the gap and nothing refilled L1 since: a miss now proves
        # L1 was cleared when the channel came back.
        assert "l1; fwd=miss; stored" in cache_status(after_gap)
        assert after_gap.json() == good
        poll_until(
            lambda: cache_status(timed_get(client, path)) == "l1; hit",
            timeout_s=RECOVERY_S,
            what="L1 hits again",
        )
    assert server_errors(target) == 0


@pytest.mark.parametrize("strategy", REDIS_TARGETS)
@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_put_while_redis_down_reaches_origin(
    start_target: TargetStarter, private_redis: RedisServer, strategy: str, fault: str
) -> None:
    target = start_target(strategy, redis_url=private_redis.url, **FAULT_SETTINGS)
    ident = fresh_item_id()
    with http_client(target) as client:
        client.get(f"/items/{ident}")
        client.get(f"/items/{ident}")
        break_redis(private_redis, fault)
        started = time.monotonic()
        response = client.put(f"/items/{ident}", json={"name": "while-down"})
        assert time.monotonic() - started < SLOW_REQUEST_S
        assert response.status_code == 200
        assert response.json()["version"] == 2
        # The writer itself never serves the old version: its L1 copy is gone, Redis is skipped.
        for _ in range(FAILURES_BEFORE_OPEN + 2):
            assert timed_get(client, f"/items/{ident}").json()["version"] == 2
        repair_redis(private_redis, fault)
    assert server_errors(target) == 0


def test_put_during_pause_is_not_served_stale_after_recovery(
    start_target: TargetStarter, private_redis: RedisServer
) -> None:
    target = start_target("redis", redis_url=private_redis.url, **FAULT_SETTINGS)
    path = f"/items/{fresh_item_id()}"
    with http_client(target) as client:
        client.get(path)
        private_redis.pause()
        # One read first: its timeouts drop the pooled connection, so the PUT's DEL waits on
        # a new connection's AUTH and is never sent (on the old connection it would sit in the
        # socket buffer and run on resume, which would hide the problem by luck).
        assert client.get(path).status_code == 200
        written = client.put(path, json={"name": "while-paused"}).json()
        private_redis.resume()
        poll_until(
            lambda: cache_status(client.get(path)) in ("redis; hit", "redis; fwd=miss; stored"),
            timeout_s=RECOVERY_S,
            interval_s=0.1,
            what="Redis used again",
        )
        assert client.get(path).json()["version"] == written["version"]


@pytest.mark.parametrize("corrupt", ["delete", "version", "generation"])
def test_undecodable_value_is_served_fresh_and_replaced(
    start_target: TargetStarter, private_redis: RedisServer, corrupt: str
) -> None:
    mode = "delete" if corrupt == "delete" else "version"
    target = start_target("redis", redis_url=private_redis.url, invalidation=mode, **FAULT_SETTINGS)
    ident = fresh_item_id()
    namespace = target.settings["namespace"]
    key = {
        "delete": f"{namespace}:item:{ident}",
        "version": f"{namespace}:item:{ident}:v1",
        "generation": f"{namespace}:gen:item:{ident}",
    }[corrupt]
    path = f"/items/{ident}"
    with http_client(target) as client, redis.Redis.from_url(private_redis.url) as store:
        good = client.get(path)
        assert store.get(key) is not None, f"expected the target to have written {key}"
        store.set(key, b"\x00\xffgarbage{", px=60_000)
        undecodable_before = metric(
            target, "cachebench_cache_operations_total", layer="redis", result="undecodable"
        )

        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == good.json()
        assert cache_status(response) == "redis; fwd=miss; stored"  # served fresh from the origin
        undecodable = metric(target, "cachebench_cache_operations_total", layer="redis", result="undecodable")
        assert undecodable == undecodable_before + 1
        expected = b"1" if corrupt == "generation" else good.content
        assert store.get(key) == expected  # the garbage is replaced
        assert cache_status(client.get(path)) == "redis; hit"
