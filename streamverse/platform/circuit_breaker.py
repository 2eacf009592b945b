"""A circuit breaker toward one upstream: stop calling a service that is failing.

Closed: calls pass and outcomes are counted. Enough failures (N in a row, or a failure
rate over a sliding window of recent calls) open it: calls are refused at once for
`open_s`, so the gateway answers 503 in microseconds instead of waiting on timeouts and
the upstream gets room to recover. Then half-open: a few probe calls go through; if they
succeed it closes, if one fails it opens again.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from streamverse.clock import Clock


class BreakerState(StrEnum):
    """The three states; the numeric code is what the metrics gauge shows."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    @property
    def code(self) -> int:
        """0 closed, 1 half-open, 2 open: higher is worse on a dashboard."""
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]


class CircuitBreaker:
    """Per-upstream breaker; time from the injected clock so tests need not sleep."""

    def __init__(self, name: str, *, clock: Clock, consecutive_failures: int = 5,
                 failure_rate: float | None = 0.5, window: int = 20, min_calls: int = 10,
                 open_s: float = 5.0, half_open_probes: int = 1) -> None:
        if consecutive_failures < 1 or half_open_probes < 1 or open_s <= 0:
            raise ValueError("breaker needs consecutive_failures >= 1, half_open_probes >= 1, open_s > 0")
        self.name = name
        self._clock = clock
        self._consecutive_limit = consecutive_failures
        self._rate_limit = failure_rate
        self._min_calls = min_calls
        self._open_s = open_s
        self._probes = half_open_probes
        self._outcomes: deque[bool] = deque(maxlen=window)  # True = failure
        self._failures_in_window = 0
        self._consecutive = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_out = 0
        self._probe_successes = 0
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        """The current state, moving open -> half-open once the open period is over."""
        if self._state is BreakerState.OPEN and self._clock.now() >= self._opened_at + self._open_s:
            self._state = BreakerState.HALF_OPEN
            self._probes_out = 0
            self._probe_successes = 0
        return self._state

    def allow(self) -> bool:
        """May a call go to the upstream now? In half-open, only the probe calls may."""
        state = self._state
        if state is BreakerState.CLOSED:
            return True
        state = self.state
        if state is BreakerState.OPEN:
            return False
        if state is BreakerState.HALF_OPEN and self._probes_out < self._probes:
            self._probes_out += 1
            return True
        return state is BreakerState.CLOSED

    def retry_after_s(self) -> float:
        """Seconds until the breaker lets a probe through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._open_s - self._clock.now())

    def record_success(self) -> None:
        """A call returned a usable answer."""
        if self._state is BreakerState.HALF_OPEN:
            self._probe_successes += 1
            if self._probe_successes >= self._probes:
                self._close()
            return
        self._consecutive = 0
        self._push(False)

    def record_failure(self) -> None:
        """A call failed (transport error, timeout, upstream error status)."""
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        if self._state is BreakerState.OPEN:
            return
        self._consecutive += 1
        self._push(True)
        if self._consecutive >= self._consecutive_limit:
            self._open()
        elif (self._rate_limit is not None and len(self._outcomes) >= self._min_calls
              and self._failures_in_window / len(self._outcomes) >= self._rate_limit):
            self._open()

    def _push(self, failed: bool) -> None:
        window = self._outcomes
        if len(window) == window.maxlen and window[0]:
            self._failures_in_window -= 1
        window.append(failed)
        self._failures_in_window += failed

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock.now()
        self.opened_count += 1

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._outcomes.clear()
        self._failures_in_window = 0
        self._consecutive = 0

    def snapshot(self) -> dict[str, object]:
        """State for /health and metrics."""
        return {"name": self.name, "state": self.state.value, "opened_count": self.opened_count,
                "consecutive_failures": self._consecutive,
                "window_failure_rate": (self._failures_in_window / len(self._outcomes)
                                        if self._outcomes else 0.0)}
