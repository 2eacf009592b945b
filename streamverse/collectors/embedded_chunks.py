"""Chunk-level helpers of the embedded store: merging, de-duplicating and summarising sample chunks.

Pure functions over arrays (plus the SQL insert of finished chunks), split from `embedded`
so that the store class reads as storage and queries, and these as the data layout.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import LargeBinary, inspect, text
from sqlalchemy.engine import Connection, Engine

from streamverse.collectors import chunk_codec
from streamverse.collectors.promql_values import reset_increments

ROLLUP_S = 3600  # bucket of the per-chunk summaries that hour-aligned rate() reads instead of samples
_SUMMARY_MIN = 2048  # smaller raw chunks (live flushes) are summarised when queried, not when written
SUMMARY_CACHE_BYTES = 128 * 2**20  # decoded summaries kept in memory: 30 days of hours x ~3,000 series


def grouped(sids: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Split flat (series, ts, value) arrays per series, time-sorted, last write wins on equal ts."""
    order = np.lexsort((np.arange(len(sids)), ts, sids))
    sids, ts, vals = sids[order], ts[order], vals[order]
    # Keep the last of each (series, ts) run: later writes replace earlier ones.
    keep = np.ones(len(sids), dtype=bool)
    keep[:-1] = (sids[1:] != sids[:-1]) | (ts[1:] != ts[:-1])
    sids, ts, vals = sids[keep], ts[keep], vals[keep]
    cuts = np.flatnonzero(np.diff(sids)) + 1
    starts = np.append(0, cuts)
    return [(int(sids[s]), t, v)
            for s, t, v in zip(starts, np.split(ts, cuts), np.split(vals, cuts), strict=True)]


def disjoint_raw(chunks: list[tuple[Any, ...]]) -> bool:
    """Raw chunks only, disjoint in time: sorted by start (in place), their concatenation is the series.

    Disjoint chunks never hold the same timestamp, so which was written last does not matter.
    """
    if any(c[0] != 0 for c in chunks):
        return False
    chunks.sort(key=itemgetter(1))
    return all(chunks[i][1] > chunks[i - 1][2] for i in range(1, len(chunks)))


