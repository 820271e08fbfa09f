"""cachebench.run.processes.redis_server against a real redis-server (no mocks, loopback only)."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from cachebench.run.processes.redis_server import RedisServer, provide_redis, redis_server_binary

pytestmark = pytest.mark.timeout(30)

NO_RETRY = Retry(NoBackoff(), 0)  # fail on the first error: fault tests want it seen


@pytest.fixture
def server() -> Iterator[RedisServer]:
    srv = RedisServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _redis_children() -> set[int]:
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name().startswith("redis-server"):
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def _config(client: redis.Redis, name: str) -> str:
    return client.config_get(name)[name]


def test_binary_is_an_executable() -> None:
    binary = redis_server_binary()
    assert Path(binary).is_file()
    assert os.access(binary, os.X_OK)


def test_answers_with_password(server: RedisServer) -> None:
    assert server.url == f"redis://:{server.password}@127.0.0.1:{server.port}/0"
    assert server.host == "127.0.0.1"
    assert server.version[0].isdigit()
    with redis.Redis.from_url(server.url) as client:
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
    server.flushall()
    with redis.Redis.from_url(server.url) as client:
        assert client.dbsize() == 0


def test_refuses_without_or_with_wrong_password(server: RedisServer) -> None:
    for password in (None, "wrong"):
        with (
            redis.Redis(host=server.host, port=server.port, password=password, retry=NO_RETRY) as c,
            pytest.raises(redis.AuthenticationError),
        ):
            c.ping()


def test_loopback_only_no_persistence_password_not_in_argv(server: RedisServer) -> None:
    with redis.Redis.from_url(server.url) as client:
        assert _config(client, "bind") == "127.0.0.1"
        assert _config(client, "save") == ""
        assert _config(client, "appendonly") == "no"
        assert _config(client, "protected-mode") == "yes"
    assert server.pid is not None
    assert server.password not in " ".join(psutil.Process(server.pid).cmdline())


def test_stop_ends_process_and_is_idempotent(server: RedisServer) -> None:
    pid = server.pid
    tempdir = server._state.tempdir
    assert pid is not None and tempdir is not None and tempdir.is_dir()
    server.stop()
    assert _gone(pid)
    assert not tempdir.exists()
    assert server.pid is None and not server.running
    server.stop()  # no-op


def test_pause_times_clients_out_and_resume_recovers(server: RedisServer) -> None:
    with redis.Redis.from_url(server.url, socket_timeout=0.2, retry=NO_RETRY) as client:
        assert client.ping()
        server.pause()
        try:
            with pytest.raises(redis.TimeoutError):
                client.ping()
        finally:
            server.resume()
        assert client.ping()


def test_restart_keeps_url(server: RedisServer) -> None:
    url, old_pid = server.url, server.pid
    assert old_pid is not None
    with redis.Redis.from_url(url) as client:
        client.set("k", "v")
        server.restart()
        assert server.url == url
        assert server.pid != old_pid and _gone(old_pid)
        # The pooled connection broke; the client reconnects to the new process by itself.
        assert client.ping()
        assert client.get("k") is None


def test_kill_then_restart(server: RedisServer) -> None:
    pid = server.pid
    assert pid is not None
    server.kill()
    assert _gone(pid) and not server.running
    with redis.Redis.from_url(server.url, retry=NO_RETRY) as client:
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.restart()
        assert client.ping()


def test_restart_reports_a_busy_port_then_recovers(server: RedisServer) -> None:
    server.kill()
    with socket.create_server((server.host, server.port)):  # someone else took the port
        with pytest.raises(RuntimeError, match="still busy"):
            server.restart()
        assert not server.running
    server.restart()
    with redis.Redis.from_url(server.url) as client:
        assert client.ping()


def test_maxmemory_applied() -> None:
    with (
        RedisServer(maxmemory_bytes=8 * 2**20, maxmemory_policy="allkeys-lfu") as srv,
        redis.Redis.from_url(srv.url) as client,
    ):
        assert _config(client, "maxmemory") == str(8 * 2**20)
        assert _config(client, "maxmemory-policy") == "allkeys-lfu"


def test_failed_start_raises_with_log_and_leaves_nothing() -> None:
    before = _redis_children()
    srv = RedisServer(maxmemory_bytes=2**20, maxmemory_policy="no-such-policy")
    with pytest.raises(RuntimeError, match="no-such-policy|maxmemory-policy"):
        srv.start()
    assert _redis_children() == before
    assert srv._state.tempdir is None


def test_provide_redis_starts_and_stops_a_private_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    before = _redis_children()
    with provide_redis(maxmemory_bytes=4 * 2**20) as url:
        started = _redis_children() - before
        assert len(started) == 1
        with redis.Redis.from_url(url) as client:
            assert _config(client, "maxmemory") == str(4 * 2**20)
    assert _gone(started.pop())


def test_provide_redis_honours_redis_url(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", server.url)
    before = _redis_children()
    with provide_redis() as url:
        assert url == server.url
        assert _redis_children() == before


def test_provide_redis_stops_server_when_body_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    before = _redis_children()
    with pytest.raises(ZeroDivisionError), provide_redis():
        started = _redis_children() - before
        1 / 0  # noqa: B018
    assert len(started) == 1
    assert _gone(started.pop())


def test_garbage_collected_server_is_stopped() -> None:
    srv = RedisServer().start()
    pid = srv.pid
    assert pid is not None
    del srv
    gc.collect()
    assert _gone(pid)


def test_server_left_running_is_stopped_at_interpreter_exit() -> None:
    script = (
        "from cachebench.run.processes.redis_server import RedisServer\n"
        "server = RedisServer().start()\n"
        "print(server.pid, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=True
    )
    assert _gone(int(done.stdout))


def test_a_restarted_server_is_a_new_process_pinned_like_the_first() -> None:
    cpus = [min(os.sched_getaffinity(0))]
    with RedisServer(cpus=cpus) as server:
        first = server.pid
        assert first is not None and os.sched_getaffinity(first) == set(cpus)
        server.kill()
        server.restart()
        assert server.pid not in (None, first)
        assert os.sched_getaffinity(server.pid) == set(cpus)
