"""Injected time, so live runs, fast-forward runs and tests share the same code."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time in UTC epoch seconds; components never call time.time() themselves."""

    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        ...


class RealClock:
    """The machine's clock, for live runs."""

    def now(self) -> float:
        """Seconds since the epoch, UTC."""
        return time.time()


class VirtualClock:
    """A clock that only moves when told, for fast-forward runs and tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Seconds since the epoch, UTC (virtual)."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward; time never runs backwards."""
        if seconds < 0:
            raise ValueError("a virtual clock cannot go backwards")
        self._now += seconds
        return self._now

    def set(self, at: float) -> None:
        """Jump to a later instant."""
        if at < self._now:
            raise ValueError("a virtual clock cannot go backwards")
        self._now = float(at)


def utc_iso(ts: float) -> str:
    """An ISO-8601 UTC timestamp with a Z, the one format reports and JSON use."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")
