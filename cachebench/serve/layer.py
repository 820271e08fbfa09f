"""One cache backend as the layered cache uses it: its TTL, breaker, counters and header parts."""

from __future__ import annotations

from cachebench.serve import metrics
from cachebench.serve.backends import BackendUnavailable, CacheBackend
from cachebench.serve.breaker import CircuitBreaker
from cachebench.settings import Settings

#: Seconds between attempts at invalidations a layer missed (``LayeredCache._repair``).
RETRY_UNAPPLIED_S = 0.1


class Layer:
    """A backend with what the layered cache keeps beside it, built once per process."""

    def __init__(self, backend: CacheBackend, ttl_s: float, settings: Settings) -> None:
        self.backend = backend
        self.name = backend.name
        self.ttl_s = ttl_s
        gauge = metrics.CIRCUIT_OPEN.labels(self.name)
        self.breaker = CircuitBreaker(
            settings.redis_failures_before_cooldown, settings.redis_cooldown_s,
            on_change=lambda is_open: gauge.set(1 if is_open else 0),
            # Another process's missed invalidations reach a shared layer that answers again within
            # one retry interval and one call (LayeredCache._repair): its reads wait that long. A
            # layer in this process holds nothing another process must delete: no wait.
            settle_s=0.0 if backend.in_process else RETRY_UNAPPLIED_S + settings.redis_timeout_s,
        )  # fmt: skip
        self.hit = f"{self.name}; hit"
        self.miss = f"{self.name}; fwd=miss"
        self.stored = f"{self.name}; fwd=miss; stored"
        self.error = f"{self.name}; fwd=miss; detail=error"
        self.open = f"{self.name}; fwd=bypass; detail=circuit-open"
        self.gap = f"{self.name}; fwd=bypass; detail=invalidation-gap"
        self.settling = f"{self.name}; fwd=bypass; detail=settling"
        # %-format with the name already in: the Server-Timing entry is built on every read.
        self.timing = f"{self.name};dur=%.3f"
        ops = metrics.CACHE_OPERATIONS
        self.count = {
            r: metrics.TickCounter(ops.labels(self.name, r))
            for r in ("hit", "miss", "set", "delete", "error", "undecodable", "bypass")
        }
        self.hits = self.count["hit"]  # bound once: counted on every hit
        self._timeouts = {s: metrics.CACHE_TIMEOUTS.labels(self.name, s) for s in ("closed", "open")}
        self.get_nowait = getattr(backend, "get_nowait", None) if backend.in_process else None
        #: Invalidations this layer missed while it failed (key -> new value, None = delete),
        #: applied before it is read again, so a recovered Redis does not serve what a write replaced.
        self.unapplied: dict[str, bytes | None] = {}

    def failed(self, exc: BackendUnavailable, probing: bool | None) -> None:
        """Count a failed call; ``probing`` says whether a request made it with the breaker open
        (None for a background call, which no request waits on)."""
        self.breaker.record_failure()
        self.count["error"].inc()
        if exc.timed_out and probing is not None:
            self._timeouts["open" if probing else "closed"].inc()
