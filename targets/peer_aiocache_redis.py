"""aiocache over Redis: ``@cached`` on the data functions, as its README shows.

The in-memory target's module with ``Cache.REDIS``: every worker shares one cache (values as
JSON, aiocache's default for Redis), a hit costs a round trip, and a PUT's delete reaches every
worker. Keys and invalidation are as in ``peer_aiocache``. Each decorated function has a cache,
and so a connection pool, of its own. A failing Redis is logged and read as a miss, after
aiocache's 5 s operation timeout.
"""

from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import urlsplit

from aiocache import Cache, cached
from fastapi import APIRouter, Depends

from cachebench.serve.app import ItemId
from cachebench.serve.library import (
    LibraryCache,
    create_library_app,
    current_user_id,
    item,
    profile,
    redis_url,
)
from cachebench.settings import load_settings

SETTINGS = load_settings(strategy="aiocache-redis")
REDIS = urlsplit(redis_url(SETTINGS))
CACHE = {
    "cache": Cache.REDIS,
    "ttl": SETTINGS.redis_ttl_s,
    "namespace": SETTINGS.namespace,
    "endpoint": REDIS.hostname,
    "port": REDIS.port or 6379,
    "password": REDIS.password,
    "db": int(REDIS.path.strip("/") or 0),
}


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
async def aiocache_redis(settings):
    try:
        yield LibraryCache(settings, "aiocache-redis", drop_item, ping=read_item.cache.client.ping)
    finally:
        await read_item.cache.close()
        await read_profile.cache.close()


app = create_library_app("aiocache-redis", aiocache_redis, reads)
