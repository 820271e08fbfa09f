"""Redis as a shared cache layer (redis-py asyncio with hiredis). Named so it cannot shadow redis-py."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from cachebench.backends import BackendUnavailable
from cachebench.settings import Settings


def connect(settings: Settings) -> aioredis.Redis:
    """A pooled client whose every call gives up after ``redis_timeout_s``."""
    if not settings.redis_url:
        raise ValueError(f"strategy {settings.strategy!r} needs CACHEBENCH_REDIS_URL (or REDIS_URL)")
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        # No retries: a failing Redis must cost one timeout, and the breaker decides what next.
        retry=Retry(NoBackoff(), 0),
        max_connections=256,
    )


class RedisBackend:
    """Shared cache layer: values are visible to every process; TTL set per key by Redis."""

    name = "redis"
    in_process = False

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def get(self, key: str) -> bytes | None:
        try:
            return await self.client.get(key)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(str(exc)) from exc

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.client.set(key, value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(str(exc)) from exc

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete(key)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(str(exc)) from exc

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    def stats(self) -> dict[str, int | float]:
        pool = self.client.connection_pool
        return {"connections_in_use": len(getattr(pool, "_in_use_connections", ()))}
