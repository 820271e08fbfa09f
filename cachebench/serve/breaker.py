"""A circuit breaker: after N consecutive failures, stop calling a layer for a cool-down.

Written here because the maintained breakers (pybreaker, aiobreaker) wrap calls in their own
decorators and state storage; the layered cache needs two counters and a clock it can inject.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed until ``failures_before_open`` errors in a row; then open for ``cooldown_s``.

    After the cool-down one call is let through (half-open); its success closes the breaker,
    its failure opens it for another cool-down, so a dead layer costs one timeout per cool-down.
    Every call ``allow`` lets through must report how it went: a probe whose success goes
    unreported keeps the breaker open for one more cool-down.

    The first success after a failure also starts ``settle_s`` in which ``settled`` is False:
    the layer answers again, but what it holds may not be current yet (see ``LayeredCache``).
    """

    def __init__(
        self,
        failures_before_open: int,
        cooldown_s: float,
        timer: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda is_open: None,
        settle_s: float = 0.0,
    ) -> None:
        self.failures_before_open = failures_before_open
        self.cooldown_s = cooldown_s
        self._timer = timer
        #: Told when the breaker opens (True) or closes (False): the state /metrics shows.
        self._on_change = on_change
        self._consecutive_failures = 0
        self._open_until = 0.0
        self.settle_s = settle_s
        self._settled_at = 0.0

    @property
    def is_open(self) -> bool:
        return self._open_until > 0.0

    @property
    def clean(self) -> bool:
        """Closed with no failure since the last success: a success would change nothing."""
        return not self._open_until and not self._consecutive_failures

    @property
    def settled(self) -> bool:
        """No failure, or ``settle_s`` has passed since the success that ended the last ones."""
        return not self._settled_at or self._timer() >= self._settled_at

    def allow(self) -> bool:
        if not self._open_until:
            return True
        now = self._timer()
        if now < self._open_until:
            return False
        # Let this one call probe; the others keep skipping the layer until it answers.
        self._open_until = now + self.cooldown_s
        return True

    def record_success(self) -> None:
        if self._consecutive_failures or self._open_until:
            self._settled_at = self._timer() + self.settle_s
        self._consecutive_failures = 0
        if self._open_until:
            self._open_until = 0.0
            self._on_change(False)

    def record_failure(self) -> None:
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.failures_before_open:
            was_open = self.is_open
            self._open_until = self._timer() + self.cooldown_s
            if not was_open:
                self._on_change(True)
