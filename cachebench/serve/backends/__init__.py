"""The cache-backend protocol: what L1, Redis and a user's own backend implement.

Values are opaque bytes (JSON or msgpack, never pickle); the layered cache encodes and
validates them, so a backend only stores and returns bytes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class BackendUnavailable(Exception):
    """The backend could not answer (connection refused, timeout); the caller serves from origin."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        #: The call waited its whole timeout (a stalled server), rather than failing at once.
        self.timed_out = timed_out


@runtime_checkable
class CacheBackend(Protocol):
    """One cache layer. ``name`` labels it in Cache-Status, Server-Timing and metrics."""

    name: str
    #: True when values never leave this process (so they need no validation on read).
    in_process: bool

    async def get(self, key: str) -> bytes | None: ...

    # An in-process backend may also define ``get_nowait(key) -> bytes | None``: the same
    # lookup without a coroutine, through which the layered cache serves hits without awaiting
    # (``LayeredCache.read_nowait``). It is optional, so it is not declared in this Protocol.

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    def stats(self) -> dict[str, int | float]: ...
