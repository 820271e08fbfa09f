"""The HTTP contract every target serves; a target only says how its cache is built.

``create_app(strategy, cache_factory)`` gives a FastAPI app whose lifespan opens the origin and
the cache that ``cache_factory`` yields, and whose routes read through that cache. A target built
on a cache library brings its own cached reads instead (``reads``: see ``serve.library``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import APIRouter, FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from cachebench.serve import codec, http_caching, item_update, metrics, openapi
from cachebench.serve.http_metrics import RequestMetrics
from cachebench.serve.layered import Outcome
from cachebench.serve.origin import SEEDED_AT, Origin
from cachebench.settings import Settings, load_settings


class ServedCache(Protocol):
    """What the contract's writes and ``/healthz`` need of a target's cache (``LayeredCache`` is one)."""

    async def invalidate(self, kind: str, ident: int, new_version: int) -> None: ...

    def stats(self) -> dict[str, dict[str, int | float]]: ...

    async def redis_health(self) -> dict[str, object]: ...


CacheFactory = Callable[[Settings], AbstractAsyncContextManager[ServedCache]]
ITEM_ID_MAX = 2_147_483_647
_ITEM_ID_MAX_DIGITS = len(str(ITEM_ID_MAX))
ItemId = Annotated[int, Path(ge=1, le=ITEM_ID_MAX, description="item id")]
_ITEM_ID = TypeAdapter(ItemId)
MEMORY_SAMPLE_INTERVAL_S = 1.0
#: Container allocations between first-generation collections (CPython's default is 700).
GC_FIRST_GENERATION_THRESHOLD = 5_000


#: Methods a 405 may name: RFC 9110's, and PATCH.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


@dataclass
class Service:
    settings: Settings
    origin: Origin
    #: A LayeredCache, or, where the target brings its own reads, what its writes invalidate through.
    cache: ServedCache
    client_headers: bool
    #: An item-sized body encoded once: what a cache hit would cost with no cache work at all.
    constant_body: bytes


def _service(request: Request) -> Service:
    return request.app.state.service


async def _sample_memory() -> None:
    while True:
        metrics.sample_process_memory()
        await asyncio.sleep(MEMORY_SAMPLE_INTERVAL_S)


@contextlib.contextmanager
def _collector_tuned_for_serving() -> Iterator[None]:
    """Garbage-collector settings while the worker serves; the previous ones come back after.

    Requests waiting on Redis keep their coroutines, futures and dicts alive across collections,
    so the collector kept finding survivors, promoting them, and walking the older generations,
    which hold everything built at startup (FastAPI, pydantic, redis-py): measured with perf,
    ~13% of a Redis hit's CPU. Freezing the startup objects takes them out of every walk, and a
    higher first-generation threshold makes the walks rarer: together ~+18% Redis-hit
    throughput, and a few % for everything else.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_FIRST_GENERATION_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # a test process starts many apps: the old ones must stay collectable


