"""One contract for every cache backend, written once (as cachetools tests every cache with one mixin).

``BackendContract`` is what any backend must do: get, set and delete over bytes, a TTL per key,
stats by name. Each ``Test<Backend>`` says how to build its backend and how time passes for it
(a fake clock where the backend takes one, real seconds for Redis), and adds only what is special
to it: L1's byte bound and clear, Redis that is gone or stalled, the README's example.
Last, the ``custom`` target runs as the README tells a user to run it, with the README's backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from conftest import FakeClock, http_client

from cachebench.run.processes.redis_server import RedisServer
from cachebench.run.verify.http_headers import cache_status_members
from cachebench.serve.backends import BackendUnavailable, CacheBackend
from cachebench.serve.backends.l1_backend import L1Backend
from cachebench.serve.backends.redis_backend import RedisBackend, connect
from cachebench.settings import load_settings

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLE_FILE = EXAMPLES_DIR / "mybackend.py"
README = Path(__file__).resolve().parents[1] / "README.md"
#: The README's custom-backend block: the ``python`` fence that opens with the file's name.
README_EXAMPLE = re.compile(r"```python\n(# mybackend\.py\n.*?)```", re.S)
#: Labels Cache-Status members (RFC 9211: a token), so no separators or spaces.
BACKEND_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
VALUE = bytes(range(256)) * 4  # every byte value: backends store bytes, not text
L1_MAX_BYTES = 4096
REDIS_TIMEOUT_S = 0.25
#: A call on an unavailable Redis must give up after about its timeout; this long means it hung.
HANG_S = 5.0

Body = Callable[[CacheBackend], Awaitable[None]]


def fresh_key(label: str) -> str:
    """A key no other test uses (the Redis tests share one server)."""
    return f"contract-{secrets.token_hex(6)}:{label}"


def load_example() -> type:
    """``DictBackend`` from tests/examples/mybackend.py, imported by path as a user's module would be."""
    spec = importlib.util.spec_from_file_location("mybackend", EXAMPLE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DictBackend


class BackendContract:
    """What every backend must do; a subclass builds the backend and moves its time."""

    #: The TTL the contract sets: anything with a fake clock, real seconds for Redis.
    ttl_s = 60.0
    honours_ttl = True

    def backend(self) -> contextlib.AbstractAsyncContextManager[CacheBackend]:
        raise NotImplementedError

    async def let_time_pass(self, seconds: float) -> None:
        raise NotImplementedError

    def run(self, body: Body) -> None:
        # One event loop per test: a Redis client belongs to the loop it was made in.
        async def main() -> None:
            async with self.backend() as backend:
                await body(backend)

        asyncio.run(main())

    def test_it_implements_the_protocol(self) -> None:
        async def body(backend: CacheBackend) -> None:
            assert isinstance(backend, CacheBackend)
            assert BACKEND_NAME.match(backend.name), backend.name
            assert isinstance(backend.in_process, bool)

        self.run(body)

    def test_a_key_never_set_is_none(self) -> None:
        async def body(backend: CacheBackend) -> None:
            assert await backend.get(fresh_key("never")) is None

        self.run(body)

    def test_get_returns_the_bytes_set_and_a_set_replaces_them(self) -> None:
        async def body(backend: CacheBackend) -> None:
            key = fresh_key("value")
            await backend.set(key, VALUE, self.ttl_s)
            assert await backend.get(key) == VALUE
            await backend.set(key, b"second", self.ttl_s)
            assert await backend.get(key) == b"second"

        self.run(body)

    def test_delete_removes_that_key_only_and_a_missing_key_is_no_error(self) -> None:
        async def body(backend: CacheBackend) -> None:
            gone, kept = fresh_key("gone"), fresh_key("kept")
            await backend.set(gone, b"a", self.ttl_s)
            await backend.set(kept, b"b", self.ttl_s)
            await backend.delete(gone)
            await backend.delete(gone)
            assert await backend.get(gone) is None
            assert await backend.get(kept) == b"b"

        self.run(body)

    def test_each_key_expires_after_its_own_ttl(self) -> None:
        if not self.honours_ttl:
            pytest.skip("this backend ignores ttl_s, and says so")

        async def body(backend: CacheBackend) -> None:
            short, long = fresh_key("short"), fresh_key("long")
            await backend.set(short, b"short", self.ttl_s)
            await backend.set(long, b"long", 3 * self.ttl_s)
            await self.let_time_pass(0.5 * self.ttl_s)
            assert await backend.get(short) == b"short"
            await self.let_time_pass(0.75 * self.ttl_s)
            assert await backend.get(short) is None
            assert await backend.get(long) == b"long"

        self.run(body)

    def test_stats_are_numbers_by_name(self) -> None:
        async def body(backend: CacheBackend) -> None:
            await backend.set(fresh_key("counted"), b"x", self.ttl_s)
            stats = backend.stats()
            assert stats and all(isinstance(name, str) for name in stats)
            assert all(type(value) in (int, float) for value in stats.values()), stats

        self.run(body)

    def test_get_nowait_answers_as_get_does(self) -> None:
        async def body(backend: CacheBackend) -> None:
            get_nowait = getattr(backend, "get_nowait", None)
            if get_nowait is None:
                pytest.skip("no get_nowait: the layered cache awaits get()")
            key = fresh_key("nowait")
            assert get_nowait(key) is None
            await backend.set(key, VALUE, self.ttl_s)
            assert get_nowait(key) == await backend.get(key) == VALUE

        self.run(body)


# -- L1 ---------------------------------------------------------------------------------------


class TestL1Backend(BackendContract):
    @contextlib.asynccontextmanager
    async def backend(self) -> AsyncIterator[L1Backend]:
        self.clock = FakeClock()
        yield L1Backend(max_entries=100, max_bytes=L1_MAX_BYTES, timer=self.clock)

    async def let_time_pass(self, seconds: float) -> None:
        self.clock.tick(seconds)

    def test_a_value_larger_than_the_byte_bound_is_not_stored(self) -> None:
        async def body(backend: L1Backend) -> None:
            key = fresh_key("large")
            await backend.set(key, b"x" * (L1_MAX_BYTES + 1), self.ttl_s)
            assert await backend.get(key) is None
            assert backend.stats()["bytes"] == 0

        self.run(body)

    def test_clear_empties_it_and_its_stats(self) -> None:
        async def body(backend: L1Backend) -> None:
            keys = [fresh_key("a"), fresh_key("b")]
            for key in keys:
                await backend.set(key, b"1234", self.ttl_s)
            assert backend.stats()["entries"] == 2 and backend.stats()["bytes"] == 8
            backend.clear()
            assert [await backend.get(key) for key in keys] == [None, None]
            assert backend.stats()["entries"] == 0 and backend.stats()["bytes"] == 0

        self.run(body)


# -- Redis ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_backend(url: str) -> AsyncIterator[RedisBackend]:
    settings = load_settings(strategy="redis", redis_url=url, redis_timeout_s=REDIS_TIMEOUT_S)
    client = connect(settings)
    try:
        yield RedisBackend(client)
    finally:
        await client.aclose()


async def within_bound(call: Awaitable[object]) -> float:
    """Seconds ``call`` took to raise BackendUnavailable; a hang fails the test instead of stalling it."""
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await asyncio.wait_for(call, HANG_S)
    return time.monotonic() - started


class TestRedisBackend(BackendContract):
    # Real seconds: Redis keeps time itself. Long enough that a slow machine still reads the key
    # back before it expires, short enough to keep the test quick.
    ttl_s = 1.0

    @pytest.fixture(autouse=True)
    def _server(self, redis_server: RedisServer) -> None:
        self.redis_url = redis_server.url

    def backend(self) -> contextlib.AbstractAsyncContextManager[RedisBackend]:
        return redis_backend(self.redis_url)

    async def let_time_pass(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def test_a_server_that_is_gone_makes_it_unavailable(self, private_redis: RedisServer) -> None:
        async def main() -> None:
            async with redis_backend(private_redis.url) as backend:
                key = fresh_key("gone")
                await backend.set(key, b"v", self.ttl_s)
                assert await backend.get(key) == b"v"  # leaves a kept connection, now to a dead server
                private_redis.kill()
                # The kept connection, then a new one that is refused, then the pool's.
                calls = (backend.get, backend.get, lambda k: backend.set(k, b"v", 1), backend.delete)
                for call in calls:
                    assert await within_bound(call(key)) < 2 * REDIS_TIMEOUT_S + 1

        asyncio.run(main())

    def test_a_stalled_server_makes_it_unavailable_after_its_timeout(
        self, private_redis: RedisServer
    ) -> None:
        async def main() -> None:
            async with redis_backend(private_redis.url) as backend:
                key = fresh_key("stalled")
                await backend.set(key, b"v", self.ttl_s)
                private_redis.pause()  # the kernel still accepts connections; nothing answers
                try:
                    for call in (backend.get, lambda k: backend.set(k, b"v", 1), backend.delete):
                        assert await within_bound(call(key)) < 2 * REDIS_TIMEOUT_S + 1
                finally:
                    private_redis.resume()

        asyncio.run(main())


# -- the README's example ---------------------------------------------------------------------


class TestReadmeDictBackend(BackendContract):
    # "a real one honours ttl_s": the example keeps its values until they are deleted.
    honours_ttl = False

    @contextlib.asynccontextmanager
    async def backend(self) -> AsyncIterator[CacheBackend]:
        yield load_example()(load_settings(strategy="custom", backend="mybackend:DictBackend"))

    def test_the_example_file_is_the_readme_text(self) -> None:
        blocks = README_EXAMPLE.findall(README.read_text())
        assert len(blocks) == 1, "README.md should show mybackend.py exactly once"
        assert EXAMPLE_FILE.read_text() == blocks[0]

    def test_stats_count_its_entries(self) -> None:
        async def body(backend: CacheBackend) -> None:
            keys = [fresh_key("a"), fresh_key("b")]
            for key in keys:
                await backend.set(key, b"v", self.ttl_s)
            await backend.delete(keys[0])
            assert backend.stats() == {"entries": 1}

        self.run(body)


# -- the custom target, as a user runs it -----------------------------------------------------


def layer_said(response) -> tuple[str, dict[str, str | bool]]:
    """The client-nearest Cache-Status member: (layer name, its parameters)."""
    members = cache_status_members(response.headers.get("cache-status"))
    assert members, f"no Cache-Status on {response.request.method} {response.request.url.path}"
    return members[-1]


def test_the_custom_target_serves_reads_from_the_readme_backend(
    start_target, item_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the README's `CACHEBENCH_BACKEND=mybackend:DictBackend uvicorn targets.custom:app` needs:
    # the uvicorn child imports mybackend from its path, wherever the test runs from.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(EXAMPLES_DIR), os.environ.get("PYTHONPATH")]))
    )
    target = start_target("custom", backend="mybackend:DictBackend")
    path = f"/items/{item_id}"
    with http_client(target) as client:
        first, second = client.get(path), client.get(path)
        assert first.status_code == second.status_code == 200
        assert layer_said(first) == ("dict", {"fwd": "miss", "stored": True})
        assert layer_said(second) == ("dict", {"hit": True})
        assert second.content == first.content
        assert "dict" in client.get("/healthz").json()["layers"]

        written = client.put(path, json={"name": "renamed"})
        assert written.status_code == 200
        after = client.get(path)
        # The PUT deleted the cached copy: the next read goes to the origin and sees the write.
        assert layer_said(after)[1].get("fwd") == "miss"
        assert after.json()["version"] == written.json()["version"] == first.json()["version"] + 1
        assert after.json()["name"] == "renamed"
        assert layer_said(client.get(path)) == ("dict", {"hit": True})
