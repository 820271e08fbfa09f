"""What one cached entry costs, measured once per sweep, so that a sweep's memory axis is the
memory the cache itself holds: entries per worker × workers × bytes per entry, plus Redis'.

Process RSS is not that axis: two idle workers hold ~170 MB of interpreter and libraries whatever
the cache holds, which buried the cache's few MB (issue 11).

- L1: ``tracemalloc``'s traced bytes before and after the real ``MeteredCache`` (what
  ``L1Backend`` holds) is filled with ``SAMPLE_ENTRIES`` entries of the scenario's own values (items
  encoded as the targets encode them, keys as ``LayeredCache`` names them), divided by the
  entries. That counts the key, the value and cachetools' bookkeeping (its dicts, TLRU's heap
  and items), which is what the cache adds to a worker; it is below the RSS change by the
  allocator's slack.
- Redis: ``used_memory`` of a private ``redis-server`` (the suite's, loopback, password) before
  and after the same entries are ``SET`` with a TTL, divided by the entries (only for targets
  with Redis).
"""

from __future__ import annotations

import gc
import math
import tracemalloc

from cachebench.results.sweep_record import EntryBytes
from cachebench.serve import codec
from cachebench.serve.backends.l1_backend import MeteredCache
from cachebench.serve.backends.redis_backend import redis_ttl_ms
from cachebench.settings import Settings
from cachebench.tuning.sim_model import Origin

#: Entries per measurement: enough that a dict's growth steps average out (measured for a 1,116-byte
#: item: 1,460 B per entry at 2,000 entries, 1,413 at 5,000, 1,397 at 20,000; ~0.1 s).
SAMPLE_ENTRIES = 5_000
METHOD = (
    "bytes per entry measured once: tracemalloc over the real MeteredCache filled with {entries:,} of "
    "the scenario's items (Redis: used_memory over as many SETs with a TTL); memory = entries × bytes "
    "per entry, summed over workers, plus Redis"
)


def _values(settings: Settings, entries: int) -> list[tuple[str, bytes]]:
    origin = Origin(settings)
    namespace = settings.namespace
    items = settings.origin_items
    return [(f"{namespace}:item:{i}", codec.encode(origin.item(1 + i % items))) for i in range(entries)]


def l1_entry_bytes(settings: Settings, generation: bool = False, entries: int = SAMPLE_ENTRIES) -> float:
    """Traced bytes one L1 entry holds (``generation``: a version-mode generation key instead)."""
    gc.collect()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = MeteredCache(entries * 2, None, lambda: 0.0)
        if generation:
            for i in range(1, entries + 1):
                cache.put(f"{settings.namespace}:gen:item:{i}", b"%d" % (i % 7 + 1), 1e9)
        else:
            for key, value in _values(settings, entries):
                cache.put(key, value, 1e9)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        if not tracing:
            tracemalloc.stop()
    del cache
    return held / entries


def redis_entry_bytes(settings: Settings, entries: int = SAMPLE_ENTRIES) -> float:
    """Redis ``used_memory`` one key costs, on a private server started and stopped here."""
    import redis

    from cachebench.run.processes.redis_server import RedisServer

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            before = int(client.info("memory")["used_memory"])
            pipe = client.pipeline(transaction=False)
            for key, value in _values(settings, entries):
                pipe.set(key, value, px=redis_ttl_ms(settings.redis_ttl_s))
            pipe.execute()
            after = int(client.info("memory")["used_memory"])
        finally:
            client.close()
    return (after - before) / entries


def measure(settings: Settings, needs_redis: bool) -> EntryBytes:
    """Bytes per L1 item entry, per generation key, per Redis key (None without Redis), and how."""
    return EntryBytes(
        l1_entry_bytes=l1_entry_bytes(settings),
        l1_generation_entry_bytes=l1_entry_bytes(settings, generation=True),
        redis_entry_bytes=redis_entry_bytes(settings) if needs_redis else None,
        value_bytes=len(codec.encode(Origin(settings).item(1))),
        method=METHOD.format(entries=SAMPLE_ENTRIES),
    )


def item_entries(entries: int, invalidation: str) -> tuple[int, int]:
    """The simulator's L1 entries split into items and generation keys (under ``version`` every
    held item has its generation key beside it)."""
    items = math.ceil(entries / 2) if invalidation == "version" else entries
    return items, entries - items


def cache_memory_bytes(
    l1_items: float, l1_generation_keys: float, redis_entries: float, per_entry: EntryBytes
) -> tuple[float, float | None, float]:
    """Memory the caches hold: (L1, Redis or None without it, both): L1 entries (all workers) ×
    bytes each, plus Redis keys × bytes each."""
    l1 = l1_items * per_entry.l1_entry_bytes
    l1 += l1_generation_keys * per_entry.l1_generation_entry_bytes
    redis = None if per_entry.redis_entry_bytes is None else redis_entries * per_entry.redis_entry_bytes
    return l1, redis, l1 + (redis or 0)
