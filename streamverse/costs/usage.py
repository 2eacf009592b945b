"""Usage read from the metric store, by quantity, per day (or finer) and per label.

Which series measure what is one table, `SOURCES`: for each quantity an ordered list of
selectors, the metered `streamverse_usage_*` series first and the platform counters they
are derived from after, so a store written by a simulator without the meter still
prices. The first source with data in the period wins and is named in the report.
A quantity with no source is `None` (no data), never zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from streamverse.metricstore import MetricStore

DAY_S = 86400
# Per-title usage is metered for the top titles of each interval; the rest are summed under this id.
OTHER_VIDEOS = "other"


@dataclass(frozen=True)
class Source:
    """One selector that measures a quantity, and the labels it is broken down by."""

    selector: str
    by: tuple[str, ...]
    kind: str = "counter"  # counter: increase over the window; gauge: average over it
    note: str = ""


# quantity -> candidate sources, best first. Renaming a series is an edit here only.
SOURCES: dict[str, tuple[Source, ...]] = {
    "cdn_egress_bytes": (
        Source('streamverse_usage_egress_bytes_total{tier="edge"}', ("region", "pop"), note="metered"),
        Source("streamverse_edge_bytes_sent_total", ("region", "pop"), note="edge counter"),
    ),
    "cache_fill_bytes": (
        Source(
            'streamverse_usage_egress_bytes_total{tier="shield"}', ("region",), note="metered shield egress"
        ),
        Source("streamverse_shield_bytes_sent_total", ("region",), note="shield counter"),
    ),
    "origin_egress_bytes": (
        Source('streamverse_usage_egress_bytes_total{tier="origin"}', ("origin",), note="metered"),
        Source("streamverse_origin_bytes_sent_total", ("origin",), note="origin counter"),
    ),
    "edge_requests": (
        Source('streamverse_usage_requests_total{tier="edge"}', ("region", "pop"), note="metered"),
        Source("streamverse_edge_requests_total", ("region", "pop"), note="edge counter"),
    ),
    "edge_miss_requests": (
        Source('streamverse_edge_requests_total{cache="miss"}', ("region", "pop"), note="edge counter"),
    ),
    "edge_hit_requests": (
        Source('streamverse_edge_requests_total{cache="hit"}', ("region", "pop"), note="edge counter"),
    ),
    "api_requests": (
        Source('streamverse_usage_requests_total{tier="gateway"}', (), note="metered"),
        Source("streamverse_gateway_requests_total", (), note="gateway counter"),
    ),
    "transcode_cpu_seconds": (
        Source('streamverse_usage_transcode_cpu_seconds_total{basis!="wall"}', (), note="metered CPU"),
        Source(
            'streamverse_usage_transcode_cpu_seconds_total{basis="wall"}', (), note="metered encode wall time"
        ),
        Source("streamverse_transcode_rendition_seconds_sum", (), note="encode wall time"),
    ),
    "transcode_jobs": (
        Source('streamverse_transcode_jobs_total{status="succeeded"}', (), note="job counter"),
    ),
    "stored_bytes": (
        Source("streamverse_usage_stored_bytes", ("storage_class",), kind="gauge", note="metered"),
        Source("streamverse_object_store_bytes", ("storage_class",), kind="gauge", note="object store gauge"),
    ),
    "playback_seconds": (Source("streamverse_playback_seconds_total", ("region",), note="player counter"),),
    "sessions": (Source("streamverse_playback_sessions_total", ("region",), note="player counter"),),
    "video_egress_bytes": (
        Source(
            "streamverse_usage_video_egress_bytes_total",
            ("video_id",),
            note=f"metered per title (top titles per interval, the rest as {OTHER_VIDEOS!r})",
        ),
    ),
}


def _expr(src: Source, secs: int) -> str:
    fn = "avg_over_time" if src.kind == "gauge" else "increase"
    inner = f"{fn}({src.selector}[{secs}s])"
    return f"sum by ({', '.join(src.by)}) ({inner})" if src.by else f"sum({inner})"


def _tidy(df: pd.DataFrame | None, src: Source, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    cols = [*extra, *src.by, "value"]
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=cols)
    df = df[[c for c in cols if c in df.columns]].copy()
    for c in src.by:
        if c not in df.columns:
            df[c] = ""
    df["value"] = df["value"].astype(float).clip(lower=0.0)
    return df[~df["value"].isna()]


def _window(store: MetricStore, src: Source, start: float, end: float) -> pd.DataFrame:
    """Usage of one source in (start, end]: one row per label set, column `value`."""
    secs = max(1, int(round(end - start)))
    return _tidy(store.query(_expr(src, secs), end), src)


def _windows(store: MetricStore, src: Source, start: float, n: int, bucket_s: float) -> pd.DataFrame:
    """`n` whole buckets from `start` in one range query: columns start, end, labels, value."""
    secs = max(1, int(round(bucket_s)))
    df = store.query_range(_expr(src, secs), start + bucket_s, start + n * bucket_s, bucket_s)
    df = _tidy(df, src, ("timestamp",))
    df.insert(0, "end", df.pop("timestamp").astype(float))
    df.insert(0, "start", df["end"] - bucket_s)
    return df


@dataclass
class Usage:
    """One quantity over a set of windows: rows (window start, labels, value), and where it came from."""

    quantity: str
    source: Source
    frame: pd.DataFrame  # columns: start, end, <labels...>, value

    def total(self) -> float:
        """Everything in the period."""
        return float(self.frame["value"].sum())

    def by(self, *labels: str) -> pd.DataFrame:
        """Summed by window start and the given labels."""
        return self.frame.groupby(["start", *labels], as_index=False)["value"].sum()


def bucketed(
    store: MetricStore, quantity: str, *, start: float, end: float, bucket_s: float = DAY_S,
) -> Usage | None:
    """A quantity in consecutive buckets from `start` (the last one may be partial); None: no data."""
    flush = getattr(store, "flush", None)
    if flush is not None:
        flush()
    edges = []
    t = start
    while t < end - 1e-9:
        edges.append((t, min(t + bucket_s, end)))
        t += bucket_s
    whole = [e for e in edges if abs((e[1] - e[0]) - bucket_s) < 1e-6]
    for src in SOURCES[quantity]:
        frames = []
        if whole:
            df = _windows(store, src, start, len(whole), bucket_s)
            if len(df):
                frames.append(df)
        for a, b in edges[len(whole) :]:
            df = _window(store, src, a, b)
            if len(df):
                df.insert(0, "end", b)
                df.insert(0, "start", a)
                frames.append(df)
        if frames:
            return Usage(quantity, src, pd.concat(frames, ignore_index=True))
    return None


def describe_sources() -> list[dict[str, Any]]:
    """The mapping table as rows, for reports and `--json` output."""
    return [
        {"quantity": q, "selector": s.selector, "by": list(s.by), "kind": s.kind, "note": s.note}
        for q, srcs in SOURCES.items()
        for s in srcs
    ]


def is_missing(value: float | None) -> bool:
    """No data: None or NaN (zero is a measurement)."""
    return value is None or (isinstance(value, float) and math.isnan(value))
