"""The circuit breaker on a fake clock: when it opens, lets a probe through, and is clean."""

from __future__ import annotations

from conftest import FakeClock

from cachebench.serve.breaker import CircuitBreaker

# -- CircuitBreaker -----------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=3, cooldown_s=2.0, timer=clock)
    for _ in range(2):
        breaker.record_failure()
        assert breaker.allow() and not breaker.is_open
    breaker.record_failure()
    assert breaker.is_open
    assert not breaker.allow()


def test_breaker_success_resets_the_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=3, cooldown_s=2.0, timer=clock)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.allow() and not breaker.is_open


def test_breaker_lets_one_probe_through_after_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=2, cooldown_s=2.0, timer=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.tick(1.99)
    assert not breaker.allow()
    clock.tick(0.01)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else still skips while the probe runs
    breaker.record_success()
    assert breaker.allow() and breaker.allow()
    assert not breaker.is_open


def test_breaker_failed_probe_opens_for_another_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=2, cooldown_s=2.0, timer=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.tick(2)
    assert breaker.allow()
    breaker.record_failure()  # one failed probe is enough to open again
    clock.tick(1.9)
    assert not breaker.allow()
    clock.tick(0.1)
    assert breaker.allow()
    assert breaker.is_open


def test_breaker_is_clean_only_with_no_failure_since_the_last_success(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=3, cooldown_s=2.0, timer=clock)
    assert breaker.clean
    breaker.record_failure()
    assert not breaker.clean and not breaker.is_open  # closed, but a success would change it
    breaker.record_success()
    assert breaker.clean


def test_breaker_is_unsettled_for_settle_s_after_the_success_that_ends_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failures_before_open=2, cooldown_s=2.0, timer=clock, settle_s=0.5)
    breaker.record_success()
    assert breaker.settled  # a success with no failure before it starts nothing
    breaker.record_failure()
    assert breaker.settled  # failing, not yet answering again
    breaker.record_success()
    clock.tick(0.49)
    assert not breaker.settled
    clock.tick(0.01)
    assert breaker.settled
