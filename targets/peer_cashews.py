"""cashews in memory: ``@cache`` on the endpoint with a key template, as its README shows.

Items are keyed ``item:{item_id}``; /me keeps cashews' default template, the module, function and
every argument by name (``...get_me:user_id:{user_id}``), and gets its user from a dependency, so
each user has a key of their own. A PUT deletes ``item:{item_id}`` with ``cache.delete``. Every
key gets the suite's namespace through cashews' ``add_prefix`` middleware.

Limits: the memory backend is an LRU per worker (bounded by CACHEBENCH_L1_MAX_ENTRIES here;
cashews' own default is 1,000 entries), so a PUT invalidates only the worker that served it.
Decorator arguments are fixed when the module is imported, so the TTL is read from the settings
then (the same environment the app's lifespan reads).
"""

from contextlib import asynccontextmanager
from typing import Annotated

from cashews import add_prefix, cache
from fastapi import APIRouter, Depends

from cachebench.serve.app import ItemId
from cachebench.serve.library import LibraryCache, create_library_app, current_user_id, item, profile
from cachebench.settings import load_settings

TTL_S = load_settings(strategy="cashews").l1_ttl_s
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
async def cashews_memory(settings):
    prefix = add_prefix(f"{settings.namespace}:")
    cache.setup("mem://", size=settings.l1_max_entries, middlewares=(prefix,))
    try:
        yield LibraryCache(settings, "cashews", drop_item)
    finally:
        await cache.close()


app = create_library_app("cashews", cashews_memory, reads)
