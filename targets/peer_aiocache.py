"""aiocache in memory: ``@cached`` on the data functions, as its README shows.

aiocache knows no web framework, so the endpoints stay plain and the decorator wraps the reads
they call. Items are keyed ``item:{item_id}`` by a key builder; profiles keep aiocache's default
key (module, function name and arguments: ``...read_profile(7,)[]``), so each user has a key of
their own. A PUT deletes ``item:{item_id}`` through the decorator's cache, ``read_item.cache``.

Limits: SimpleMemoryCache is one unbounded dict per worker with a timer per key for its TTL; a
PUT invalidates only the worker that served it; a function that returns None is never cached.
The decorator builds its cache when it decorates, so the settings are read at import (the same
environment the app's lifespan reads).
"""

from contextlib import asynccontextmanager
from typing import Annotated

from aiocache import Cache, cached
from fastapi import APIRouter, Depends

from cachebench.serve.app import ItemId
from cachebench.serve.library import LibraryCache, create_library_app, current_user_id, item, profile
from cachebench.settings import load_settings

SETTINGS = load_settings(strategy="aiocache")
CACHE = {"cache": Cache.MEMORY, "ttl": SETTINGS.l1_ttl_s, "namespace": SETTINGS.namespace}


@cached(**CACHE, key_builder=lambda read, item_id: f"item:{item_id}")
async def read_item(item_id: int):
    return await item(item_id)


@cached(**CACHE)
async def read_profile(user_id: int):
    return await profile(user_id)


reads = APIRouter()


@reads.get("/items/{item_id}")
async def get_item(item_id: ItemId):
    return await read_item(item_id)


@reads.get("/me")
async def get_me(user_id: Annotated[int, Depends(current_user_id)]):
    return await read_profile(user_id)


async def drop_item(item_id: int) -> None:
    await read_item.cache.delete(f"item:{item_id}")


@asynccontextmanager
async def aiocache_memory(settings):
    yield LibraryCache(settings, "aiocache", drop_item)


app = create_library_app("aiocache", aiocache_memory, reads)
