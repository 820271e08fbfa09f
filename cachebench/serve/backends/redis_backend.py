"""Redis as a shared cache layer (redis-py asyncio with hiredis). Named so it cannot shadow redis-py."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis import DriverInfo
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from cachebench.serve.backends import BackendUnavailable
from cachebench.settings import Settings

#: Connections RedisBackend keeps for its GETs between calls (see RedisBackend.get).
IDLE_GET_CONNECTIONS = 64
#: What each new connection tells Redis about its client (CLIENT SETINFO), worked out once. Left
#: to redis-py, every new connection looks its version up with importlib.metadata, on the event
#: loop: 0.7-4.5 ms here, once caught stalling a loaded target 50 ms, and new connections open
#: exactly when a burst has every idle one busy.
DRIVER_INFO = DriverInfo()


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
        driver_info=DRIVER_INFO,
    )


def unavailable(exc: BaseException) -> BackendUnavailable:
    """The failure as the layered cache sees it: a paused server times out, a dead one refuses."""
    return BackendUnavailable(str(exc), timed_out=isinstance(exc, (RedisTimeout, TimeoutError)))


def redis_ttl_ms(ttl_s: float) -> int:
    """The TTL as Redis keeps it: whole milliseconds (``SET ... PX``), at least 1."""
    return max(1, int(ttl_s * 1000))


class RedisBackend:
    """Shared cache layer: values are visible to every process; TTL set per key by Redis."""

    name = "redis"
    in_process = False

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        # Connections checked out of the client's pool and kept for GETs between calls (see get).
        self._idle: list[aioredis.Connection] = []

    async def get(self, key: str) -> bytes | None:
        """GET on a connection this backend keeps, rather than through ``client.get``.

        Every hit is a GET. ``client.get`` checks a connection out of the pool and back in on
        each call (an asyncio lock and a socket probe each way) inside retry and observability
        wrappers: ~49 µs of CPU per GET here, as much as the rest of a Redis hit. The same
        redis-py connection driven directly costs ~24 µs. Kept connections (at most
        ``IDLE_GET_CONNECTIONS``) stay checked out of the pool, so they count against its
        ``max_connections``, and ``aclose`` closes them.
        """
        pool = self.client.connection_pool
        try:
            connection = self._idle.pop() if self._idle else await pool.get_connection()
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc
        try:
            await connection.send_command("GET", key)
            value = await connection.read_response()
        except BaseException as exc:
            # The failed connection closed itself; the idle ones may be as dead (a restarted
            # Redis), and the pool's check does not always see that: close them all and hand
            # them back, so each reconnects on its next use.
            stale, self._idle = [connection, *self._idle], []
            for each in stale:
                await each.disconnect(nowait=True)
                await pool.release(each)
            if isinstance(exc, (RedisError, OSError)):
                raise unavailable(exc) from exc
            raise
        if len(self._idle) < IDLE_GET_CONNECTIONS:
            self._idle.append(connection)
        else:  # after a burst: the pool keeps the rest, for sets and deletes too
            await pool.release(connection)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.client.set(key, value, px=redis_ttl_ms(ttl_s))
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete(key)
        except (RedisError, OSError) as exc:
            raise unavailable(exc) from exc

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    def stats(self) -> dict[str, int | float]:
        pool = self.client.connection_pool
        checked_out = len(getattr(pool, "_in_use_connections", ()))
        return {"connections_in_use": checked_out - len(self._idle)}
