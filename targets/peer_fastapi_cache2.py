"""fastapi-cache2 in memory: ``@cache`` between the route and the endpoint, as its README shows.

Keys come from the default key builder: an MD5 of the endpoint's module, name and arguments,
less Request and Response. /me gets its user from a dependency, so the user id is an argument
and each user has a key of their own; an endpoint that read the token from ``request`` itself
would hand every user the first user's profile (fastapi-cache2 issue #103).

Invalidation: ``FastAPICache.clear(key=...)`` always passes the prefix as the namespace, which
the backends match first, so it clears every key; a PUT deletes the one key through the
backend's own ``clear(key=...)``, rebuilt with ``default_key_builder`` from the endpoint's
arguments. Limits: InMemoryBackend is one unbounded dict per worker that drops an expired entry
only when it is read again; TTLs are whole seconds; a PUT invalidates only the worker that served
it. Responses also carry the library's ``X-FastAPI-Cache: HIT|MISS``, ``ETag`` and
``Cache-Control: max-age``. fastapi-cache2 0.2.2 imports jinja2 without declaring it.
"""

import math
from contextlib import asynccontextmanager, suppress
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi_cache import FastAPICache, default_key_builder
from fastapi_cache.backends.inmemory import InMemoryBackend
from fastapi_cache.decorator import cache

from cachebench.serve.app import ItemId
from cachebench.serve.library import LibraryCache, create_library_app, current_user_id, item, profile

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
    with suppress(KeyError):  # InMemoryBackend.clear(key=...) raises for a key it does not hold
        await FastAPICache.get_backend().clear(key=key)


@asynccontextmanager
async def fastapi_cache2_memory(settings):
    FastAPICache.init(InMemoryBackend(), prefix=settings.namespace, expire=math.ceil(settings.l1_ttl_s))
    yield LibraryCache(settings, "fastapi-cache2", drop_item)


app = create_library_app("fastapi-cache2", fastapi_cache2_memory, reads)
