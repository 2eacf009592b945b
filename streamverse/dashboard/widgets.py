"""Pieces every page shares: honest notices about missing or old data, tiles, and capped charts."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import plotly.graph_objects as go
import streamlit as st

from streamverse.client import ControlClient, ReplyShapeError
from streamverse.client.models import MetricsAnswer
from streamverse.dashboard.connection import Reply, fetch

log = logging.getLogger("streamverse.dashboard")
F = TypeVar("F", bound=Callable[..., Any])
FAILED = "This part of the page failed unexpectedly"
MAX_TRACE_POINTS = 2000
CHART_POINTS = 1500
HEALTH_COLOURS = {"healthy": "#2ca02c", "degraded": "#ff9f1c", "down": "#d62728", "unknown": "#9e9e9e"}


def report_failure(exc: Exception) -> None:
    """Log the traceback for operators; show the user one sentence, never the traceback."""
    log.error("dashboard page failed", exc_info=exc)
    st.error(
        f"{FAILED} ({type(exc).__name__}: {_short(str(exc))}). The dashboard log has the details.",
        icon=":material/error:",
    )


def guarded(fn: F) -> F:
    """Run a page section (e.g. a fragment) so that a bug shows a sentence, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # ScriptControlException (rerun/stop) is a BaseException and passes
            report_failure(exc)
            return None

    return wrapper  # type: ignore[return-value]


def ago(seconds: float | None) -> str:
    """'42 s', '3 min', '2 h', '4 d' for a data age."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def explain(reply: Reply[Any], what: str) -> bool:
    """Say why `what` is missing or old; True when there is data to draw."""
    err = reply.error
    if err is None:
        return reply.data is not None
    if reply.missing:
        st.info(
            f"{what}: not available yet: this control API has no such endpoint (its area has not "
            f"landed). The page fills in once it does.",
            icon=":material/hourglass_empty:",
        )
        return False
    if isinstance(err, ReplyShapeError):
        st.error(f"{what}: the API answered in a shape this dashboard does not know: {_short(err.detail)}",
                 icon=":material/error:")
        return False
    if err.status == 401:
        st.warning(f"{what}: log in to see this.", icon=":material/lock:")
        return False
    if err.status == 403:
        st.warning(f"{what}: your role may not see this ({_short(err.detail)}).", icon=":material/lock:")
        return False
    if reply.data is not None:
        st.warning(
            f"{what}: the control API is not answering ({_short(err.detail)}); showing the last data "
            f"received, {ago(reply.age_s)} old.",
            icon=":material/cloud_off:",
        )
        return True
    if err.status in (0, 502, 503, 504):
        st.error(
            f"{what}: unreachable: {_short(err.detail)}. No data received yet in this session.",
            icon=":material/cloud_off:",
        )
    else:
        st.error(
            f"{what}: the API refused the request (HTTP {err.status}): {_short(err.detail)}",
            icon=":material/error:",
        )
    return False


def _short(detail: Any) -> str:
    text = detail if isinstance(detail, str) else str(detail)
    return text if len(text) < 300 else text[:297] + "..."


def store_notice(answer: MetricsAnswer | None) -> None:
    """Warn when the metric store is unreachable or its data old, with the age of the latest sample."""
    if answer is None:
        return
    if not answer.reachable:
        st.warning(
            f"Metric store unreachable ({_short(answer.error or 'no answer')}); latest data is "
            f"{ago(answer.age_s)} old.",
            icon=":material/cloud_off:",
        )
    elif answer.stale:
        st.warning(
            f"Metric data is stale: the latest sample is {ago(answer.age_s)} old.",
            icon=":material/schedule:",
        )


def metric(expr: str, *, window_s: float | None = None, step: float | None = None) -> MetricsAnswer | None:
    """A metrics answer (range when window_s is given, else instant); None when the API gave none."""
    if window_s is None:
        return fetch(ControlClient.metrics_query, expr).data
    # ~1,500 points a series: finer than a chart's pixels, and no downsampling work on the API.
    step = step or max(15.0, math.ceil(window_s / CHART_POINTS / 15.0) * 15.0)
    end = _now_bucket()
    return fetch(ControlClient.metrics_query_range, expr, start=end - window_s, end=end, step=step).data


def latest(expr: str, *, window_s: float = 3600.0) -> tuple[float | None, float | None]:
    """(value, timestamp) of the newest point of an expression in the last window (summed over series)."""
    answer = metric(expr, window_s=window_s, step=60.0)
    series = answer.series if answer is not None else []
    stamps = [t for s in series for t, v in zip(s.timestamps, s.values, strict=False) if v is not None]
    if not stamps:
        return None, None
    best = max(stamps)
    total = sum(
        v for s in series for t, v in zip(s.timestamps, s.values, strict=False) if t == best and v is not None
    )
    return total, best


def months(n: int = 6) -> list[str]:
    """This month and the n-1 before it, newest first (YYYY-MM)."""
    now = datetime.now(UTC)
    y, m = now.year, now.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def bars(values: dict[str, float], *, title: str, key: str, money: bool = True, height: int = 280) -> None:
    """A horizontal bar chart of a flat name -> number map, largest on top."""
    nums = [(k, float(v)) for k, v in values.items() if isinstance(v, int | float) and type(v) is not bool]
    items = sorted(nums, key=lambda x: x[1])
    if not items:
        st.caption(f"{title}: no data.")
        return
    fig = go.Figure(
        go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h", marker_color="#4c78a8")
    )
    fig.update_layout(
        title=title, height=max(height, 24 * len(items) + 80), margin={"l": 10, "r": 10, "t": 40, "b": 10}
    )
    if money:
        fig.update_xaxes(tickprefix="$", tickformat="~s")
    st.plotly_chart(fig, key=key)


def _now_bucket(size: float = 15.0) -> float:
    """Now, rounded down so reads in the same 15 s share the API's cache."""
    now = datetime.now(UTC).timestamp()
    return now - now % size


