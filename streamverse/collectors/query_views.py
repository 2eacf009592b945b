"""`GET /metrics/query` and `/metrics/query_range`: store reads for dashboards, downsampled and cached.

Why here and not in the browser: a 30-day range at one-minute steps is 43,200 points a
series, far more than a chart can draw usefully or a page can ship quickly. The server
cuts each series to at most `max_points` with MinMaxLTTB (keeps peaks and dips, unlike
plain decimation), caches answers for a few seconds so ten open dashboards cost one
query, and says how fresh the data is: when the store fails, the last good answer is
served flagged `reachable: false` with its age, never a flat line pretending to be live.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request

from streamverse.api.deps import ClockDep, ViewerDep, get_store
from streamverse.errors import ConfigError, StreamVerseError

router = APIRouter(prefix="/metrics", tags=["metrics"])

CACHE_TTL_S = 10.0
CACHE_ENTRIES = 256
MAX_POINTS = 2000
MAX_SERIES = 200
STALE_AFTER_S = 300.0
MIN_STEP_S = 15.0


class AnswerCache:
    """A small TTL cache of answers plus the last good answer per key (served when the store fails)."""

    def __init__(self, *, ttl_s: float = CACHE_TTL_S, entries: int = CACHE_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.entries = entries
        self._fresh: OrderedDict[tuple[Any, ...], tuple[float, dict[str, Any]]] = OrderedDict()
        self._last_good: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], now: float) -> dict[str, Any] | None:
        """The cached answer when younger than the TTL."""
        with self._lock:
            hit = self._fresh.get(key)
            if hit is None or now - hit[0] > self.ttl_s:
                return None
            return hit[1]

    def put(self, key: tuple[Any, ...], now: float, answer: dict[str, Any]) -> None:
        """Remember an answer (and keep it as the fallback for this key)."""
        with self._lock:
            for book, value in ((self._fresh, (now, answer)), (self._last_good, answer)):
                book[key] = value  # type: ignore[index]
                book.move_to_end(key)
                while len(book) > self.entries:
                    book.popitem(last=False)

    def last_good(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        """The newest answer this key ever had."""
        with self._lock:
            return self._last_good.get(key)


def _cache(request: Request) -> AnswerCache:
    state = request.app.state
    cache = getattr(state, "metrics_query_cache", None)
    if cache is None:
        cache = state.metrics_query_cache = AnswerCache()
    return cache


def downsample(ts: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points chosen by MinMaxLTTB; NaN gaps dropped first."""
    ok = np.isfinite(values)
    if not ok.all():
        ts, values = ts[ok], values[ok]
    if len(ts) <= max_points:
        return ts, values
    from tsdownsample import MinMaxLTTBDownsampler

    order = np.argsort(ts, kind="stable") if np.any(np.diff(ts) < 0) else None
    if order is not None:
        ts, values = ts[order], values[order]
    idx = MinMaxLTTBDownsampler().downsample(
        ts.astype(np.float64), values.astype(np.float64), n_out=max(max_points, 4)
    )
    return ts[idx], values[idx]


def _series(df: pd.DataFrame, *, max_points: int, max_series: int) -> tuple[list[dict[str, Any]], bool]:
    if df is None or df.empty:
        return [], False
    label_cols = [c for c in df.columns if c not in ("timestamp", "value")]
    groups = df.groupby(label_cols, sort=True, dropna=False) if label_cols else [((), df)]
    out: list[dict[str, Any]] = []
    truncated = False
    for key, part in groups:
        if len(out) >= max_series:
            truncated = True
            break
        keys = key if isinstance(key, tuple) else (key,)
        labels = {c: str(v) for c, v in zip(label_cols, keys, strict=False) if isinstance(v, str) and v != ""}
        ts, vals = downsample(
            part["timestamp"].to_numpy(dtype=np.float64), part["value"].to_numpy(dtype=np.float64), max_points
        )
        out.append(
            {
                "labels": labels,
                "timestamps": [round(float(t), 3) for t in ts],
                "values": [float(v) if math.isfinite(v) else None for v in vals],
            }
        )
    return out, truncated


def _freshness(df: pd.DataFrame, series: list[dict[str, Any]], now: float) -> dict[str, Any]:
    attrs = dict(getattr(df, "attrs", {}) or {})
    latest = max((s["timestamps"][-1] for s in series if s["timestamps"]), default=None)
    age = attrs.get("age_s")
    if age is None and latest is not None:
        age = max(0.0, now - latest)
    stale = bool(attrs.get("stale", False)) or (age is not None and age > STALE_AFTER_S)
    return {
        "reachable": bool(attrs.get("reachable", True)),
        "stale": stale,
        "age_s": None if age is None else round(float(age), 3),
        "latest_ts": latest,
        "backend": attrs.get("backend") or "embedded",
        "error": attrs.get("error"),
    }


