"""Where an SLO's current period starts: a rolling window, or a calendar-aligned one of any length.

Calendar periods (OpenSLO `isRolling: false`, native `window: calendar-month`) are laid from
their `startTime` in their time zone, N units at a time (`2w` is fortnights from startTime).
Without a startTime they align to the unit: midnight, Monday, the 1st, the quarter, January 1st.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from streamverse.slo.models import SLO

_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_DAYS = {"day": 1, "week": 7}


def _anchor(slo: SLO, tz: ZoneInfo) -> datetime:
    if slo.calendar_start:
        return datetime.fromisoformat(slo.calendar_start).replace(tzinfo=tz)
    if slo.calendar == "week":
        return datetime(1970, 1, 5, tzinfo=tz)  # a Monday
    return datetime(1970, 1, 1, tzinfo=tz)


def _add_months(d: datetime, months: int) -> datetime:
    y, m = divmod(d.month - 1 + months, 12)
    return d.replace(year=d.year + y, month=m + 1)


def calendar_start(slo: SLO, now: float) -> float:
    """Epoch seconds the calendar period holding `now` began."""
    assert slo.calendar is not None
    tz = ZoneInfo(slo.calendar_tz)
    anchor = _anchor(slo, tz)
    local = datetime.fromtimestamp(now, UTC).astimezone(tz)
    if slo.calendar in _DAYS:
        span = timedelta(days=_DAYS[slo.calendar] * slo.calendar_count)
        naive_now, naive_anchor = local.replace(tzinfo=None), anchor.replace(tzinfo=None)
        k = (naive_now - naive_anchor) // span
        return (naive_anchor + k * span).replace(tzinfo=tz).timestamp()
    step = _MONTHS[slo.calendar] * slo.calendar_count
    months = (local.year - anchor.year) * 12 + (local.month - anchor.month)
    start = _add_months(anchor, (months // step) * step)
    if start > local:
        start = _add_months(start, -step)
    return start.timestamp()


def period_bounds(slo: SLO, now: float) -> tuple[float, float]:
    """(start, seconds) of the SLO period ending now: the rolling window, or this calendar period so far."""
    if slo.calendar is not None:
        start = calendar_start(slo, now)
        return start, now - start
    return now - slo.window_s, slo.window_s


def describe(slo: SLO) -> str:
    """`30d`, `calendar-month`, `calendar-2w`: how status output names the period."""
    from streamverse.durations import format_duration

    if slo.calendar is None:
        return format_duration(slo.window_s)
    if slo.calendar_count == 1:
        return f"calendar-{slo.calendar}"
    return f"calendar-{slo.calendar_count}{slo.calendar[0] if slo.calendar != 'month' else 'M'}"
