"""The delaying TCP proxy (the ``slow`` fault): calls through it take at least the delay; it stops cleanly."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from cachebench.run.faults.tcp_delay import DelayProxy
from cachebench.run.processes.redis_server import RedisServer

pytestmark = pytest.mark.timeout(60)

DELAY_MS = 50.0
CALLS = 5


def _client(server: RedisServer, port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, password=server.password, socket_timeout=5)


def _call_s(client: redis.Redis) -> float:
    started = time.perf_counter()
    assert client.ping()
    return time.perf_counter() - started


def test_every_call_through_the_proxy_is_delayed_and_the_delay_can_change(redis_server: RedisServer):
    with DelayProxy(redis_server.port, delay_ms=DELAY_MS) as proxy:
        client = _client(redis_server, proxy.port)
        try:
            client.set("tcp-delay-key", b"v")
            delayed = [_call_s(client) for _ in range(CALLS)]
            assert min(delayed) >= DELAY_MS / 1000, delayed
            assert client.get("tcp-delay-key") == b"v"  # bytes pass through unchanged
            proxy.delay_ms = 0
            undelayed = [_call_s(client) for _ in range(CALLS)]
            assert min(undelayed) < DELAY_MS / 1000 / 2, undelayed
        finally:
            client.close()


def test_pipelined_calls_keep_their_order_and_are_not_delayed_twice(redis_server: RedisServer):
    with DelayProxy(redis_server.port, delay_ms=DELAY_MS) as proxy:
        client = _client(redis_server, proxy.port)
        try:
            pipe = client.pipeline(transaction=False)
            for i in range(20):
                pipe.set(f"tcp-delay-{i}", i)
                pipe.get(f"tcp-delay-{i}")
            started = time.perf_counter()
            answers = pipe.execute()
            elapsed_s = time.perf_counter() - started
        finally:
            client.close()
    assert answers[1::2] == [str(i).encode() for i in range(20)]
    assert DELAY_MS / 1000 <= elapsed_s < 10 * DELAY_MS / 1000


def test_stop_closes_open_connections_and_the_port(redis_server: RedisServer):
    proxy = DelayProxy(redis_server.port).start()
    client = _client(redis_server, proxy.port)
    try:
        assert client.ping()
        assert proxy.connections == 1
        threads_before = threading.active_count()
        proxy.stop()
        assert threading.active_count() == threads_before - 1
        with pytest.raises(redis.ConnectionError):
            client.ping()  # the relayed connection is closed, and nothing listens any more
        proxy.stop()  # a second stop is harmless
    finally:
        client.close()
        proxy.stop()


def test_an_upstream_that_is_gone_looks_like_a_closed_connection():
    server = RedisServer().start()
    try:
        port, password = server.port, server.password
    finally:
        server.stop()
    with DelayProxy(port) as proxy:
        client = redis.Redis(host="127.0.0.1", port=proxy.port, password=password, socket_timeout=2)
        try:
            with pytest.raises(redis.ConnectionError):
                client.ping()
        finally:
            client.close()
