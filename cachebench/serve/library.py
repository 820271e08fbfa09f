"""What a target built on a third-party cache library shares: its origin reads, headers and writes.

A library decides hit or miss inside its decorator, and most do not say which. The origin is
ours, so the target knows anyway: ``OriginTrace`` (ASGI middleware) gives every cacheable GET a
``Trace``; ``item`` and ``profile`` (what the library's decorator ends up calling) note each
origin read in it; the response then says ``<name>; hit`` when the origin was not read and
``<name>; fwd=miss`` when it was, with ``Server-Timing``, and counts the outcome in ``/metrics``
under the same series ``LayeredCache`` uses. ``fwd=miss`` has no ``stored``: whether the library
stored the answer is its business, and we cannot see it.

``LibraryCache`` is what the contract's ``PUT`` and ``/healthz`` call: a write is invalidated
through the function the target gives it, which uses the library's own API.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

import msgspec
from fastapi import APIRouter, FastAPI, Header, HTTPException, Request

from cachebench.serve import metrics
from cachebench.serve.app import CacheFactory, bearer_token, create_app
from cachebench.serve.origin import Origin
from cachebench.settings import Settings, SettingsError

#: The paths whose GETs a library caches (and so get a Cache-Status).
CACHED_PATH_PREFIXES = ("/items/", "/me")


@dataclass(slots=True)
class Trace:
    """One request's origin reads, as the data functions note them."""

    origin: Origin
    reads: int = 0
    origin_s: float = 0.0


_trace: ContextVar[Trace | None] = ContextVar("cachebench_library_trace", default=None)


class OriginTrace:
    """ASGI middleware: Cache-Status and Server-Timing from whether a cached GET read the origin.

    Plain ASGI, as ``RequestMetrics``: Starlette's BaseHTTPMiddleware would add its own cost to
    every hit we measure. The request and its endpoint run in this task, so the endpoint sees
    the ``Trace`` set here.
    """

    def __init__(self, app, layer: str) -> None:
        self.app = app
        self.hit = f"{layer}; hit".encode()
        self.miss = f"{layer}; fwd=miss".encode()
        self.timing = f"{layer};dur=%.3f"
        ops = metrics.CACHE_OPERATIONS
        self.hits = metrics.TickCounter(ops.labels(layer, "hit"))
        self.misses = metrics.TickCounter(ops.labels(layer, "miss"))

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(CACHED_PATH_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        trace = Trace(scope["app"].state.service.origin)
        token = _trace.set(trace)
        started = time.perf_counter()

        async def send_with_status(message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), *self._headers(trace, started)],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            _trace.reset(token)

    def _headers(self, trace: Trace, started: float) -> list[tuple[bytes, bytes]]:
        # The library's share is the whole request less the origin: its lookup and store, and
        # the FastAPI work around them, which a user of the library pays on every hit too.
        spent_ms = (time.perf_counter() - started - trace.origin_s) * 1000
        if trace.reads:
            self.misses.inc()
            timing = f"{self.timing % spent_ms}, origin;dur={trace.origin_s * 1000:.3f}"
            return [(b"cache-status", self.miss), (b"server-timing", timing.encode())]
        self.hits.inc()
        return [(b"cache-status", self.hit), (b"server-timing", (self.timing % spent_ms).encode())]


def _current_trace() -> Trace:
    trace = _trace.get()
    if trace is None:
        raise RuntimeError("an origin read outside a GET that OriginTrace serves")
    return trace


async def _traced_read(read: Callable[[], Awaitable[object | None]], missing: str) -> dict:
    """One origin read counted in the request's trace, as the dict an endpoint returns; 404 if none."""
    trace = _current_trace()
    started = time.perf_counter()
    row = await read()
    trace.reads += 1
    trace.origin_s += time.perf_counter() - started
    if row is None:
        raise HTTPException(404, f"{missing} not found")
    return msgspec.structs.asdict(row)


async def item(item_id: int) -> dict:
    """The item, read from the origin, as the dict an endpoint returns; 404 when there is none."""
    return await _traced_read(lambda: _current_trace().origin.read_item(item_id), f"item {item_id}")


async def profile(user_id: int) -> dict:
    """The user's profile, read from the origin, as the dict an endpoint returns."""
    return await _traced_read(lambda: _current_trace().origin.read_profile(user_id), f"user {user_id}")


async def current_user_id(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> int:
    """The caller's user id from the bearer token (a FastAPI dependency); 401 without a valid one."""
    user_id = request.app.state.service.origin.user_for_token(bearer_token(authorization))
    if user_id is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return user_id


def redis_url(settings: Settings) -> str:
    """The suite's Redis for a library's Redis backend; a clear error at start when there is none."""
    if not settings.redis_url:
        raise ValueError(f"strategy {settings.strategy!r} needs CACHEBENCH_REDIS_URL (or REDIS_URL)")
    return settings.redis_url


class LibraryCache:
    """What the contract's ``PUT`` and ``/healthz`` need of a library: invalidation and Redis health.

    The library's settings are the suite's, where it has them; those it cannot honour stop the
    target at start (``INVALIDATION=version``, ``COALESCE``, ``TTL_JITTER``, ``CLIENT_HEADERS``
    are ``LayeredCache``'s and ``create_app``'s, not the library's).
    """

    def __init__(
        self,
        settings: Settings,
        name: str,
        drop_item: Callable[[int], Awaitable[object]],
        ping: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        unsupported = {
            "INVALIDATION=version": settings.invalidation == "version",
            "COALESCE=true": settings.coalesce,
            "TTL_JITTER": settings.ttl_jitter > 0,
            "CLIENT_HEADERS=true": settings.client_headers,
        }
        refused = [f"CACHEBENCH_{setting}" for setting, given in unsupported.items() if given]
        if refused:
            raise SettingsError(f"invalid settings: {', '.join(refused)}: not available with {name}")
        self.name = name
        self.mode = settings.invalidation
        self._drop_item = drop_item
        self._ping = ping

    async def invalidate(self, kind: str, ident: int, new_version: int) -> None:
        if self.mode == "delete":
            await self._drop_item(ident)

    def stats(self) -> dict[str, dict[str, int | float]]:
        return {self.name: {}}

    async def redis_health(self) -> dict[str, object]:
        if self._ping is None:
            return {"configured": False, "reachable": None}
        try:
            await self._ping()
        except Exception:  # whatever the library's client raises: unreachable is the answer
            reachable = False
        else:
            reachable = True
        # No circuit breaker: a library handles a failing Redis its own way.
        return {"configured": True, "reachable": reachable, "circuit_open": None}


def create_library_app(strategy: str, cache_factory: CacheFactory, reads: APIRouter) -> FastAPI:
    """The contract's app with the library's cached ``reads``, labelled ``strategy`` in Cache-Status."""
    app = create_app(strategy, cache_factory, reads=reads)
    app.add_middleware(OriginTrace, layer=strategy)
    return app
