"""The Prometheus backend: reads through prometheus-api-client, writes through promtool backfill.

A source that goes away must say so instead of drawing a flat line: every answer carries
`attrs` with `reachable`, `stale` and `age_s` (seconds since the newest sample the answer
holds, or since the last answer that had one when Prometheus is unreachable). Queries
retry with exponential backoff and never raise for an unreachable server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

from streamverse.clock import Clock, RealClock
from streamverse.collectors.embedded import concat_frames
from streamverse.collectors.selector import parse_selector
from streamverse.errors import StreamVerseError, UsageError
from streamverse.metricstore import Sample

T = TypeVar("T")


class PrometheusQueryError(UsageError):
    """Prometheus answered, but refused the query (bad expression, too many samples...)."""


@dataclass
class QueryStatus:
    """How fresh and trustworthy the last answer was."""

    reachable: bool = True
    stale: bool = False
    age_s: float | None = None
    error: str | None = None
    attempts: int = 0


class PrometheusStore:
    """A MetricStore (plus PromQL) over a real Prometheus server."""

    backend = "prometheus"

    def __init__(self, url: str, *, tsdb_path: Path | None = None, clock: Clock | None = None,
                 retries: int = 3, backoff_s: float = 0.2, timeout_s: float = 10.0,
                 stale_after_s: float = 120.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.tsdb_path = tsdb_path
        self.clock = clock or RealClock()
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.stale_after_s = stale_after_s
        self._sleep = sleep
        self.client = PrometheusConnect(url=self.url, disable_ssl=True, timeout=timeout_s)
        self.status = QueryStatus()
        self._last_sample_ts: float | None = None

    # -- plumbing --------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> tuple[T | None, QueryStatus]:
        """Run a request with retries; connection trouble becomes an unreachable status, not an error."""
        error = ""
        for attempt in range(1, self.retries + 2):
            try:
                result = fn()
                self.status = QueryStatus(reachable=True, attempts=attempt)
                return result, self.status
            except PrometheusApiClientException as exc:
                text = str(exc)
                if "HTTP Status Code 4" in text:  # the query itself is wrong: retrying cannot help
                    raise PrometheusQueryError(f"Prometheus refused the query: {text[:400]}") from None
                error = text
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt <= self.retries:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
        age = None if self._last_sample_ts is None else max(0.0, self.clock.now() - self._last_sample_ts)
        self.status = QueryStatus(reachable=False, stale=True, age_s=age,
                                  error=f"Prometheus at {self.url} unreachable: {error[:300]}",
                                  attempts=self.retries + 1)
        return None, self.status

    def _frame(self, result: list[dict[str, Any]] | None, status: QueryStatus, *, end: float) -> pd.DataFrame:
        frames = []
        newest = None
        if result and not isinstance(result[0], dict):  # a scalar answer is one bare [time, "value"] pair
            result = [{"metric": {}, "value": result}]
        for item in result or []:
            values = item.get("values") or ([item["value"]] if "value" in item else [])
            if not values:
                continue
            ts = [float(v[0]) for v in values]
            vals = [_number(v[1]) for v in values]
            frame = pd.DataFrame({"timestamp": ts, "value": vals})
            for k, v in item.get("metric", {}).items():
                frame[k] = v
            frames.append(frame)
            newest = max(newest or ts[-1], ts[-1])
        df = concat_frames(frames)
        if status.reachable:
            if newest is not None:
                self._last_sample_ts = max(self._last_sample_ts or newest, newest)
            status.age_s = None if newest is None else max(0.0, min(end, self.clock.now()) - newest)
            status.stale = status.age_s is not None and status.age_s > self.stale_after_s
        df.attrs.update(asdict(status), backend=self.backend)
        return df

    # -- MetricStore -----------------------------------------------------------------------
    def query_range(self, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
        """A PromQL expression over [start, end] at `step`, answered by Prometheus."""
        if step <= 0:
            raise ValueError("step must be positive")
        if end < start:
            raise ValueError("end is before start")
        params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}  # the client would round to seconds
        result, status = self._call(lambda: self.client.custom_query_range(
            expr, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC), f"{step:g}s",
            params=params))
        return self._frame(result, status, end=end)

    def query(self, expr: str, at: float) -> pd.DataFrame:
        """A PromQL expression at one instant."""
        result, status = self._call(lambda: self.client.custom_query(expr, params={"time": f"{at:.3f}"}))
        return self._frame(result, status, end=at)

    def range_query(self, selector: str, start: float, end: float, step: float) -> pd.DataFrame:
        """Values of the series a selector picks, at each step (selectors pass straight through)."""
        parse_selector(selector)  # same errors as the embedded store
        return self.query_range(selector, start, end, step)

    def instant_query(self, selector: str, at: float) -> pd.DataFrame:
        """The latest value at or before `at` of each matching series."""
        parse_selector(selector)
        return self.query(selector, at)

    def series(self, selector: str) -> list[dict[str, str]]:
        """Label sets of matching series (the whole retention; [] when unreachable)."""
        parse_selector(selector)
        params = {"match[]": selector}
        result, _ = self._call(lambda: self.client._session.get(  # noqa: SLF001 - the client has no match[] API
            f"{self.url}/api/v1/series", params={**params, "start": "0"}, timeout=self.timeout_s))
        if result is None:
            return []
        if result.status_code != 200:
            raise PrometheusQueryError(f"Prometheus refused the selector: {result.text[:300]}")
        return sorted(result.json()["data"], key=lambda d: sorted(d.items()))

    def write(self, samples: Sequence[Sample]) -> int:
        """History goes in as TSDB blocks via promtool (Prometheus picks them up within a minute)."""
        if not samples:
            return 0
        if self.tsdb_path is None:
            raise StreamVerseError("the Prometheus backend can only write through backfill, which needs its "
                                   "data directory: start it with streamverse (start_prometheus) or give "
                                   "tsdb_path")
        from streamverse.collectors.backfill import backfill_samples

        backfill_samples(samples, self.tsdb_path)
        return len(samples)

    def latest_timestamp(self, selector: str) -> float | None:
        """Epoch seconds of the newest sample of any matching series (None when none/unreachable)."""
        df = self.query(f"max(timestamp({selector}))", self.clock.now())
        return None if df.empty else float(df["value"].iloc[0])

    def healthy(self) -> bool:
        """Whether Prometheus answers /-/healthy right now (one try, no backoff)."""
        try:
            return requests.get(f"{self.url}/-/healthy", timeout=2.0).status_code == 200
        except requests.RequestException:
            return False

    def flush(self) -> int:
        """Nothing is buffered here: Prometheus owns its storage."""
        return 0

    def close(self) -> None:
        """Nothing to flush: Prometheus owns its storage."""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
