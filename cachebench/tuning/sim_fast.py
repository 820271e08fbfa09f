"""The simulator's fast engine: ``LayeredCache``'s read and write paths inlined in one loop.

It runs over real ``MeteredCache`` instances (see ``cachebench.tuning.simulator``). Every change of
cache state goes through ``MeteredCache``'s own methods; a hit is read straight from its tables,
which is what ``TLRUCache.__getitem__`` does without its three Python-level calls.
``tests/test_simulator.py`` checks that it gives exactly what the layered engine (``LayeredCache``
itself) gives.
"""

from __future__ import annotations

import heapq
import math
import random

from cachetools import Cache

from cachebench.serve.backends.l1_backend import L1Backend, MeteredCache
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


class _Tables:
    """A MeteredCache's own tables, for reading a hit the way ``TLRUCache.__getitem__`` does."""

    __slots__ = ("items", "data")

    def __init__(self, cache: MeteredCache) -> None:
        try:
            self.items = cache._TLRUCache__items  # type: ignore[attr-defined]
            self.data = cache._Cache__data  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - a cachetools release that renamed them
            raise SimulationError(
                "this cachetools version hides TLRUCache's tables; use engine layered"
            ) from None


class FastEngine:
    """LayeredCache's paths inlined over real MeteredCache instances (see the module docstring)."""

    def __init__(
        self, trace: Trace, target: str, settings: Settings, workers: int, routes: list[list[int]], seed: int
    ) -> None:
        self.trace = trace
        self.target = target
        self.settings = settings
        self.routes = routes
        self.workers = workers
        self.mode = settings.invalidation
        self.coalesce = settings.coalesce
        self.jitter = settings.ttl_jitter
        self.clock = VirtualClock()
        timer = self.clock.timer()
        row = TARGETS[target]
        self.names = row.layers
        self.l1s = [L1Backend(settings.l1_max_entries, settings.l1_max_bytes, timer) for _ in range(workers)]
        self.redis = MeteredCache(REDIS_MAX_ENTRIES, None, timer) if row.needs_redis else None
        # Per process: its layers, nearest first, as (name, cache, ttl_s, l1 byte bound or None).
        self.layers: list[list[tuple[str, MeteredCache, float, int | None]]] = []
        for l1 in self.l1s:
            layers = []
            if "l1" in self.names:
                layers.append(("l1", l1.cache, settings.l1_ttl_s, settings.l1_max_bytes))
            if self.redis is not None:
                layers.append(("redis", self.redis, settings.redis_ttl_s, None))
            self.layers.append(layers)
        self.tables = {
            id(c): _Tables(c) for c in [*(l1.cache for l1 in self.l1s), self.redis] if c is not None
        }
        self.origin = Origin(settings)
        rng = random.Random(f"cachebench-sim:{seed}")
        self.latency = Latency(settings, rng)
        self.jitter_rng = random.Random(f"cachebench-sim-jitter:{seed}")
        self.inflight: list[set[str]] = [set() for _ in range(workers)]
        self.events: list[tuple] = []
        self.seq = 0
        ns = settings.namespace
        self.item_keys = [f"{ns}:item:{i}" for i in range(settings.origin_items + 1)]
        self.gen_keys = [f"{ns}:gen:item:{i}" for i in range(settings.origin_items + 1)]
        self.namespace = ns
        self.result = SimResult(target, "fast", workers, trace.load.duration_s)
        self.result.layer_hits = {name: 0 for name in self.names}
        self.result.layer_misses = {name: 0 for name in self.names}
        self.result.outcomes = {f"{name}_hit": 0 for name in self.names} | {"miss": 0}
        self.peaks = {id(c): [0, 0] for c in [*(l1.cache for l1 in self.l1s), self.redis] if c is not None}
        self.measuring = False

    # The general path, one request at a time (any target and mode). ------------------------------

    def run(self) -> SimResult:
        trace = self.trace
        fast_l1 = self.names == ("l1",) and self.mode != "version" and not self.coalesce
        step = self._run_l1 if fast_l1 else self._run_general
        step(0, trace.measured_from, self.routes[0])
        self.measuring = True
        step(trace.measured_from, len(trace), self.routes[1])
        self._drain(math.inf)  # origin reads still in flight fill the caches (peaks)
        self._finish()
        return self.result

    def _run_general(self, lo: int, hi: int, route: list[int]) -> None:
        trace, clock, events = self.trace, self.clock, self.events
        times, writes, items, users = trace.times_s, trace.is_write, trace.items, trace.users
        for index in range(lo, hi):
            now = times[index]
            if events and events[0][0] <= now:
                self._drain(now)
            clock.now = now
            process = route[users[index]]
            if writes[index]:
                self._send_write(process, items[index], now)
            else:
                self._read(process, items[index], now)

    def _send_write(self, process: int, item: int, now: float) -> None:
        if self.measuring:
            self.result.requests += 1
            self.result.writes += 1
        self._push(now + self.latency.draw_s(), COMMIT_EVENT, process, item, None)

    def _push(self, at_s: float, kind: int, process: int, item: int, key: str | None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at_s, self.seq, kind, process, item, key))

    def _read(self, process: int, item: int, now: float) -> None:
        result = self.result
        if self.measuring:
            result.requests += 1
            result.reads += 1
        if self.mode == "version":
            gen_key = self.gen_keys[item]
            generation, _ = self._lookup(process, gen_key)
            if generation is None:
                self._load(process, item, None, gen_key)
                return
            key = f"{self.namespace}:item:{item}:v{int(generation)}"
        else:
            key = self.item_keys[item]
        value, layer = self._lookup(process, key)
        if value is None:
            self._load(process, item, key, key)
            return
        if self.measuring:
            outcome = f"{layer}_hit"
            result.outcomes[outcome] += 1
            if value.version < self.origin.versions[item]:
                self._stale(outcome, now - self.origin.obsoleted_at(item, value.version))

    def _stale(self, outcome: str, age_s: float) -> None:
        result = self.result
        result.stale_reads += 1
        result.stale_by_outcome[outcome] = result.stale_by_outcome.get(outcome, 0) + 1
        result.staleness_ages_s.append(age_s)

    def _get(self, cache: MeteredCache, key: str) -> bytes | None:
        tables = self.tables[id(cache)]
        entry = tables.items.get(key)
        if entry is None:
            return None
        tables.items.move_to_end(key)  # TLRUCache moves even an expired entry
        return tables.data[key] if self.clock.now < entry.expires else None

    def _lookup(self, process: int, key: str) -> tuple[bytes | None, str | None]:
        missed = []
        measuring = self.measuring
        for layer in self.layers[process]:
            name, cache = layer[0], layer[1]
            value = self._get(cache, key)
            if value is None:
                if measuring:
                    self.result.layer_misses[name] += 1
                missed.append(layer)
                continue
            if measuring:
                self.result.layer_hits[name] += 1
            for upper in missed:
                self._store_in(upper, key, value)
            return value, name
        return None, None

    def _load(self, process: int, item: int, key: str | None, flight_key: str) -> None:
        if self.measuring:
            self.result.outcomes["miss"] += 1
        if self.coalesce:
            if flight_key in self.inflight[process]:
                if self.measuring:
                    self.result.collapsed += 1
                return
            self.inflight[process].add(flight_key)
        if self.measuring:
            self.result.origin_reads += 1
        self._push(self.clock.now + self.latency.draw_s(), FILL_EVENT, process, item, key)

    def _drain(self, until_s: float) -> None:
        events, clock = self.events, self.clock
        while events and events[0][0] <= until_s:
            at_s, _, kind, process, item, key = heapq.heappop(events)
            clock.now = at_s
            if kind == FILL_EVENT:
                self._fill(process, item, key)
            else:
                self._commit(process, item, at_s)

    def _fill(self, process: int, item: int, key: str | None) -> None:
        """An origin read completes: what LayeredCache._load stores."""
        if self.coalesce:
            self.inflight[process].discard(key if key is not None else self.gen_keys[item])
        body = self.origin.body(item)
        if self.mode == "version":
            key = f"{self.namespace}:item:{item}:v{body.version}"
            self._store_everywhere(process, self.gen_keys[item], b"%d" % body.version)
        self._store_everywhere(process, key, body)

    def _commit(self, process: int, item: int, at_s: float) -> None:
        """A write commits at the origin, then LayeredCache.invalidate runs in the writer."""
        version = self.origin.commit(item, at_s)
        if self.mode == "ttl":
            return
        if self.mode == "delete":
            key = self.item_keys[item]
            for layer in reversed(self.layers[process]):
                layer[1].pop(key, None)
        else:
            key = self.gen_keys[item]
            self._store_everywhere(process, key, b"%d" % version)
        if self.target == "hierarchical":  # pub/sub: every other worker drops the key from its L1
            for other, l1 in enumerate(self.l1s):
                if other != process:
                    l1.cache.pop(key, None)

    def _ttl_s(self, ttl_s: float) -> float:
        if self.jitter:
            return ttl_s * (1 - self.jitter * self.jitter_rng.random())
        return ttl_s

    def _store_everywhere(self, process: int, key: str, value: bytes) -> None:
        for layer in self.layers[process]:
            self._store_in(layer, key, value)

    def _store_in(self, layer: tuple, key: str, value: bytes) -> None:
        name, cache, ttl_s, max_bytes = layer
        ttl_s = self._ttl_s(ttl_s)
        if name == "redis":
            cache.put(key, value, redis_ttl_s(ttl_s))
        elif max_bytes is not None and len(value) > max_bytes:
            return  # L1Backend.set refuses a value larger than the whole cache
        else:
            cache.put(key, value, ttl_s)
        self._note_size(cache)

    def _note_size(self, cache: MeteredCache) -> None:
        peak = self.peaks[id(cache)]
        entries = Cache.__len__(cache)  # without expiring: what the process still holds
        if entries > peak[0]:
            peak[0] = entries
        if cache.bytes > peak[1]:
            peak[1] = cache.bytes

    # The L1-only path, inlined (l1 target, ttl or delete invalidation, no coalescing). ------------

    def _run_l1(self, lo: int, hi: int, route: list[int]) -> None:
        """``_run_general`` for the l1 target, with the origin's completions handled in the loop
        (one Python call per fill instead of eight); same cache calls in the same order."""
        trace, events, origin, clock = self.trace, self.events, self.origin, self.clock
        versions, keys, body_of = origin.versions, self.item_keys, origin.body
        delete_on_write = self.mode == "delete"
        caches = [l1.cache for l1 in self.l1s]
        items_of = [self.tables[id(c)].items for c in caches]
        data_of = [self.tables[id(c)].data for c in caches]
        peaks = [self.peaks[id(c)] for c in caches]
        ttl_s, max_bytes = self.settings.l1_ttl_s, self.settings.l1_max_bytes
        jitter, jitter_random = self.jitter, self.jitter_rng.random
        constant_s = None if self.latency.jitter_s else max(0.0, self.latency.base_s)
        draw_s = self.latency.draw_s
        push, pop = heapq.heappush, heapq.heappop
        measuring = self.measuring
        hits = misses = writes = stale = 0
        ages = self.result.staleness_ages_s
        seq = self.seq
        delay_s = constant_s
        requests = zip(
            trace.times_s[lo:hi],
            trace.is_write[lo:hi],
            trace.items[lo:hi],
            [route[user] for user in trace.users[lo:hi]],
            strict=True,
        )
        for now, write, item, process in requests:
            while events and events[0][0] <= now:  # origin reads and writes completing before now
                at_s, _, kind, worker, done_item, key = pop(events)
                clock.now = at_s
                cache = caches[worker]
                if kind == FILL_EVENT:
                    body = body_of(done_item)
                    ttl = ttl_s * (1 - jitter * jitter_random()) if jitter else ttl_s
                    if max_bytes is None or len(body) <= max_bytes:
                        cache.put(key, body, ttl)
                        peak = peaks[worker]
                        if len(data_of[worker]) > peak[0]:
                            peak[0] = len(data_of[worker])
                        if cache.bytes > peak[1]:
                            peak[1] = cache.bytes
                else:
                    origin.commit(done_item, at_s)
                    if delete_on_write:
                        cache.pop(keys[done_item], None)
            seq += 1
            if write:
                writes += 1
                done_s = now + (delay_s if delay_s is not None else draw_s())
                push(events, (done_s, seq, COMMIT_EVENT, process, item, None))
                continue
            key = keys[item]
            entries = items_of[process]
            entry = entries.get(key)
            if entry is not None:
                entries.move_to_end(key)  # TLRUCache moves even an expired entry
                if now < entry.expires:
                    hits += 1
                    version = data_of[process][key].version
                    if version < versions[item] and measuring:
                        stale += 1
                        ages.append(now - origin.obsoleted_at(item, version))
                    continue
            misses += 1
            done_s = now + (delay_s if delay_s is not None else draw_s())
            push(events, (done_s, seq, FILL_EVENT, process, item, key))
        self.seq = seq
        if measuring:
            result = self.result
            result.requests += hits + misses + writes
            result.reads += hits + misses
            result.writes += writes
            result.layer_hits["l1"] += hits
            result.layer_misses["l1"] += misses
            result.outcomes["l1_hit"] += hits
            result.outcomes["miss"] += misses
            result.origin_reads += misses
            result.stale_reads += stale
            if stale:
                result.stale_by_outcome["l1_hit"] = result.stale_by_outcome.get("l1_hit", 0) + stale

    def _finish(self) -> None:
        result = self.result
        for l1 in self.l1s if "l1" in self.names else []:
            entries, size = self.peaks[id(l1.cache)]
            result.l1_entries_peak += entries
            result.l1_bytes_peak += size
        if self.redis is not None:
            result.redis_entries_peak, result.redis_bytes_peak = self.peaks[id(self.redis)]