def create_app(
    strategy: str,
    cache_factory: CacheFactory,
    *,
    client_headers: bool = False,
    reads: APIRouter | None = None,
) -> FastAPI:
    """The contract's app for the target named ``strategy``; ``client_headers`` turns them on always.

    ``reads`` serves ``GET /items/{item_id}`` and ``GET /me`` in place of the reads through a
    ``LayeredCache``: for a target whose cache is a library's decorator on its own endpoints.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = load_settings(strategy=strategy)
        origin = Origin(settings)
        sampler = asyncio.create_task(_sample_memory())
        try:
            async with cache_factory(settings) as cache:
                headers = settings.client_headers or client_headers
                constant = codec.encode(codec.Item(0, 1, SEEDED_AT, "constant", "x" * settings.payload_bytes))
                app.state.service = Service(settings, origin, cache, headers, constant)
                with _collector_tuned_for_serving():
                    yield
        finally:
            sampler.cancel()
            origin.close()
            metrics.mark_worker_exited()

    app = FastAPI(title=f"cachebench target: {strategy}", lifespan=lifespan)
    app.add_middleware(RequestMetrics)
    _add_routes(app, reads)
    # A router's routes are described before the app first builds its effective routes from them.
    routes = [r for r in (*app.routes, *(reads.routes if reads else ())) if isinstance(r, APIRoute)]
    openapi.describe(app, routes, item_update.SCHEMA)
    _allow_every_method_of_a_path(app, routes)
    return app


def _allow_every_method_of_a_path(app: FastAPI, routes: list[APIRoute]) -> None:
    """A 405 whose ``Allow`` names every method of its path, where several routes share the path.

    Starlette answers a method no route takes with the ``Allow`` of the first route that matched
    the path, so ``OPTIONS /items/1`` said ``Allow: GET`` although PUT is served there; RFC 9110
    (15.5.6) wants the resource's methods. A route for the other methods, after the real ones,
    answers instead: GET and PUT still match their own routes first, at no cost to a hit.
    """
    routes_by_path: dict[str, list[APIRoute]] = {}
    for route in routes:
        routes_by_path.setdefault(route.path, []).append(route)
    for path, routes in routes_by_path.items():
        if len(routes) < 2:
            continue  # one route: Starlette's own 405 already names its methods
        methods = set().union(*(route.methods for route in routes))
        others = [method for method in HTTP_METHODS if method not in methods]
        allow = ", ".join(sorted(methods))
        app.add_api_route(path, _not_allowed(allow), methods=others, include_in_schema=False)


def _not_allowed(allow: str) -> Callable[[], Awaitable[None]]:
    async def not_allowed() -> None:
        raise HTTPException(405, "Method Not Allowed", headers={"Allow": allow})

    return not_allowed


def _respond(service: Service, request: Request, kind: str, ident: int, outcome: Outcome):
    if outcome.body is None:
        raise HTTPException(404, f"{kind} {ident} not found")
    if not service.client_headers:
        # The hot path (every cache hit): the two headers go straight in as the raw bytes pairs
        # Starlette sends, rather than through a dict it converts; ~1 µs less per hit.
        response = Response(outcome.body, media_type="application/json")
        response.raw_headers.append((b"server-timing", outcome.server_timing.encode("latin-1")))
        if outcome.cache_status is not None:
            response.raw_headers.append((b"cache-status", outcome.cache_status.encode("latin-1")))
        return response
    headers = {"Server-Timing": outcome.server_timing}
    if outcome.cache_status is not None:
        headers["Cache-Status"] = outcome.cache_status
    version = outcome.version
    if version is None:
        version = codec.DECODERS[kind](outcome.body).version
    headers["ETag"] = tag = http_caching.etag(kind, ident, version)
    headers["Cache-Control"] = http_caching.cache_control(service.settings.max_age_s, kind == "me")
    if kind == "me":
        headers["Vary"] = "Authorization"
    if http_caching.matches_if_none_match(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(outcome.body, media_type="application/json", headers=headers)


def _path_item_id(request: Request) -> int:
    """The ``item_id`` path parameter, validated exactly as a declared ``ItemId`` parameter is.

    For the hot ``GET /items/{id}`` only: a declared parameter goes through FastAPI's
    per-request parameter machinery, measured at ~11 µs a request, half of what an L1 hit cost
    on top of constant bytes. The same pydantic validator called directly costs ~0.3 µs and
    fails with the same errors, which FastAPI's handler turns into the same 422 body. Plain
    ASCII digits in range, nearly every request, skip even that (pydantic reads them as ``int``
    does); everything else meets the validator.
    """
    raw = request.scope["path_params"]["item_id"]
    if raw.isascii() and raw.isdigit() and len(raw) <= _ITEM_ID_MAX_DIGITS:
        item_id = int(raw)
        if item_id >= 1 and item_id <= ITEM_ID_MAX:
            return item_id
    try:
        return _ITEM_ID.validator.validate_python(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("path", "item_id", *e["loc"])} for e in errors]) from None


# What FastAPI would document for a declared ``item_id: ItemId`` (see _path_item_id).
_ITEM_ID_OPENAPI = {
    "parameters": [
        {
            "name": "item_id",
            "in": "path",
            "required": True,
            "description": "item id",
            "schema": {**_ITEM_ID.json_schema(), "title": "Item Id"},
        }
    ],
    "responses": {
        "422": {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        }
    },
}


def bearer_token(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def _add_routes(app: FastAPI, reads: APIRouter | None) -> None:
    # Registered first: routes are matched in order (~1 µs per route passed over), and the
    # reference endpoint must not look slower than a hit only because it is matched later.
    @app.get("/bench/constant")
    async def constant(request: Request) -> Response:
        """Pre-encoded constant bytes: the ceiling a cache hit is measured against."""
        return Response(_service(request).constant_body, media_type="application/json")

    if reads is None:
        _add_layered_reads(app)
    else:
        app.include_router(reads)

    @app.put("/items/{item_id}")
    async def put_item(item_id: ItemId, request: Request) -> Response:
        service = _service(request)
        update = await item_update.read(request, service.settings.max_body_bytes)
        item = await service.origin.write_item(item_id, update.name, update.payload)
        if item is None:
            raise HTTPException(404, f"item {item_id} not found")
        await service.cache.invalidate("item", item_id, item.version)
        return Response(
            codec.encode(item), media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    @app.get("/healthz")
    async def healthz(request: Request) -> dict:
        service = _service(request)
        return {
            "strategy": service.settings.strategy,
            "client_headers": service.client_headers,
            "settings": service.settings.public_dump(),
            "redis": await service.cache.redis_health(),
            "layers": service.cache.stats(),
        }

    # Documented as what it serves: Prometheus' text format, which scrapers ask for by type.
    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)


def _add_layered_reads(app: FastAPI) -> None:
    """The two cacheable reads, through the target's ``LayeredCache``."""

    @app.get("/items/{item_id}", openapi_extra=_ITEM_ID_OPENAPI)
    async def get_item(request: Request) -> Response:
        item_id = _path_item_id(request)
        service = _service(request)
        outcome = service.cache.read_nowait("item", item_id) or await service.cache.read(
            "item", item_id, lambda: service.origin.read_item(item_id)
        )
        return _respond(service, request, "item", item_id, outcome)

    @app.get("/me")
    async def get_me(
        request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
    ) -> Response:
        service = _service(request)
        user_id = service.origin.user_for_token(bearer_token(authorization))
        if user_id is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        outcome = service.cache.read_nowait("me", user_id) or await service.cache.read(
            "me", user_id, lambda: service.origin.read_profile(user_id)
        )
        return _respond(service, request, "me", user_id, outcome)
