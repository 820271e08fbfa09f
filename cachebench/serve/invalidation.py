"""Cross-process invalidation over Redis pub/sub, for L1 caches in front of a shared Redis.

A write publishes the key it invalidated; every process drops that key from its L1. Pub/sub
delivers at most once and only while connected, so the bus also watches its own connection: a
heartbeat PING that goes unanswered, or a dropped connection, marks the channel unhealthy. While
unhealthy, L1 must not be used (its entries may have missed invalidations); when the channel is
back, L1 is cleared before it is used again. A message the writer could not publish is kept
and published again once Redis answers (``LayeredCache._publish_missed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cachebench.serve import metrics
from cachebench.serve.backends.redis_backend import DRIVER_INFO, unavailable
from cachebench.settings import Settings

HEARTBEAT_INTERVAL_S = 0.25
#: Unanswered heartbeats for this long mean the channel may have lost messages.
HEARTBEAT_DEADLINE_S = 1.0
RECONNECT_DELAY_S = 0.2


class InvalidationBus:
    """Publishes invalidated keys and applies other processes' invalidations locally."""

    def __init__(
        self,
        settings: Settings,
        on_invalidate: Callable[[str], Awaitable[None]],
        on_gap: Callable[[], None],
    ) -> None:
        self.channel = f"{settings.namespace}:invalidate"
        self.healthy = False
        self._sender = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._on_invalidate = on_invalidate
        self._on_gap = on_gap
        self._client = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            retry=Retry(NoBackoff(), 0),
            driver_info=DRIVER_INFO,
        )
        self._listener: asyncio.Task | None = None
        self._published = metrics.INVALIDATION_MESSAGES.labels("published")
        self._received = metrics.INVALIDATION_MESSAGES.labels("received")
        self._gaps = metrics.INVALIDATION_MESSAGES.labels("gap")

    async def __aenter__(self) -> InvalidationBus:
        self._listener = asyncio.create_task(self._listen_forever())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._client.aclose()

    async def publish(self, key: str) -> None:
        """Publish one invalidated key; BackendUnavailable when Redis did not take it.

        A lost message is not covered by the others' heartbeats: a stall shorter than
        HEARTBEAT_DEADLINE_S goes unnoticed by them, so the caller keeps it and publishes again.
        """
        try:
            await self._client.publish(self.channel, f"{self._sender} {key}")
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc
        self._published.inc()

    async def _listen_forever(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await self._listen_once()
            self._mark_gap()
            await asyncio.sleep(RECONNECT_DELAY_S)

    def _mark_gap(self) -> None:
        if self.healthy:
            self.healthy = False
            self._gaps.inc()

    async def _listen_once(self) -> None:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            last_answer = time.monotonic()
            next_ping = 0.0
            while True:
                now = time.monotonic()
                if now - last_answer > HEARTBEAT_DEADLINE_S:
                    self._mark_gap()
                    return
                if now >= next_ping:
                    await pubsub.ping()
                    next_ping = now + HEARTBEAT_INTERVAL_S
                message = await pubsub.get_message(timeout=HEARTBEAT_INTERVAL_S)
                if message is None:
                    continue
                last_answer = time.monotonic()
                if message["type"] in ("pong", "subscribe") and not self.healthy:
                    # Back after a gap (or at start): anything L1 holds may be stale.
                    self._on_gap()
                    self.healthy = True
                elif message["type"] == "message":
                    await self._apply(message["data"])

    async def _apply(self, data: bytes) -> None:
        sender, _, key = data.decode().partition(" ")
        self._received.inc()
        if sender != self._sender:
            await self._on_invalidate(key)
