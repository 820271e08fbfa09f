"""Unit tests for the small pure parts: L1 accounting, the breaker, settings errors, codec, ETags.

Time is a fake clock that the tests move by hand (as cachetools' own tests do): nothing sleeps
and nothing depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import sys
import tracemalloc

import msgspec
import pytest

from cachebench.serve import codec, http_caching
from cachebench.serve.backends.l1 import L1Backend, MeteredCache
from cachebench.serve.breaker import CircuitBreaker
from cachebench.serve.settings import SettingsError, load_settings


class FakeClock:
    """A timer for the cache and the breaker; ``tick`` moves time forward."""

    def __init__(self, now_s: float = 1000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def tick(self, seconds: float) -> None:
        self.now_s += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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


# -- CircuitBreaker -----------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=3, cooldown_s=2.0, timer=clock)
    for _ in range(2):
        breaker.record_failure()
        assert breaker.allow() and not breaker.is_open
    breaker.record_failure()
    assert breaker.is_open
    assert not breaker.allow()


def test_breaker_success_resets_the_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=3, cooldown_s=2.0, timer=clock)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.allow() and not breaker.is_open


def test_breaker_lets_one_probe_through_after_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=2, cooldown_s=2.0, timer=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.tick(1.99)
    assert not breaker.allow()
    clock.tick(0.01)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else still skips while the probe runs
    breaker.record_success()
    assert breaker.allow() and breaker.allow()
    assert not breaker.is_open


def test_breaker_failed_probe_opens_for_another_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=2, cooldown_s=2.0, timer=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.tick(2)
    assert breaker.allow()
    breaker.record_failure()  # one failed probe is enough to open again
    clock.tick(1.9)
    assert not breaker.allow()
    clock.tick(0.1)
    assert breaker.allow()
    assert breaker.is_open


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "env_var"),
    [
        ({"namespace": "Bad!"}, "CACHEBENCH_NAMESPACE"),
        ({"namespace": ""}, "CACHEBENCH_NAMESPACE"),
        ({"namespace": "a" * 17}, "CACHEBENCH_NAMESPACE"),
        ({"l1_ttl_s": 0}, "CACHEBENCH_L1_TTL_S"),
        ({"l1_max_entries": 0}, "CACHEBENCH_L1_MAX_ENTRIES"),
        ({"l1_max_bytes": 0}, "CACHEBENCH_L1_MAX_BYTES"),
        ({"redis_timeout_s": -1}, "CACHEBENCH_REDIS_TIMEOUT_S"),
        ({"invalidation": "sometimes"}, "CACHEBENCH_INVALIDATION"),
        ({"ttl_jitter": 1}, "CACHEBENCH_TTL_JITTER"),
        ({"coalesce": "maybe"}, "CACHEBENCH_COALESCE"),
        ({"max_body_bytes": 10}, "CACHEBENCH_MAX_BODY_BYTES"),
        ({"backend": "no-colon"}, "CACHEBENCH_BACKEND"),
    ],
)
def test_settings_error_names_the_env_var(overrides: dict[str, object], env_var: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{env_var}=" in message or f"{env_var}:" in message, message


def test_settings_error_names_strategy_env_var() -> None:
    with pytest.raises(SettingsError, match="CACHEBENCH_STRATEGY"):
        load_settings(strategy="bogus")


def test_settings_error_names_redis_url_env_var() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(redis_url=5)
    assert "CACHEBENCH_REDIS_URL" in str(raised.value)
    assert "CACHEBENCH_CACHEBENCH_" not in str(raised.value)


def test_settings_error_from_environment_shows_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEBENCH_ORIGIN_LATENCY_MS", "slow")
    monkeypatch.setenv("CACHEBENCH_INVALIDATION", "never")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "CACHEBENCH_ORIGIN_LATENCY_MS='slow'" in message
    assert "CACHEBENCH_INVALIDATION='never'" in message


def test_settings_redis_url_env_and_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CACHEBENCH_REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    assert load_settings().redis_url == "redis://:secret@127.0.0.1:1/0"
    monkeypatch.setenv("CACHEBENCH_REDIS_URL", "redis://:mine@127.0.0.1:2/0")
    settings = load_settings()
    assert settings.redis_url == "redis://:mine@127.0.0.1:2/0"  # the prefixed name wins
    assert "mine" not in str(settings.public_dump())


# -- codec --------------------------------------------------------------------------------------


ITEM = codec.Item(7, 3, "2026-01-01T00:00:00.000000Z", "item-7", "p" * 1100)
SMALL = codec.Item(8, 1, "2026-01-01T00:00:00.000000Z", "item-8", "")


def test_encode_is_plain_json_of_exact_length() -> None:
    big = codec.encode(ITEM)
    small = codec.encode(SMALL)  # the shared buffer shrank; the earlier result is untouched
    assert type(big) is bytes and type(small) is bytes
    assert big == msgspec.json.encode(ITEM)
    assert small == msgspec.json.encode(SMALL)
    assert codec.decode_item(big) == ITEM


def test_encode_allocates_only_the_encoded_length() -> None:
    codec.encode(ITEM)  # size the shared buffer first; only the result should be allocated below
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        encoded = codec.encode(ITEM)
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert allocated == sys.getsizeof(encoded)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xffgarbage",
        b'{"id": 1',
        b"[]",
        b'{"id": "7", "version": 3, "updated_at": "t", "name": "n", "payload": "p"}',
        b'{"id": 7, "version": 3, "updated_at": "t", "name": "n"}',
        msgspec.json.encode(codec.Profile(1, 1, "user-1", "u@example.test", "free")),
    ],
    ids=["empty", "binary", "truncated", "array", "wrong-type", "missing-field", "a-profile"],
)
def test_decode_item_rejects_what_is_not_an_item(data: bytes) -> None:
    with pytest.raises(codec.DecodeError):
        codec.DECODERS["item"](data)
    with pytest.raises(ValueError):  # documented as a ValueError, which callers may catch
        codec.decode_item(data)


def test_decode_profile_roundtrip_and_rejects_an_item() -> None:
    profile = codec.Profile(2, 1, "user-2", "user-2@example.test", "team")
    assert codec.DECODERS["me"](codec.encode(profile)) == profile
    with pytest.raises(codec.DecodeError):
        codec.decode_profile(codec.encode(ITEM))


# -- http_caching -------------------------------------------------------------------------------

CURRENT = http_caching.etag("item", 1, 1)


def test_etag_and_cache_control_format() -> None:
    assert CURRENT == '"item-1-v1"'
    assert http_caching.etag("me", 4, 12) == '"me-4-v12"'
    assert http_caching.cache_control(30, private=False) == "public, max-age=30"
    assert http_caching.cache_control(0, private=True) == "private, max-age=0"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"item-1-v1"', True),
        (' "item-1-v1" ', True),
        ('"a", "item-1-v1"', True),
        ('"a","b",W/"item-1-v1"', True),
        ('W/"item-1-v1"', True),  # If-None-Match uses the weak comparison
        ("*", True),
        ('"item-1-v2"', False),
        ('"item-1-v10"', False),
        ('"item-11-v1"', False),
        ('"item-1-v1', False),
        ('"*"', False),  # a quoted star is an ordinary tag
        ('W/"item-1-v2", "x"', False),
    ],
)
def test_matches_if_none_match(header: str | None, matches: bool) -> None:
    assert http_caching.matches_if_none_match(header, CURRENT) is matches


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


def test_breaker_is_clean_only_with_no_failure_since_the_last_success(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=3, cooldown_s=2.0, timer=clock)
    assert breaker.clean
    breaker.record_failure()
    assert not breaker.clean and not breaker.is_open  # closed, but a success would change it
    breaker.record_success()
    assert breaker.clean


# -- counters written once per loop tick ---------------------------------------------------------


def test_tick_counter_writes_once_per_tick_and_before_rendering() -> None:
    from prometheus_client import CollectorRegistry, Counter

    from cachebench.serve import metrics

    registry = CollectorRegistry()
    counter = metrics.TickCounter(Counter("tick_test", "test", ["result"], registry=registry).labels("hit"))

    def written() -> float | None:
        return registry.get_sample_value("tick_test_total", {"result": "hit"})

    async def scenario() -> list[float | None]:
        seen = []
        for _ in range(3):
            counter.inc()
        seen.append(written())  # not written yet: same tick
        await asyncio.sleep(0)
        seen.append(written())  # the next tick wrote all three
        counter.inc()
        metrics.render()  # a scrape writes what is pending first
        seen.append(written())
        await asyncio.sleep(0)
        seen.append(written())  # and nothing is written twice
        return seen

    assert asyncio.run(scenario()) == [0, 3, 4, 4]
    counter.inc()  # no running loop: written at once
    assert written() == 5


# -- LayeredCache: the short path for in-process hits --------------------------------------------


class _Channel:
    healthy = True

    async def publish(self, key: str) -> None:
        pass


def test_read_nowait_serves_in_process_hits_only_when_read_would(clock: FakeClock) -> None:
    from cachebench.serve.layered import LayeredCache

    settings = load_settings(strategy="l1")
    l1 = L1Backend(max_entries=10, timer=clock)
    channel = _Channel()
    cache = LayeredCache([(l1, 60.0)], settings, channel=channel)
    layer = cache.layers[0]
    item = codec.Item(7, 1, "2026-01-01T00:00:00Z", "seven", "x")
    loads = []

    async def load() -> codec.Item:
        loads.append(1)
        return item

    async def serve() -> tuple[str | None, bool]:
        """What the app does: the short path first, else the whole read."""
        short = cache.read_nowait("item", 7)
        outcome = short or await cache.read("item", 7, load)
        return outcome.cache_status, short is not None

    async def scenario() -> list[tuple[str | None, bool]]:
        seen = [await serve()]  # a miss: the whole path stores it
        seen.append(await serve())  # a hit, short
        layer.breaker.record_failure()  # not clean: the whole path, whose success cleans it
        seen.append(await serve())
        seen.append(await serve())
        channel.healthy = False  # invalidations may have been missed: L1 must not answer
        seen.append(await serve())
        return seen

    from prometheus_client import REGISTRY

    def hits_written() -> float:
        labels = {"layer": "l1", "result": "hit"}
        return REGISTRY.get_sample_value("cachebench_cache_operations_total", labels) or 0.0

    from cachebench.serve import metrics

    metrics.write_pending_counts()  # nothing counted before this test lands in its figures
    hits_before = hits_written()
    assert asyncio.run(scenario()) == [
        ("l1; fwd=miss; stored", False),
        ("l1; hit", True),
        ("l1; hit", False),
        ("l1; hit", True),
        ("l1; fwd=bypass; detail=invalidation-gap", False),
    ]
    assert len(loads) == 2
    assert hits_written() - hits_before == 3  # every hit counted, short or not
    channel.healthy = True
    outcome = cache.read_nowait("item", 7)
    assert outcome is not None and outcome.body == codec.encode(item)
    assert outcome.server_timing.startswith("l1;dur=")
