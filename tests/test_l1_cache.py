"""MeteredCache and L1Backend: bytes, evictions and expiry on a fake clock (nothing sleeps)."""

from __future__ import annotations

import asyncio

import pytest
from conftest import FakeClock

from cachebench.serve.backends.l1_backend import L1Backend, MeteredCache


def held_bytes(cache: MeteredCache) -> int:
    """What the live entries really hold, to check ``cache.bytes`` against."""
    return sum(len(cache[key]) for key in list(cache))


# -- MeteredCache: bytes, evictions, expiry -----------------------------------------------------


def test_bytes_follow_put_overwrite_and_delete(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, timer=clock)
    cache.put("a", b"x" * 10, ttl_s=60)
    cache.put("b", b"y" * 20, ttl_s=60)
    assert cache.bytes == 30
    cache.put("a", b"z" * 4, ttl_s=60)  # overwrite: the old size is given back
    assert cache.bytes == 24
    del cache["b"]
    assert cache.bytes == 4
    assert cache.pop("a") == b"z" * 4
    assert cache.bytes == 0
    assert (cache.evictions, cache.expirations) == (0, 0)


def test_clear_resets_bytes_without_counting_evictions(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, timer=clock)
    for key in "abc":
        cache.put(key, b"v" * 7, ttl_s=60)
    cache.clear()
    assert (len(cache), cache.bytes, cache.evictions, cache.expirations) == (0, 0, 0, 0)


def test_entry_bound_evicts_least_recently_used(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=3, timer=clock)
    for key in "abc":
        cache.put(key, key.encode() * 10, ttl_s=60)
    assert cache["a"]  # "a" is now the most recently used; "b" the least
    cache.put("d", b"d" * 5, ttl_s=60)
    assert set(cache) == {"a", "c", "d"}
    assert cache.evictions == 1
    assert cache.bytes == held_bytes(cache) == 25


@pytest.mark.parametrize("max_entries", [2, 100])
def test_byte_bound_evicts_and_bytes_match_contents(clock: FakeClock, max_entries: int) -> None:
    cache = MeteredCache(max_entries=max_entries, max_bytes=100, timer=clock)
    for index in range(10):
        cache.put(f"k{index}", b"v" * 30, ttl_s=60)
        assert cache.bytes == held_bytes(cache) <= 100
        assert len(cache) <= max_entries
    assert len(cache) == min(max_entries, 3)
    assert cache.evictions == 10 - len(cache)


def test_overwrite_with_smaller_value_under_byte_bound(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, max_bytes=100, timer=clock)
    cache.put("a", b"x" * 60, ttl_s=60)
    cache.put("b", b"y" * 30, ttl_s=60)
    cache.put("a", b"z" * 10, ttl_s=60)
    assert cache.bytes == held_bytes(cache) == 40
    assert cache.evictions == 0


def test_overwrite_that_evicts_the_key_itself_keeps_bytes_right(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, max_bytes=100, timer=clock)
    cache.put("a", b"x" * 40, ttl_s=60)
    cache.put("b", b"y" * 40, ttl_s=60)
    # "a" is least recently used: making room for its bigger value evicts "a" itself, then "b".
    cache.put("a", b"z" * 70, ttl_s=60)
    assert set(cache) == {"a"}
    assert cache.bytes == held_bytes(cache) == 70  # is 30: "a"'s old 40 bytes subtracted twice


def test_entries_expire_by_their_own_ttl(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, timer=clock)
    cache.put("short", b"s" * 10, ttl_s=5)
    cache.put("long", b"l" * 20, ttl_s=50)
    clock.tick(4.9)
    assert cache.get("short") == b"s" * 10
    clock.tick(0.2)
    assert cache.get("short") is None
    assert cache.get("long") == b"l" * 20
    assert cache.expire() == [("short", b"s" * 10)]
    assert (cache.expirations, cache.bytes, cache.evictions) == (1, 20, 0)
    clock.tick(50)
    assert len(cache) == 0  # len() expires too
    assert (cache.expirations, cache.bytes) == (2, 0)


def test_expired_entries_are_accounted_on_the_next_put(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, timer=clock)
    cache.put("a", b"a" * 10, ttl_s=1)
    cache.put("b", b"b" * 10, ttl_s=1)
    clock.tick(2)
    cache.put("a", b"A" * 3, ttl_s=1)  # re-putting an expired key is not an overwrite
    assert cache.expirations == 2
    assert cache.bytes == held_bytes(cache) == 3


def test_expired_entry_is_not_evicted_but_expired(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=2, timer=clock)
    cache.put("old", b"o" * 10, ttl_s=1)
    cache.put("keep", b"k" * 10, ttl_s=60)
    clock.tick(2)
    cache.put("new", b"n" * 10, ttl_s=60)  # room was made by expiry, not by eviction
    assert (cache.expirations, cache.evictions) == (1, 0)
    assert set(cache) == {"keep", "new"}
    assert cache.bytes == 20


def test_put_with_no_time_to_live_adds_no_bytes(clock: FakeClock) -> None:
    cache = MeteredCache(max_entries=10, timer=clock)
    cache.put("a", b"a" * 10, ttl_s=60)
    cache.put("a", b"b" * 25, ttl_s=0)
    assert "a" not in cache
    assert cache.bytes == 0  # is 25: 10 + (25 - 10), though nothing is held


def test_l1_backend_stats_and_oversized_value(clock: FakeClock) -> None:
    l1 = L1Backend(max_entries=10, max_bytes=50, timer=clock)

    async def scenario() -> None:
        await l1.set("big", b"x" * 51, ttl_s=60)  # larger than the whole cache: not stored
        assert await l1.get("big") is None
        await l1.set("a", b"a" * 30, ttl_s=60)
        await l1.set("b", b"b" * 30, ttl_s=60)  # evicts "a"
        assert await l1.get("a") is None
        assert await l1.get("b") == b"b" * 30
        await l1.delete("b")
        await l1.delete("never-set")
        await l1.set("c", b"c" * 5, ttl_s=1)

    asyncio.run(scenario())
    assert l1.stats() == {"entries": 1, "bytes": 5, "evictions": 1, "expirations": 0}
    clock.tick(2)
    assert l1.stats() == {"entries": 0, "bytes": 0, "evictions": 1, "expirations": 1}
    l1.clear()
    assert l1.stats()["bytes"] == 0


def test_l1_evictions_and_expiries_reach_the_metrics(clock: FakeClock) -> None:
    from prometheus_client import REGISTRY

    def counted(result: str) -> float:
        labels = {"layer": "l1", "result": result}
        return REGISTRY.get_sample_value("cachebench_cache_operations_total", labels) or 0.0

    before = counted("eviction"), counted("expired")
    l1 = L1Backend(max_entries=2, timer=clock)

    async def scenario() -> None:
        await l1.set("a", b"a", ttl_s=1)
        await l1.set("b", b"b", ttl_s=60)
        await l1.set("c", b"c", ttl_s=60)  # evicts "a", the least recently used
        clock.tick(120)
        await l1.set("d", b"d", ttl_s=60)  # "b" and "c" expired

    asyncio.run(scenario())
    assert counted("eviction") - before[0] == 1
    assert counted("expired") - before[1] == 2
