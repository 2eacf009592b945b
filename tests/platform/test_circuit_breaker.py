"""Circuit breaker transitions on a virtual clock."""

from __future__ import annotations

import pytest

from streamverse.clock import VirtualClock
from streamverse.platform.circuit_breaker import BreakerState, CircuitBreaker


def test_consecutive_failures_open_then_half_open_probe_closes():
    clock = VirtualClock(0.0)
    b = CircuitBreaker("catalog", clock=clock, consecutive_failures=3, failure_rate=None, open_s=5)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_success()  # resets the run
    for _ in range(3):
        b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()
    assert b.retry_after_s() == pytest.approx(5)
    clock.advance(4.9)
    assert not b.allow()
    clock.advance(0.1)
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the single probe
    assert not b.allow()  # others wait for its outcome
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert b.allow()
    assert b.opened_count == 1


def test_failed_probe_reopens():
    clock = VirtualClock(0.0)
    b = CircuitBreaker("playback", clock=clock, consecutive_failures=1, open_s=2, half_open_probes=2)
    b.record_failure()
    clock.advance(2)
    assert b.allow() and b.allow() and not b.allow()
    b.record_success()
    assert b.state is BreakerState.HALF_OPEN  # needs both probes
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert b.retry_after_s() == pytest.approx(2)
    assert b.opened_count == 2


def test_failure_rate_over_window_opens():
    clock = VirtualClock(0.0)
    b = CircuitBreaker("accounts", clock=clock, consecutive_failures=100, failure_rate=0.5, window=10,
                       min_calls=10)
    for i in range(9):  # alternate: never 100 in a row
        (b.record_failure if i % 2 else b.record_success)()
    assert b.state is BreakerState.CLOSED  # 4/9 and below min_calls
    b.record_failure()  # 5/10
    assert b.state is BreakerState.OPEN
    assert b.snapshot()["state"] == "open"


def test_window_slides_old_failures_out():
    clock = VirtualClock(0.0)
    b = CircuitBreaker("x", clock=clock, consecutive_failures=100, failure_rate=0.6, window=5, min_calls=5)
    for _ in range(2):
        b.record_failure()
    for _ in range(10):
        b.record_success()
    assert b.snapshot()["window_failure_rate"] == 0.0
    for _ in range(2):
        b.record_failure()
    assert b.state is BreakerState.CLOSED  # 2/5 < 0.6
    b.record_failure()
    assert b.state is BreakerState.OPEN  # 3/5


def test_state_codes_and_validation():
    assert [s.code for s in BreakerState] == [0, 2, 1]
    with pytest.raises(ValueError):
        CircuitBreaker("x", clock=VirtualClock(), open_s=0)
