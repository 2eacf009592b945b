"""Answers of two stores reduced to comparable form, and the comparison the differential test applies.

An answer is either an error (both sides refusing counts as agreement, whatever the
wording) or a map label set -> (timestamps in ms, values). Equal means the same label
sets, the same timestamps and values within a relative 1e-9 (NaN equals NaN).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

Labels = tuple[tuple[str, str], ...]
Series = dict[Labels, tuple[np.ndarray, np.ndarray]]
RTOL = 1e-9


@dataclass(frozen=True)
class Answer:
    """What one store said: series, or the error it raised."""

    series: Series | None
    error: str | None = None

    def describe(self, limit: int = 4) -> str:
        """A short human-readable account for a failure message."""
        if self.error is not None:
            return f"error: {self.error[:200]}"
        assert self.series is not None
        parts = []
        for labels, (ts, vals) in sorted(self.series.items())[:limit]:
            name = "{" + ", ".join(f"{k}={v!r}" for k, v in labels) + "}"
            pts = ", ".join(f"{t / 1000:.3f}:{v!r}" for t, v in zip(ts[:3], vals[:3], strict=True))
            parts.append(f"{name} [{len(ts)} points: {pts}{', ...' if len(ts) > 3 else ''}]")
        more = f" (+{len(self.series) - limit} more)" if len(self.series) > limit else ""
        return f"{len(self.series)} series: " + "; ".join(parts) + more


def normalize(df: pd.DataFrame) -> Series:
    """label set -> (sorted ms timestamps, values); empty label values are absent labels."""
    if df is None or df.empty:
        return {}
    cols = sorted(c for c in df.columns if c not in ("timestamp", "value"))
    ts_all = np.rint(df["timestamp"].to_numpy(dtype=float) * 1000).astype(np.int64)
    vals_all = df["value"].to_numpy(dtype=float)
    if not cols:
        groups: dict[tuple[str, ...], np.ndarray] = {(): np.arange(len(df))}
    else:
        keyed = df[cols].astype(object).where(df[cols].notna(), "").astype(str)
        groups = {(k if isinstance(k, tuple) else (k,)): v
                  for k, v in keyed.groupby(cols, sort=False).indices.items()}
    out: Series = {}
    for key, idx in groups.items():
        labels = tuple((c, v) for c, v in zip(cols, key, strict=True) if v != "")
        order = np.argsort(ts_all[idx], kind="stable")
        out[labels] = (ts_all[idx][order], vals_all[idx][order])
    return out


def run(fn: Callable[[], pd.DataFrame]) -> Answer:
    """Evaluate one side; any exception is that side's error answer."""
    try:
        return Answer(normalize(fn()))
    except Exception as exc:  # noqa: BLE001 - an error is an outcome to compare, not a test crash
        return Answer(None, f"{type(exc).__name__}: {exc}")


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b)))
    return both_nan | same


def difference(mine: Answer, theirs: Answer) -> str | None:
    """None when the answers agree, else what differs first."""
    if mine.error is not None or theirs.error is not None:
        if mine.error is not None and theirs.error is not None:
            return None
        return "only one side refused the query"
    assert mine.series is not None and theirs.series is not None
    if set(mine.series) != set(theirs.series):
        extra = sorted(set(mine.series) - set(theirs.series))[:2]
        missing = sorted(set(theirs.series) - set(mine.series))[:2]
        return f"label sets differ: embedded only {extra}, prometheus only {missing}"
    for labels, (ts, vals) in mine.series.items():
        pts, pvals = theirs.series[labels]
        if len(ts) != len(pts) or (ts != pts).any():
            only_e = sorted(set(ts.tolist()) - set(pts.tolist()))[:3]
            only_p = sorted(set(pts.tolist()) - set(ts.tolist()))[:3]
            return (f"{dict(labels)}: timestamps differ ({len(ts)} vs {len(pts)} points; "
                    f"embedded only {[t / 1000 for t in only_e]}, "
                    f"prometheus only {[t / 1000 for t in only_p]})")
        bad = np.flatnonzero(~_close(vals, pvals))
        if len(bad):
            i = int(bad[0])
            return (f"{dict(labels)}: {len(bad)} values differ, first at {ts[i] / 1000:.3f}: "
                    f"embedded {vals[i]!r} vs prometheus {pvals[i]!r}")
    return None


@dataclass(frozen=True)
class Case:
    """One evaluation: an expression at an instant, or over a range at a step."""

    source: str
    expr: str
    kind: str  # "instant" | "range"
    start: float
    end: float = math.nan
    step: float = math.nan

    def where(self) -> str:
        """The evaluation time(s) as a failure message names them."""
        if self.kind == "instant":
            return f"instant at {self.start:.3f}"
        return f"range {self.start:.3f}..{self.end:.3f} step {self.step:g}s"


class Store(Protocol):
    """What both stores offer: PromQL at an instant and over a range."""

    def query(self, expr: str, at: float) -> pd.DataFrame:
        """The expression at one instant."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
        """The expression at each step of [start, end]."""


def _call(store: Store, case: Case) -> Callable[[], pd.DataFrame]:
    if case.kind == "instant":
        return lambda: store.query(case.expr, case.start)
    return lambda: store.query_range(case.expr, case.start, case.end, case.step)


_REMOTE: dict[str, Store] = {}


def _remote_answer(url: str, case: Case) -> Answer:
    """One case answered by Prometheus, in a worker process (its JSON parsing then holds no GIL of ours)."""
    from streamverse.collectors.prometheus_store import PrometheusStore

    store = _REMOTE.get(url)
    if store is None:
        store = _REMOTE[url] = PrometheusStore(url, retries=1, timeout_s=60)
    return run(_call(store, case))


def compare_all(cases: list[Case], embedded: Store, prometheus_url: str,
                workers: int = 2) -> list[tuple[Case, str, Answer, Answer]]:
    """Every case on both sides (Prometheus from worker processes meanwhile); returns the disagreements."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        remote: list[Future[Answer]] = [pool.submit(_remote_answer, prometheus_url, c) for c in cases]
        local = [run(_call(embedded, c)) for c in cases]
        answers = [f.result() for f in remote]
    out = []
    for case, mine, theirs in zip(cases, local, answers, strict=True):
        diff = difference(mine, theirs)
        if diff is not None:
            out.append((case, diff, mine, theirs))
    return out
