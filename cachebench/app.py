"""The HTTP contract every target serves; a target only says how its cache is built.

``create_app(strategy, cache_factory)`` gives a FastAPI app whose lifespan opens the origin and
the cache that ``cache_factory`` yields, and whose routes read through that cache.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cachebench import codec, http_caching, metrics
from cachebench.http_metrics import RequestMetrics
from cachebench.layered import LayeredCache, Outcome
from cachebench.origin import SEEDED_AT, Origin
from cachebench.settings import Settings, load_settings

CacheFactory = Callable[[Settings], AbstractAsyncContextManager[LayeredCache]]
ItemId = Annotated[int, Path(ge=1, le=2_147_483_647, description="item id")]
MEMORY_SAMPLE_INTERVAL_S = 1.0


class ItemUpdate(BaseModel):
    """Body of ``PUT /items/{id}``: at least one of the fields."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    payload: str | None = Field(None, max_length=1_000_000)

    @model_validator(mode="after")
    def _not_empty(self) -> ItemUpdate:
        if self.name is None and self.payload is None:
            raise ValueError("give name and/or payload")
        return self


@dataclass
class Service:
    settings: Settings
    origin: Origin
    cache: LayeredCache
    client_headers: bool
    #: An item-sized body encoded once: what a cache hit would cost with no cache work at all.
    constant_body: bytes


def _service(request: Request) -> Service:
    return request.app.state.service


async def _sample_memory() -> None:
    while True:
        metrics.sample_process_memory()
        await asyncio.sleep(MEMORY_SAMPLE_INTERVAL_S)


def create_app(strategy: str, cache_factory: CacheFactory) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = load_settings(strategy=strategy)
        origin = Origin(settings)
        sampler = asyncio.create_task(_sample_memory())
        try:
            async with cache_factory(settings) as cache:
                headers = settings.client_headers or strategy == "client-headers"
                constant = codec.encode(codec.Item(0, 1, SEEDED_AT, "constant", "x" * settings.payload_bytes))
                app.state.service = Service(settings, origin, cache, headers, constant)
                yield
        finally:
            sampler.cancel()
            origin.close()
            metrics.mark_worker_exited()

    app = FastAPI(title=f"cachebench target: {strategy}", lifespan=lifespan)
    app.add_middleware(RequestMetrics)
    _add_routes(app)
    return app


def _respond(service: Service, request: Request, kind: str, ident: int, outcome: Outcome):
    if outcome.body is None:
        raise HTTPException(404, f"{kind} {ident} not found")
    headers = {"Server-Timing": outcome.server_timing}
    if outcome.cache_status is not None:
        headers["Cache-Status"] = outcome.cache_status
    if not service.client_headers:
        return Response(outcome.body, media_type="application/json", headers=headers)
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


async def _read_limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
    return bytes(body)


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def _add_routes(app: FastAPI) -> None:
    @app.get("/items/{item_id}")
    async def get_item(item_id: ItemId, request: Request) -> Response:
        service = _service(request)
        outcome = await service.cache.read("item", item_id, lambda: service.origin.read_item(item_id))
        return _respond(service, request, "item", item_id, outcome)

    @app.put("/items/{item_id}")
    async def put_item(item_id: ItemId, request: Request) -> Response:
        service = _service(request)
        body = await _read_limited_body(request, service.settings.max_body_bytes)
        try:
            update = ItemUpdate.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        item = await service.origin.write_item(item_id, update.name, update.payload)
        if item is None:
            raise HTTPException(404, f"item {item_id} not found")
        await service.cache.invalidate("item", item_id, item.version)
        return Response(
            codec.encode(item), media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    @app.get("/me")
    async def get_me(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        service = _service(request)
        user_id = service.origin.user_for_token(_bearer_token(authorization))
        if user_id is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        outcome = await service.cache.read("me", user_id, lambda: service.origin.read_profile(user_id))
        return _respond(service, request, "me", user_id, outcome)

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

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/bench/constant")
    async def constant(request: Request) -> Response:
        """Pre-encoded constant bytes: the ceiling a cache hit is measured against."""
        return Response(_service(request).constant_body, media_type="application/json")
