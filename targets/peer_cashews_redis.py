"""cashews over Redis: ``@cache`` on the endpoint with a key template, as its README shows.

The in-memory target's module with ``cache.setup(redis_url)``: every worker shares one cache
(values as JSON: cashews pickles by default, and a value unpickled from a shared cache can run
code, so this target asks for its JSON pickler), a hit costs a round trip, and a PUT's
``cache.delete`` reaches every worker.
Keys, /me and invalidation are as in ``peer_cashews``. cashews suppresses Redis errors by
default: a failing Redis reads as a miss, after redis-py's own timeouts.
"""

from contextlib import asynccontextmanager
from typing import Annotated

from cashews import add_prefix, cache
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

TTL_S = load_settings(strategy="cashews-redis").redis_ttl_s
reads = APIRouter()


@reads.get("/items/{item_id}")
@cache(ttl=TTL_S, key="item:{item_id}")
async def get_item(item_id: ItemId):
    return await item(item_id)


@reads.get("/me")
@cache(ttl=TTL_S)
async def get_me(user_id: Annotated[int, Depends(current_user_id)]):
    return await profile(user_id)


async def drop_item(item_id: int) -> None:
    await cache.delete(f"item:{item_id}")


@asynccontextmanager
async def cashews_redis(settings):
    prefix = add_prefix(f"{settings.namespace}:")
    cache.setup(redis_url(settings), middlewares=(prefix,), pickle_type="json")
    try:
        yield LibraryCache(settings, "cashews-redis", drop_item, ping=cache.ping)
    finally:
        await cache.close()


app = create_library_app("cashews-redis", cashews_redis, reads)