def _answer(
    request: Request,
    key: tuple[Any, ...],
    now: float,
    run: Any,
    meta: dict[str, Any],
    *,
    max_points: int,
    max_series: int,
) -> dict[str, Any]:
    cache = _cache(request)
    hit = cache.get(key, now)
    if hit is not None:
        return {**hit, "cached": True}
    try:
        df = run(get_store(request))
    except (ConfigError, ValueError) as exc:
        raise HTTPException(422, detail=f"cannot run this query: {exc}") from None
    except StreamVerseError as exc:
        if type(exc).__name__ in ("PromQLError", "UsageError", "PrometheusQueryError", "SelectorError"):
            raise HTTPException(422, detail=f"cannot run this query: {exc}") from None
        return _unreachable(cache, key, now, meta, str(exc))
    except Exception as exc:  # the store itself failed (file gone, locked, server down)
        return _unreachable(cache, key, now, meta, f"{type(exc).__name__}: {exc}")
    series, truncated = _series(df, max_points=max_points, max_series=max_series)
    answer = {
        **meta,
        "series": series,
        "truncated": truncated,
        **_freshness(df, series, now),
        "answered_at": now,
        "cached": False,
    }
    if answer["reachable"]:
        cache.put(key, now, answer)
        return answer
    old = cache.last_good(key)
    if old is not None and not series:
        return {
            **old,
            "reachable": False,
            "stale": True,
            "error": answer["error"],
            "age_s": _age(old, now),
            "cached": True,
        }
    return answer


def _age(old: dict[str, Any], now: float) -> float | None:
    latest = old.get("latest_ts")
    return None if latest is None else round(now - float(latest), 3)


def _unreachable(
    cache: AnswerCache, key: tuple[Any, ...], now: float, meta: dict[str, Any], error: str
) -> dict[str, Any]:
    old = cache.last_good(key)
    if old is not None:
        return {
            **old,
            "reachable": False,
            "stale": True,
            "error": error,
            "age_s": _age(old, now),
            "cached": True,
        }
    return {
        **meta,
        "series": [],
        "truncated": False,
        "reachable": False,
        "stale": True,
        "age_s": None,
        "latest_ts": None,
        "backend": "unknown",
        "error": error,
        "answered_at": now,
        "cached": False,
    }


Expr = Annotated[str, Query(min_length=1, max_length=2000, description="PromQL subset, e.g. rate(x[5m])")]
MaxPoints = Annotated[int, Query(ge=10, le=MAX_POINTS, description="points per series at most")]
MaxSeries = Annotated[int, Query(ge=1, le=1000, description="series at most")]
Epoch = Annotated[float | None, Query(ge=0, le=1e11, description="epoch seconds")]
Step = Annotated[float | None, Query(gt=0, le=86400, description="seconds; chosen from the range when unset")]


@router.get("/query", summary="A PromQL expression at one instant, with data age and store health")
def query(
    request: Request,
    _t: ViewerDep,
    clock: ClockDep,
    expr: Expr,
    at: Epoch = None,
    max_series: MaxSeries = MAX_SERIES,
) -> dict[str, Any]:
    """Latest value of each matching series at `at`."""
    now = clock.now()
    when = now if at is None else at
    key = ("query", expr, None if at is None else round(at, 3), max_series)
    return _answer(
        request,
        key,
        now,
        lambda store: store.query(expr, when),
        {"expr": expr, "at": when},
        max_points=MAX_POINTS,
        max_series=max_series,
    )


@router.get("/query_range", summary="A PromQL expression over a range, <= max_points per series (MinMaxLTTB)")
def query_range(
    request: Request,
    _t: ViewerDep,
    clock: ClockDep,
    expr: Expr,
    start: Epoch = None,
    end: Epoch = None,
    step: Step = None,
    max_points: MaxPoints = MAX_POINTS,
    max_series: MaxSeries = MAX_SERIES,
) -> dict[str, Any]:
    """Values at each step in [start, end] (default: the last hour), each series cut with MinMaxLTTB."""
    now = clock.now()
    stop = now if end is None else end
    begin = stop - 3600.0 if start is None else start
    if begin > stop:
        raise HTTPException(422, detail="start is after end")
    span = stop - begin
    # Twice the drawn resolution is enough for MinMaxLTTB to find the extremes, and bounded work.
    chosen = step or max(MIN_STEP_S, math.ceil(span / (2 * max_points)))
    if span / chosen > 50 * MAX_POINTS:
        raise HTTPException(
            422,
            detail=f"step {chosen}s is too fine for a {span:.0f}s range; "
            f"use at least {math.ceil(span / (50 * MAX_POINTS))}s",
        )
    # Open-ended ranges ("the last hour") share a cache entry across callers within the TTL.
    first = None if start is None else round(begin, 3) if end is not None else ("span", round(span))
    key = ("range", expr, first, None if end is None else round(stop, 3), chosen, max_points, max_series)
    return _answer(
        request,
        key,
        now,
        lambda store: store.query_range(expr, begin, stop, chosen),
        {"expr": expr, "start": begin, "end": stop, "step": chosen},
        max_points=max_points,
        max_series=max_series,
    )
