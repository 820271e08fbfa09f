"""fastapi-cache2 over Redis: ``@cache`` between the route and the endpoint, as its README shows.

The in-memory target's module with RedisBackend: every worker shares one cache, a hit costs a
round trip (TTL and GET in one MULTI), and a PUT's delete reaches every worker. Keys, /me and
invalidation are as in ``peer_fastapi_cache2``: ``FastAPICache.clear(key=...)`` would clear every
key (and by ``KEYS``, which blocks Redis), so a PUT deletes the one key through the backend.
A Redis that fails is logged and read as a miss, with no timeout but redis-py's.
"""

import math
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi_cache import FastAPICache, default_key_builder
from fastapi_cache.backends.redis import RedisBackend
from fastapi_cache.decorator import cache
from redis import asyncio as aioredis

from cachebench.serve.app import ItemId
from cachebench.serve.library import (
    LibraryCache,
    create_library_app,
    current_user_id,
    item,
    profile,
    redis_url,
)

reads = APIRouter()


@reads.get("/items/{item_id}")
@cache(namespace="items")
async def get_item(item_id: ItemId):
    return await item(item_id)


@reads.get("/me")
@cache(namespace="me")
async def get_me(user_id: Annotated[int, Depends(current_user_id)]):
    return await profile(user_id)


async def drop_item(item_id: int) -> None:
    namespace = f"{FastAPICache.get_prefix()}:items"
    key = default_key_builder(get_item.__wrapped__, namespace, args=(), kwargs={"item_id": item_id})
    await FastAPICache.get_backend().clear(key=key)


@asynccontextmanager
async def fastapi_cache2_redis(settings):
    redis = aioredis.from_url(redis_url(settings))
    FastAPICache.init(RedisBackend(redis), prefix=settings.namespace, expire=math.ceil(settings.redis_ttl_s))
    try:
        yield LibraryCache(settings, "fastapi-cache2-redis", drop_item, ping=redis.ping)
    finally:
        await redis.aclose()


app = create_library_app("fastapi-cache2-redis", fastapi_cache2_redis, reads)
