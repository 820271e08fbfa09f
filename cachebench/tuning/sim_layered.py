"""The simulator's reference engine: the project's ``LayeredCache`` itself, driven by hand.

One ``LayeredCache`` per worker process, its coroutines driven on the virtual clock — a request
that reads the origin is suspended until the read completes (see ``cachebench.tuning.simulator``).
Slow; it checks the fast engine.
"""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

from cachetools import Cache

from cachebench.serve import codec
from cachebench.serve.backends.l1_backend import L1Backend, MeteredCache
from cachebench.serve.layered import LayeredCache
from cachebench.settings import Settings
from cachebench.tuning.sim_model import (
    COMMIT_EVENT,
    FILL_EVENT,
    REDIS_MAX_ENTRIES,
    Latency,
    Origin,
    SimResult,
    SimulationError,
    VirtualClock,
    redis_ttl_s,
)
from cachebench.tuning.trace import Trace
from targets import TARGETS


class _OriginRead:
    """What a request awaits while the origin read is in flight; the driver resumes it later."""

    __slots__ = ()

    def __await__(self):
        row = yield self
        return row


_ORIGIN_READ = _OriginRead()


class _Counted:
    """A backend wrapper counting hits and misses and the high-water mark of its cache."""

    def __init__(self, backend: Any, cache: MeteredCache, engine: LayeredEngine) -> None:
        self.backend = backend
        self.cache = cache
        self.name = backend.name
        self.in_process = backend.in_process
        self.engine = engine
        self.peak = [0, 0]

    async def get(self, key: str) -> bytes | None:
        value = await self.backend.get(key)
        if self.engine.measuring:
            counts = self.engine.result.layer_hits if value is not None else self.engine.result.layer_misses
            counts[self.name] += 1
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.backend.set(key, value, ttl_s)
        entries = Cache.__len__(self.cache)
        self.peak[0] = max(self.peak[0], entries)
        self.peak[1] = max(self.peak[1], self.cache.bytes)

    async def delete(self, key: str) -> None:
        await self.backend.delete(key)

    def stats(self) -> dict[str, int | float]:
        return self.backend.stats()


class _SimRedis:
    """The shared Redis layer: a MeteredCache with Redis' whole-millisecond TTLs."""

    name = "redis"
    in_process = False

    def __init__(self, cache: MeteredCache) -> None:
        self.cache = cache

    async def get(self, key: str) -> bytes | None:
        try:
            return self.cache[key]
        except KeyError:
            return None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.cache.put(key, value, redis_ttl_s(ttl_s))

    async def delete(self, key: str) -> None:
        self.cache.pop(key, None)

    def stats(self) -> dict[str, int | float]:
        return {}


class _SimChannel:
    """Pub/sub for hierarchical: the other workers drop the key from their L1 at once."""

    healthy = True

    def __init__(self, engine: LayeredEngine, process: int) -> None:
        self.engine = engine
        self.process = process

    async def publish(self, key: str) -> None:
        for other, l1 in enumerate(self.engine.l1s):
            if other != self.process:
                await l1.delete(key)


