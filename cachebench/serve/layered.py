"""Read-through over an ordered list of cache layers (nearest the client first), then the origin.

Every target is this class with a different list of layers: none (nocache), [l1], [redis],
[l1, redis] (hierarchical). It also applies the invalidation mode on writes (and, in the
background, what a failing layer or channel missed), coalesces concurrent misses, skips a
failing layer for a cool-down (and its reads for a moment after it answers again), and says
what happened in RFC 9211 ``Cache-Status`` and ``Server-Timing`` terms.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cachebench.serve import codec
from cachebench.serve.backends import BackendUnavailable, CacheBackend
from cachebench.serve.codec import Item, Profile
from cachebench.serve.layer import RETRY_UNAPPLIED_S, Layer
from cachebench.serve.origin import ORIGIN_QUEUE_S
from cachebench.settings import Settings

Loader = Callable[[], Awaitable[Item | Profile | None]]
#: Missed invalidations kept per layer (and unpublished ones); past this the oldest are dropped
#: and age out by TTL.
MAX_UNAPPLIED = 100_000


class InvalidationChannel(Protocol):
    """What the layered cache needs from a cross-process invalidation bus."""

    healthy: bool

    async def publish(self, key: str) -> None:
        """Tell the other processes; BackendUnavailable when Redis did not take the message."""


@dataclass(slots=True)
class Outcome:
    """A read's result: the body to send (None when the origin has no such row) and its headers."""

    body: bytes | None
    version: int | None
    cache_status: str | None
    server_timing: str