def dedupe(ts: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time; on equal timestamps the later element (later chunk) wins."""
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        order = np.argsort(ts, kind="stable")
        ts, vals = ts[order], vals[order]
        keep = np.append(ts[1:] != ts[:-1], True)
        ts, vals = ts[keep], vals[keep]
    return ts, vals


def merge_resolutions(by_res: dict[int, list[tuple[np.ndarray, list[np.ndarray]]]]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Coarse data only before the first finer sample; increments recomputed at the seams."""
    if len(by_res) == 1 and 0 in by_res:  # the common case: raw only, increments left implicit
        chunks = by_res[0]
        if len(chunks) == 1:
            ts, vals = chunks[0][0], chunks[0][1][0]
        else:
            ts = np.concatenate([c[0] for c in chunks])
            vals = np.concatenate([c[1][0] for c in chunks])
        return (*dedupe(ts, vals), None)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    bound = None
    for res in sorted(by_res):  # raw (0) first, then 300, 3600
        chunks = by_res[res]
        ts = np.concatenate([c[0] for c in chunks])
        vals = np.concatenate([c[1][0] for c in chunks])
        if res == 0:
            ts, vals = dedupe(ts, vals)
            given = None
        else:
            given = np.concatenate([c[1][1] for c in chunks])
            order = np.argsort(ts, kind="stable")
            ts, vals, given = ts[order], vals[order], given[order]
        if bound is not None:
            sel = ts < bound
            ts, vals, given = ts[sel], vals[sel], (None if given is None else given[sel])
        if len(ts):
            pieces.append((ts, vals, given))
            bound = ts[0] if bound is None else min(bound, ts[0])
    pieces.reverse()  # oldest (coarsest) first
    ts = np.concatenate([p[0] for p in pieces])
    vals = np.concatenate([p[1] for p in pieces])
    inc = reset_increments(vals)
    pos = 0
    for p_ts, _, given in pieces:
        if given is not None:  # stored increments are exact; the very first sample stays its value
            skip = 1 if pos == 0 else 0
            inc[pos + skip: pos + len(p_ts)] = given[skip:]
        pos += len(p_ts)
    return ts, vals, inc


def insert_chunks(conn: Connection, rows: list[tuple[int, int, np.ndarray, list[np.ndarray]]]) -> None:
    if rows:
        conn.execute(
            text("INSERT INTO metric_chunks (series_id, res, t_min, t_max, n, data, summary) "
                 "VALUES (:s, :r, :lo, :hi, :n, :d, :sm)"),
            [{"s": sid, "r": res, "lo": int(ts[0]), "hi": int(ts[-1]), "n": len(ts),
              "d": chunk_codec.encode(ts, *cols),
              "sm": _encode_summary(ts, cols[0]) if res == 0 and len(ts) >= _SUMMARY_MIN else None}
             for sid, res, ts, cols in rows if len(ts)])


def _encode_summary(ts: np.ndarray, vals: np.ndarray) -> bytes:
    first_ts, cols = summarize(ts, vals, ROLLUP_S * 1000)
    return chunk_codec.encode(first_ts, *cols)


def summarize(ts: np.ndarray, vals: np.ndarray, bucket_ms: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per time bucket of one sorted raw series: first ts, [last ts, first value, last value, count, inc].

    `inc` is the reset-adjusted increase between the bucket's first and last sample, so a
    window made of whole buckets has the exact count, edge samples and increase of the raw data.
    """
    if len(ts) == 0:
        return ts, [np.empty(0) for _ in range(5)]
    key = ts // bucket_ms
    starts = np.concatenate(([0], np.flatnonzero(key[1:] != key[:-1]) + 1))
    ends = np.append(starts[1:], len(ts)) - 1
    steps = np.zeros(len(ts))
    d = np.diff(vals)
    steps[1:] = np.where(d >= 0, d, vals[1:])  # Prometheus' reset rule per consecutive pair
    steps[starts] = 0.0  # the step into a bucket belongs between buckets (the reader adds it)
    inc = np.add.reduceat(steps, starts)
    return ts[starts], [ts[ends].astype(np.float64), vals[starts], vals[ends],
                        (ends - starts + 1).astype(np.float64), inc]


class _DecodedCache:
    """Decoded chunk summaries keyed by their bytes (so never stale), least recently used dropped first.

    Dashboards repeat the same long-range queries; summaries are small (~1/60 of the samples),
    so a few MB hold months of hourly buckets for thousands of series.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[bytes, tuple[np.ndarray, list[np.ndarray]]] = OrderedDict()
        self.lock = threading.Lock()

    def decode(self, blob: bytes) -> tuple[np.ndarray, list[np.ndarray]]:
        with self.lock:
            hit = self.items.get(blob)
            if hit is not None:
                self.items.move_to_end(blob)
                return hit
        got = chunk_codec.decode(blob)
        cost = len(blob) + got[0].nbytes * (1 + len(got[1]))
        with self.lock:
            self.items[blob] = got
            self.size += cost
            while self.size > self.max_bytes and self.items:
                old, (ts, cols) = self.items.popitem(last=False)
                self.size -= len(old) + ts.nbytes * (1 + len(cols))
        return got


SUMMARIES = _DecodedCache(SUMMARY_CACHE_BYTES)


def add_summary_column(engine: Engine) -> None:
    """Stores created before chunk summaries existed get the (nullable) column."""
    if "summary" not in {c["name"] for c in inspect(engine).get_columns("metric_chunks")}:
        kind = LargeBinary().compile(dialect=engine.dialect)
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE metric_chunks ADD COLUMN summary {kind}"))


def frame(ts: np.ndarray, values: np.ndarray, labels: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": ts, "value": values})
    for k, v in labels.items():
        frame[k] = v
    return frame


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One long frame (timestamp, value, labels...); an empty one still has the two columns."""
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    return pd.concat(frames, ignore_index=True)

