"""Injected time, so live runs, fast-forward runs and tests share the same code."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Protocol

from streamverse.errors import UsageError


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


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_bounds(month: str) -> tuple[float, float]:
    """UTC epoch seconds of the first instant of YYYY-MM and of the next; UsageError says how to write it."""
    m = _MONTH.match(month.strip()) if isinstance(month, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise UsageError(f"month {month!r}: write it as YYYY-MM with the month 01 to 12, e.g. 2026-11")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()