def _run_now(coroutine: Any) -> Any:
    """Drive a coroutine that must not suspend (an invalidation) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise SimulationError("an invalidation waited on something")  # pragma: no cover


class LayeredEngine:
    """LayeredCache itself per worker process, driven by hand on the virtual clock."""

    def __init__(
        self, trace: Trace, target: str, settings: Settings, workers: int, routes: list[list[int]], seed: int
    ) -> None:
        self.trace = trace
        self.target = target
        self.settings = settings
        self.routes = routes
        self.clock = VirtualClock()
        timer = self.clock.timer()
        row = TARGETS[target]
        self.names = names = row.layers
        self.l1s = [L1Backend(settings.l1_max_entries, settings.l1_max_bytes, timer) for _ in range(workers)]
        redis_cache = MeteredCache(REDIS_MAX_ENTRIES, None, timer) if row.needs_redis else None
        self.redis = _Counted(_SimRedis(redis_cache), redis_cache, self) if redis_cache is not None else None
        self.counted_l1s = [_Counted(l1, l1.cache, self) for l1 in self.l1s]
        self.caches: list[LayeredCache] = []
        for process in range(workers):
            layers: list[tuple[Any, float]] = []
            if "l1" in names:
                layers.append((self.counted_l1s[process], settings.l1_ttl_s))
            if self.redis is not None:
                layers.append((self.redis, settings.redis_ttl_s))
            channel = _SimChannel(self, process) if target == "hierarchical" else None
            self.caches.append(LayeredCache(layers, settings, channel=channel))
        self.origin = Origin(settings)
        self.latency = Latency(settings, random.Random(f"cachebench-sim:{seed}"))
        self.jitter_seed = f"cachebench-sim-jitter:{seed}"
        self.workers = workers
        self.events: list[tuple] = []
        self.seq = 0
        self.measuring = False
        self.result = SimResult(target, "layered", workers, trace.load.duration_s)
        self.result.layer_hits = {name: 0 for name in names}
        self.result.layer_misses = {name: 0 for name in names}
        self.result.outcomes = {f"{name}_hit": 0 for name in names} | {"miss": 0}

    def run(self) -> SimResult:
        saved = random.getstate()
        # LayeredCache draws TTL jitter from the random module: seeded as the fast engine's own.
        random.seed(self.jitter_seed)
        try:
            trace = self.trace
            for index in range(len(trace)):
                if index == trace.measured_from:
                    self.measuring = True
                now = trace.times_s[index]
                self._drain(now)
                self.clock.now = now
                process = self.routes[self.measuring][trace.users[index]]
                item = trace.items[index]
                if self.measuring:
                    self.result.requests += 1
                if trace.is_write[index]:
                    self.result.writes += self.measuring
                    self._push(now + self.latency.draw_s(), (COMMIT_EVENT, process, item))
                else:
                    self.result.reads += self.measuring
                    version_at_send = self.origin.versions[item]
                    coroutine = self.caches[process].read("item", item, lambda: _ORIGIN_READ)
                    self._step(coroutine, None, now, item, version_at_send)
            self._drain(math.inf)  # reads still waiting on the origin complete
        finally:
            random.setstate(saved)
        self._finish()
        return self.result

    def _push(self, at_s: float, payload: tuple) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at_s, self.seq, payload))

    def _step(self, coroutine: Any, row: Any, sent_s: float, item: int, version_at_send: int) -> None:
        """Run a read until it finishes or waits on the origin (then resume it when that completes)."""
        try:
            waiting = coroutine.send(row)
        except StopIteration as done:
            self._record(done.value, sent_s, item, version_at_send)
            return
        if waiting is not _ORIGIN_READ:
            raise SimulationError(f"a read waited on {waiting!r}")  # pragma: no cover
        if self.measuring and sent_s >= self.trace.times_s[self.trace.measured_from]:
            self.result.origin_reads += 1
        done_s = self.clock.now + self.latency.draw_s()
        self._push(done_s, (FILL_EVENT, coroutine, sent_s, item, version_at_send))

    def _record(self, outcome: Any, sent_s: float, item: int, version_at_send: int) -> None:
        if not self.measuring or sent_s < self.trace.times_s[self.trace.measured_from]:
            return
        status = outcome.cache_status or ""
        layer = next((m.split(";")[0].strip() for m in reversed(status.split(",")) if "; hit" in m), None)
        name = f"{layer}_hit" if layer else "miss"
        self.result.outcomes[name] += 1
        version = outcome.version if outcome.version is not None else codec.decode_item(outcome.body).version
        if version < version_at_send:
            self.result.stale_reads += 1
            self.result.stale_by_outcome[name] = self.result.stale_by_outcome.get(name, 0) + 1
            self.result.staleness_ages_s.append(sent_s - self.origin.obsoleted_at(item, version))

    def _drain(self, until_s: float) -> None:
        while self.events and self.events[0][0] <= until_s:
            at_s, _, payload = heapq.heappop(self.events)
            self.clock.now = at_s
            if payload[0] == FILL_EVENT:
                _, coroutine, sent_s, item, version_at_send = payload
                self._step(coroutine, self.origin.item(item), sent_s, item, version_at_send)
            else:
                _, process, item = payload
                version = self.origin.commit(item, at_s)
                _run_now(self.caches[process].invalidate("item", item, version))

    def _finish(self) -> None:
        result = self.result
        if "l1" in self.names:
            for counted in self.counted_l1s:
                result.l1_entries_peak += counted.peak[0]
                result.l1_bytes_peak += counted.peak[1]
        if self.redis is not None:
            result.redis_entries_peak, result.redis_bytes_peak = self.redis.peak