def scalar(answer: MetricsAnswer | None) -> float | None:
    """The single value of an instant answer (sum of series when several)."""
    if answer is None:
        return None
    vals = [s.values[-1] for s in answer.series if s.values and s.values[-1] is not None]
    return sum(vals) if vals else None


def line_chart(
    answer: MetricsAnswer | None,
    *,
    label: str,
    title: str,
    y_title: str = "",
    percent: bool = False,
    key: str | None = None,
) -> None:
    """One trace per series, each capped at MAX_TRACE_POINTS (the API already downsampled)."""
    if answer is None or not answer.series:
        st.caption(f"{title}: no data in this window.")
        return
    fig = go.Figure()
    for s in answer.series[:30]:
        ts, vals = s.timestamps, s.values
        if len(ts) > MAX_TRACE_POINTS:  # defensive: never ship more than the cap to the browser
            stride = math.ceil(len(ts) / MAX_TRACE_POINTS)
            ts, vals = ts[::stride], vals[::stride]
        name = (
            s.labels.get(label)
            or ",".join(f"{k}={v}" for k, v in s.labels.items() if k != "__name__")
            or "value"
        )
        fig.add_trace(
            go.Scatter(x=[datetime.fromtimestamp(t, UTC) for t in ts], y=vals, mode="lines", name=name)
        )
    fig.update_layout(
        title=title,
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis_title=y_title,
        legend={"orientation": "h"},
    )
    if percent:
        fig.update_yaxes(tickformat=".1%")
    st.plotly_chart(fig, key=key)


def usd(value: object, *, cents: bool = False, compact: bool = False) -> str:
    """$1,234 (or $1.23 M when compact), or an em dash when there is no number."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    if compact:
        for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(value) >= size:
                return f"${value / size:,.2f} {unit}"
    return f"${value:,.2f}" if cents else f"${value:,.0f}"


def fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    """A number for a tile, or an em dash when there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:{spec}}{suffix}"