class LayeredCache:
    """The read and write paths shared by every strategy."""

    def __init__(
        self,
        layers: list[tuple[CacheBackend, float]],
        settings: Settings,
        channel: InvalidationChannel | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.layers = [Layer(backend, ttl_s, settings) for backend, ttl_s in layers]
        self.channel = channel
        self.mode = settings.invalidation
        self.namespace = settings.namespace
        self.jitter = settings.ttl_jitter
        self.coalesce = settings.coalesce
        self._timer = timer
        self._inflight: dict[str, asyncio.Future] = {}
        #: Invalidations the channel has not carried yet (an ordered set), published once every
        #: layer has taken them, so no process refills its L1 from a Redis that still holds the key.
        self._unpublished: dict[str, None] = {}
        self._repairing: asyncio.Task | None = None
        nearest = self.layers[0] if self.layers else None
        #: The first layer, when it can be read without awaiting and keys carry no generation
        #: (version mode reads the generation first): read_nowait serves its hits.
        self._nearest_local = (
            nearest if nearest is not None and nearest.get_nowait and self.mode != "version" else None
        )

    # Keys: namespaced, and built only from validated integers, so bounded in length.
    def key(self, kind: str, ident: int, version: int | None = None) -> str:
        if version is None:
            return f"{self.namespace}:{kind}:{ident}"
        return f"{self.namespace}:{kind}:{ident}:v{version}"

    def generation_key(self, kind: str, ident: int) -> str:
        return f"{self.namespace}:gen:{kind}:{ident}"

    def _usable(self, layer: Layer, statuses: list[str]) -> bool:
        if layer.backend.in_process and self.channel is not None and not self.channel.healthy:
            return self._bypass(layer, layer.gap, statuses)
        if not layer.breaker.allow():
            return self._bypass(layer, layer.open, statuses)
        return True

    @staticmethod
    def _bypass(layer: Layer, status: str, statuses: list[str]) -> bool:
        statuses.append(status)
        layer.count["bypass"].inc()
        return False

    def read_nowait(self, kind: str, ident: int) -> Outcome | None:
        """A hit in process memory, served without awaiting; None when ``read`` must answer.

        The short path for the most frequent request of a cached target. It answers only when
        ``read`` would read the in-process layer first with nothing to do before it (never in
        version mode, see ``_nearest_local``), and then
        does what ``read`` does for a hit there, less its coroutines, lists and joins. With the
        counters written once per tick (``metrics.TickCounter``) it took an L1 hit from 0.88 to
        0.92 of the throughput of constant bytes (``make perf``).
        """
        nearest = self._nearest_local
        if (
            nearest is None
            or nearest.unapplied
            or not nearest.breaker.clean
            or (self.channel is not None and not self.channel.healthy)
        ):
            return None
        started = self._timer()
        value = nearest.get_nowait(f"{self.namespace}:{kind}:{ident}")  # self.key(), written out
        if value is None:
            return None  # ``read`` asks again (a lookup against an origin read), counting the miss
        timing = nearest.timing % ((self._timer() - started) * 1000)
        nearest.hits.inc()
        return Outcome(value, None, nearest.hit, timing)

    async def read(self, kind: str, ident: int, load: Loader) -> Outcome:
        """Serve ``kind``/``ident`` from the nearest layer that has it, else from ``load``."""
        statuses: list[str] = []
        timings: list[str] = []
        if self.mode == "version":
            generation = await self._lookup(self.generation_key(kind, ident), kind, statuses, timings)
            if generation is None:
                return await self._load(kind, ident, None, load, statuses, timings)
            key = self.key(kind, ident, int(generation))
            statuses.clear()
        else:
            key = f"{self.namespace}:{kind}:{ident}"  # self.key(), written out: runs on every read
        value = await self._lookup(key, kind, statuses, timings)
        if value is None:
            return await self._load(kind, ident, key, load, statuses, timings)
        return Outcome(value, None, _status(statuses), ", ".join(timings))

    async def _lookup(self, key: str, kind: str, statuses: list[str], timings: list[str]) -> bytes | None:
        """Walk the layers; on a hit, copy the value into the layers that missed before it."""
        missed: list[Layer] = []
        timer = self._timer
        for layer in self.layers:
            if not self._usable(layer, statuses):
                continue
            if layer.unapplied and not await self._apply_missed(layer):
                statuses.append(layer.error)
                continue
            if not layer.breaker.settled:
                self._bypass(layer, layer.settling, statuses)
                continue
            probing, started = layer.breaker.is_open, timer()
            try:
                value = await layer.backend.get(key)
            except BackendUnavailable as exc:
                layer.failed(exc, probing)
                statuses.append(layer.error)
                continue
            finally:
                timings.append(layer.timing % ((timer() - started) * 1000))
            layer.breaker.record_success()
            if not layer.breaker.settled:
                # This call ended a run of failures: other processes may not have deleted in
                # it yet what they wrote meanwhile, so what it read is not served.
                self._bypass(layer, layer.settling, statuses)
                continue
            if value is not None and not layer.backend.in_process and not _decodes(kind, key, value):
                layer.count["undecodable"].inc()
                await self._delete_from(layer, key)
                value = None
            if value is None:
                layer.count["miss"].inc()
                statuses.append(layer.miss)
                missed.append(layer)
                continue
            layer.hits.inc()
            statuses.append(layer.hit)
            for upper in missed:
                await self._store_in(upper, key, value)
                statuses[statuses.index(upper.miss)] = upper.stored
            return value
        return None

    async def _load(
        self,
        kind: str,
        ident: int,
        key: str | None,
        load: Loader,
        statuses: list[str],
        timings: list[str],
    ) -> Outcome:
        """Read the origin (once per key per process when coalescing) and fill every layer."""
        started = self._timer()
        flight_key = key or self.generation_key(kind, ident)
        collapsed = False
        if self.coalesce and flight_key in self._inflight:
            collapsed = True
            row = await asyncio.shield(self._inflight[flight_key])
        elif self.coalesce:
            future = self._inflight[flight_key] = asyncio.get_running_loop().create_future()
            try:
                row = await load()
                future.set_result(row)
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # marks it retrieved when nobody else was waiting
                raise
            finally:
                del self._inflight[flight_key]
        else:
            row = await load()
        timings.append(f"origin;dur={(self._timer() - started) * 1000:.3f}")
        queued_s = ORIGIN_QUEUE_S.get()
        if queued_s:  # part of the origin's time above, spent waiting for a pool connection
            timings.append(f"origin-queue;dur={queued_s * 1000:.3f}")
        if row is None:
            return Outcome(None, None, _status(statuses), ", ".join(timings))
        body = codec.encode(row)
        if not collapsed:
            if self.mode == "version":
                key = self.key(kind, ident, row.version)
                await self._store_everywhere(self.generation_key(kind, ident), b"%d" % row.version)
            await self._store_everywhere(key, body, statuses)
        elif statuses:
            statuses[-1] += "; collapsed"
        return Outcome(body, row.version, _status(statuses), ", ".join(timings))

    async def invalidate(self, kind: str, ident: int, new_version: int) -> None:
        """Make a write visible according to the invalidation mode, in every layer and process."""
        if self.mode == "ttl":
            return
        if self.mode == "delete":
            key, value = self.key(kind, ident), None
            layers = reversed(self.layers)  # shared layers first, so no L1 refills from them
        else:
            key, value = self.generation_key(kind, ident), b"%d" % new_version
            layers = self.layers
        for layer in layers:
            _enqueue(layer.unapplied, key, value)
            if layer.breaker.allow():
                await self._apply_missed(layer)
            else:
                self._repair_later()
        if self.channel is not None:
            _enqueue(self._unpublished, key, None)
            await self._publish_missed()

    async def _apply_missed(self, layer: Layer, background: bool = False) -> bool:
        """Apply the invalidations the layer has not taken yet; False if it failed again."""
        while layer.unapplied:
            key, value = next(iter(layer.unapplied.items()))
            probing = None if background else layer.breaker.is_open
            try:
                if value is None:
                    await layer.backend.delete(key)
                else:
                    await layer.backend.set(key, value, self._ttl_s(layer))
            except BackendUnavailable as exc:
                layer.failed(exc, probing)
                self._repair_later()
                return False
            layer.breaker.record_success()
            layer.count["delete" if value is None else "set"].inc()
            if key in layer.unapplied and layer.unapplied[key] is value:  # not re-invalidated meanwhile
                del layer.unapplied[key]
        return True

    async def _publish_missed(self) -> None:
        """Publish what the channel has not carried, once every layer has taken it."""
        channel = self.channel
        assert channel is not None
        # Unhealthy: Redis is not answering us, and a publish would wait for its timeout.
        if not channel.healthy or any(layer.unapplied for layer in self.layers):
            self._repair_later()
            return
        while self._unpublished:
            key = next(iter(self._unpublished))
            try:
                await channel.publish(key)
            except BackendUnavailable:
                self._repair_later()
                return
            self._unpublished.pop(key, None)

    def _repair_later(self) -> None:
        """Keep applying and publishing missed invalidations in the background until none is left,
        so an idle process repairs too, and no request waits on it."""
        if self._repairing is None:
            self._repairing = asyncio.get_running_loop().create_task(self._repair())

    async def _repair(self) -> None:
        try:
            while self._unpublished or any(layer.unapplied for layer in self.layers):
                await asyncio.sleep(RETRY_UNAPPLIED_S)
                # Whatever the breaker says: no request waits on these calls, and a write's
                # invalidation must reach Redis as soon as it answers, before other processes
                # read there what the write replaced (their breakers' settle_s covers this).
                for layer in reversed(self.layers):
                    if layer.unapplied and not await self._apply_missed(layer, background=True):
                        break
                else:
                    if self._unpublished:
                        await self._publish_missed()
        finally:
            self._repairing = None

    def _ttl_s(self, layer: Layer) -> float:
        if self.jitter:
            return layer.ttl_s * (1 - self.jitter * random.random())
        return layer.ttl_s

    async def _store_everywhere(self, key: str, value: bytes, statuses: list[str] | None = None):
        for layer in self.layers:
            skipped: list[str] = []
            if not self._usable(layer, skipped):
                continue
            await self._store_in(layer, key, value)
            if statuses is not None and layer.miss in statuses:
                statuses[statuses.index(layer.miss)] = layer.stored

    async def _store_in(self, layer: Layer, key: str, value: bytes) -> None:
        probing = layer.breaker.is_open
        try:
            await layer.backend.set(key, value, self._ttl_s(layer))
        except BackendUnavailable as exc:
            layer.failed(exc, probing)
        else:
            # Reported like a get's: after a cool-down the breaker lets through whichever call
            # comes first, and under concurrent load that is often this store (after an origin
            # read that began while the breaker was open). Unreported, its success kept the
            # breaker open one more cool-down, and again the next time: after a 5 s SIGSTOP
            # under six clients (2 s cool-down), 4 of 13 runs stayed bypassed 3.8 s, 7.8 s or
            # over 12 s after the resume; with this line, 1.8 s in every run.
            layer.breaker.record_success()
            layer.count["set"].inc()

    async def _delete_from(self, layer: Layer, key: str) -> None:
        probing = layer.breaker.is_open
        try:
            await layer.backend.delete(key)
        except BackendUnavailable as exc:
            layer.failed(exc, probing)
        else:
            layer.breaker.record_success()  # as in _store_in
            layer.count["delete"].inc()

    def stats(self) -> dict[str, dict[str, int | float]]:
        return {layer.name: layer.backend.stats() for layer in self.layers}

    async def redis_health(self) -> dict[str, object]:
        """Whether a layer that can be pinged answers, and the state of its breaker."""
        for layer in self.layers:
            ping = getattr(layer.backend, "ping", None)
            if ping is not None:
                return {
                    "configured": True,
                    "reachable": await ping(),
                    "circuit_open": layer.breaker.is_open,
                    "invalidation_channel_healthy": (None if self.channel is None else self.channel.healthy),
                }
        return {"configured": False, "reachable": None}


def _enqueue(pending: dict, key: str, value: bytes | None) -> None:
    """Put ``key`` last in an ordered set of pending invalidations, bounded by MAX_UNAPPLIED."""
    pending.pop(key, None)
    pending[key] = value
    if len(pending) > MAX_UNAPPLIED:
        del pending[next(iter(pending))]


def _decodes(kind: str, key: str, value: bytes) -> bool:
    if ":gen:" in key:
        return value.isdigit()
    try:
        codec.DECODERS[kind](value)
    except codec.DecodeError:
        return False
    return True


def _status(statuses: list[str]) -> str | None:
    """RFC 9211 lists caches from the one nearest the origin to the one nearest the client."""
    if not statuses:
        return None
    if len(statuses) == 1:
        return statuses[0]
    return ", ".join(reversed(statuses))
