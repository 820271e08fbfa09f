"""A write while Redis stalls, made in one process and read in another once Redis answers again.

Two target processes share one Redis, one origin and one namespace (two workers, each of which
a test can address). The writer's Redis delete and its pub/sub message both fail while Redis is
paused. Before the fix the delete waited for the writer's breaker to let a call through (a
cool-down after it opened), so the other process read the replaced value from Redis meanwhile;
and the message was dropped, so the other process's L1 kept the old value until its TTL (the
pause is shorter than the heartbeat deadline, so the other process saw no gap to clear L1 for).
"""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import TargetStarter, fresh_item_id, http_client, unique_namespace

from cachebench.run.faults.fault_goals import STALENESS_BOUND_S
from cachebench.run.processes.redis_server import RedisServer

pytestmark = pytest.mark.timeout(60)

SETTINGS = {
    "redis_timeout_s": 0.1,
    "redis_failures_before_cooldown": 3,
    "redis_cooldown_s": 2.0,  # long, so a delete that waits for the writer's breaker shows
}
WATCH_S = 1.5


def version(client: httpx.Client, ident: int) -> int:
    response = client.get(f"/items/{ident}")
    assert response.status_code == 200, response.text
    return response.json()["version"]


@pytest.mark.parametrize("strategy", ["redis", "hierarchical"])
def test_a_write_during_a_stall_reaches_the_other_process_once_redis_answers(
    start_target: TargetStarter, private_redis: RedisServer, tmp_path, strategy: str
) -> None:
    shared = {"namespace": unique_namespace(), "origin_path": tmp_path / "origin.sqlite3"}
    writer = start_target(strategy, redis_url=private_redis.url, **shared, **SETTINGS)
    reader = start_target(strategy, redis_url=private_redis.url, **shared, **SETTINGS)
    ident, others = fresh_item_id(), [fresh_item_id() for _ in range(3)]
    with http_client(writer) as to_writer, http_client(reader) as to_reader:
        assert version(to_writer, ident) == 1  # now in Redis
        assert version(to_reader, ident) == 1  # and in the reader's L1 (hierarchical)
        private_redis.pause()
        try:
            version(to_reader, others[0])  # the reader sees Redis time out, as under load
            version(to_writer, others[1])  # the writer's breaker opens: a get and a store
            version(to_writer, others[2])  # time out per read, three failures open it
            written = to_writer.put(f"/items/{ident}", json={"name": "during the stall"})
            written_at = time.monotonic()
            assert written.json()["version"] == 2
        finally:
            private_redis.resume()  # after ~0.6 s: shorter than the heartbeat deadline
        resumed = time.monotonic()
        reads: list[tuple[float, int]] = []
        while time.monotonic() < resumed + WATCH_S:
            reads.append((time.monotonic(), version(to_reader, ident)))
            time.sleep(0.02)
    stale = [at for at, seen in reads if seen < 2]
    assert reads[-1][1] == 2
    if strategy == "redis":
        # The reader saw Redis fail, so it waits the breaker's settle time before it reads
        # Redis again; the writer's retried delete lands within it.
        assert stale == [], f"{len(stale)} stale reads, the last {stale[-1] - resumed:.2f} s after the resume"
    else:
        # The reader's L1 keeps the old value until the retried message arrives: within the bound.
        oldest_s = max((at - written_at for at in stale), default=0.0)
        assert oldest_s <= STALENESS_BOUND_S, f"stale {oldest_s:.2f} s after the write"
