"""L1 only: an in-process cachetools cache in front of the origin.

Fastest hit, but each worker has its own copy: memory grows with workers, and a write is
invalidated only in the worker that served it (the others serve the old value until TTL).
"""

from contextlib import asynccontextmanager

from cachebench.serve.app import create_app
from cachebench.serve.backends.l1_backend import L1Backend
from cachebench.serve.layered import LayeredCache


@asynccontextmanager
async def l1_cache(settings):
    l1 = L1Backend(settings.l1_max_entries, settings.l1_max_bytes)
    yield LayeredCache([(l1, settings.l1_ttl_s)], settings)


app = create_app("l1", l1_cache)
