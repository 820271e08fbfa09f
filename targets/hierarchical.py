"""Hierarchical: L1 in front of Redis in front of the origin.

Hits are served from process memory; misses fill from the shared Redis before the origin. A
write is invalidated in every worker: the writer publishes the key on Redis pub/sub and each
process drops it from its L1. If the channel is interrupted, L1 is bypassed until it is back,
then cleared.
"""

from contextlib import asynccontextmanager

from cachebench.serve.app import create_app
from cachebench.serve.backends.l1_backend import L1Backend
from cachebench.serve.backends.redis_backend import RedisBackend, connect
from cachebench.serve.invalidation import InvalidationBus
from cachebench.serve.layered import LayeredCache


@asynccontextmanager
async def hierarchical_cache(settings):
    client = connect(settings)
    l1 = L1Backend(settings.l1_max_entries, settings.l1_max_bytes)
    try:
        async with InvalidationBus(settings, on_invalidate=l1.delete, on_gap=l1.clear) as bus:
            layers = [(l1, settings.l1_ttl_s), (RedisBackend(client), settings.redis_ttl_s)]
            yield LayeredCache(layers, settings, channel=bus)
    finally:
        await client.aclose()


app = create_app("hierarchical", hierarchical_cache)
