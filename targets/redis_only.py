"""Redis only: one shared cache for every worker, a network round trip per hit.

Named ``redis_only`` so that it does not shadow the ``redis`` package.
"""

from contextlib import asynccontextmanager

from cachebench.serve.app import create_app
from cachebench.serve.backends.redis_backend import RedisBackend, connect
from cachebench.serve.layered import LayeredCache


@asynccontextmanager
async def redis_cache(settings):
    client = connect(settings)
    try:
        yield LayeredCache([(RedisBackend(client), settings.redis_ttl_s)], settings)
    finally:
        await client.aclose()


app = create_app("redis", redis_cache)
