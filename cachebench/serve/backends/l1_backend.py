"""L1: an in-process cachetools cache with a TTL per entry, bounded by entries and optionally bytes."""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import Cache, TLRUCache

from cachebench.serve import metrics
from cachebench.settings import Settings


class MeteredCache(TLRUCache):
    """An LRU cache with a TTL per entry that knows its bytes and counts evictions and expiries.

    TLRUCache rather than TTLCache because TTLCache has one TTL for all entries, and TTL
    jitter needs one per entry (measured: both cost the same memory per entry).

    Bytes are tracked here rather than through ``getsizeof``: a size-tracking cachetools cache
    keeps a second dict with one entry per key, which costs ~5% more memory per entry.
    """

    def __init__(
        self,
        max_entries: int,
        max_bytes: int | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes is None:
            super().__init__(max_entries, self._expiry, timer)
        else:
            super().__init__(max_bytes, self._expiry, timer, getsizeof=len)
        # TLRUCache asks a function for each entry's expiry; put() hands it the TTL through here.
        self._ttl_s = 0.0
        self.max_entries = max_entries
        self.bytes = 0
        self.evictions = 0
        self.expirations = 0

    def _expiry(self, key: str, value: bytes, now: float) -> float:
        return now + self._ttl_s

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self[key] = value

    def __setitem__(self, key: str, value: bytes) -> None:
        # Take the old value out through __delitem__ first: cachetools may otherwise evict or
        # drop it itself while making room, and its bytes would be counted out twice.
        if Cache.__contains__(self, key):
            try:
                del self[key]
            except KeyError:  # the old value had expired: that is how it left
                self.expirations += 1
        super().__setitem__(key, value)
        if Cache.__contains__(self, key):  # not stored when its TTL was already over
            self.bytes += len(value)
        while Cache.__len__(self) > self.max_entries:
            self.popitem()

    def __delitem__(self, key: str) -> None:
        size = len(Cache.__getitem__(self, key))
        try:
            super().__delitem__(key)
        finally:
            self.bytes -= size

    def clear(self) -> None:
        super().clear()
        self.bytes = 0

    def popitem(self) -> tuple[str, bytes]:
        item = super().popitem()
        self.evictions += 1
        return item

    def expire(self, time: float | None = None) -> list[tuple[str, bytes]]:
        expired = super().expire(time)
        if expired:  # usually empty: skip building the sum (a put's most frequent call)
            self.expirations += len(expired)
            self.bytes -= sum(len(value) for _, value in expired)
        return expired


class L1Backend:
    """Process-local cache layer; its values never leave the process."""

    name = "l1"
    in_process = True

    def __init__(
        self,
        max_entries: int,
        max_bytes: int | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = MeteredCache(max_entries, max_bytes, timer)
        self.max_bytes = max_bytes
        self._evictions = metrics.CACHE_OPERATIONS.labels(self.name, "eviction")
        self._expirations = metrics.CACHE_OPERATIONS.labels(self.name, "expired")
        self._counted = (0, 0)

    @classmethod
    def from_settings(cls, settings: Settings) -> L1Backend:
        return cls(settings.l1_max_entries, settings.l1_max_bytes)

    def get_nowait(self, key: str) -> bytes | None:
        # Not cache.get(): that is ``key in cache`` and then ``cache[key]``, two lookups and two
        # clock reads; a hit is this whole layer's cost, so it gets the one lookup (~1 µs less).
        # An absent or expired key raises KeyError either way.
        try:
            return self.cache[key]
        except KeyError:
            return None

    async def get(self, key: str) -> bytes | None:
        return self.get_nowait(key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self.max_bytes is not None and len(value) > self.max_bytes:
            return  # cachetools refuses a value larger than the whole cache
        self.cache.put(key, value, ttl_s)
        self._publish_size()

    async def delete(self, key: str) -> None:
        self.cache.pop(key, None)
        self._publish_size()

    def clear(self) -> None:
        self.cache.clear()
        self._publish_size()

    def _publish_size(self) -> None:
        """Export size and removals; only on writes, since a hit changes neither."""
        metrics.L1_ENTRIES.set(len(self.cache))
        metrics.L1_BYTES.set(self.cache.bytes)
        evictions, expirations = self.cache.evictions, self.cache.expirations
        self._evictions.inc(evictions - self._counted[0])
        self._expirations.inc(expirations - self._counted[1])
        self._counted = (evictions, expirations)

    def stats(self) -> dict[str, int | float]:
        return {
            "entries": len(self.cache),
            "bytes": self.cache.bytes,
            "evictions": self.cache.evictions,
            "expirations": self.cache.expirations,
        }
