"""The embedded metric store: series in SQLite (or PostgreSQL), samples in encoded chunks.

Writes land in an in-memory head (a list of whole batches, no per-series work), which is
flushed as one chunk per series when it is big or old enough, on `flush()` and at exit.
Reads merge the stored chunks (raw, 5m, 1h) with this process's head. Every sample keeps
a reset-adjusted increment, so `rate`/`increase` stay exact across counter resets and
across resolutions after downsampling (a downsampled point keeps the last value and the
summed increments of its bucket).

Queries over many series read them as shared flat arrays, a group of series at a time
(`iter_flat`). Large raw chunks also carry hourly summaries (first/last sample, count,
reset-adjusted increase per hour), from which `rate` over whole hours is answered exactly
without touching the samples (`iter_rollup`): a 30-day, 1,000-series `sum(rate(x[1h]))`
reads 720 rows per series instead of 43,200 samples."""

from __future__ import annotations

import atexit
import gc
import json
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from streamverse.collectors import chunk_codec
from streamverse.collectors.embedded_chunks import (  # concat_frames and summarize: public helpers
    ROLLUP_S,
    SUMMARIES,
    add_summary_column,
    concat_frames,
    disjoint_raw,
    frame,
    grouped,
    insert_chunks,
    merge_resolutions,
    summarize,
)
from streamverse.collectors.embedded_compaction import RES_1H, RES_5M, Compaction, Retention
from streamverse.collectors.embedded_series import LabelCache, labelled_series
from streamverse.collectors.embedded_stats import MetricCompaction, enable_reclaim
from streamverse.collectors.models import MetricChunk, MetricSeries
from streamverse.collectors.promql_values import FlatData, RollupData, SeriesData, reset_increments
from streamverse.collectors.selector import parse_selector
from streamverse.db import get_engine
from streamverse.metricstore import Sample

__all__ = ["LOOKBACK_S", "RES_1H", "RES_5M", "EmbeddedStore", "Retention", "canonical_labels",
           "concat_frames", "summarize"]

LOOKBACK_S = 300.0  # Prometheus' default: a series is "present" up to 5 minutes after a sample
_CHUNK = 500  # series ids per IN (...) list
BATCH_SAMPLES = 4_000_000  # samples decoded at once by a query over many series (~64 MB)
_NAME, _LABELS, _TS, _VALUE = (itemgetter(i) for i in range(4))  # Sample fields


class _Shared:
    """Per-URL state shared by every store instance in this process: head and series ids."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.head: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (sids, ts_ms, values)
        self.n = 0
        self.since = 0.0
        self.timer: threading.Timer | None = None
        self.labels: LabelCache = {}  # parsed label sets per metric name (embedded_series)


_SHARED: dict[str, _Shared] = {}


def _flush_at_exit(ref: weakref.ReferenceType[EmbeddedStore]) -> None:
    """Samples still in the head are written when the process ends; a vanished database is only reported."""
    store = ref()
    if store is None:
        return
    try:
        store.flush()
    except Exception as exc:  # noqa: BLE001 - at exit there is nobody left to raise to
        import sys

        print(f"streamverse: metric samples not flushed at exit: {exc}", file=sys.stderr)


def canonical_labels(labels: Mapping[str, str]) -> str:
    """The stored form of a label set: compact JSON with sorted keys, without `__name__`."""
    return json.dumps({k: str(labels[k]) for k in sorted(labels) if k != "__name__"},
                      separators=(",", ":"), ensure_ascii=False)


class EmbeddedStore(Compaction):
    """A MetricStore over SQLAlchemy; SQLite file by default, PostgreSQL works too."""

    backend = "embedded"

    def __init__(self, url: str, *, lookback_s: float = LOOKBACK_S, flush_samples: int = 1_000_000,
                 flush_after_s: float = 2.0, retention: Retention | None = None) -> None:
        self.url = url
        self.lookback_s = lookback_s
        self.flush_samples = flush_samples
        self.flush_after_s = flush_after_s
        self.retention = retention or Retention()
        self.engine: Engine = get_engine(url)
        enable_reclaim(self.engine)
        SQLModel.metadata.create_all(self.engine, tables=[  # type: ignore[list-item]
            MetricSeries.__table__, MetricChunk.__table__, MetricCompaction.__table__])
        add_summary_column(self.engine)
        shared = _SHARED.get(url)
        if shared is None:
            shared = _SHARED[url] = _Shared()
            ref = weakref.ref(self)
            atexit.register(_flush_at_exit, ref)
        self._sh = shared
        self._lock = shared.lock
        # Ids are cached per instance: another instance may have recreated the tables.
        self._ids: dict[tuple[str, str], int] = {}
        self._fast: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    @classmethod
    def at_path(cls, path: Path, **kw: Any) -> EmbeddedStore:
        """A store in its own SQLite file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path.resolve()}", **kw)

    # -- writing ---------------------------------------------------------------------------
    def write(self, samples: Sequence[Sample]) -> int:
        """Store samples (a repeated timestamp replaces the value); returns how many."""
        if not samples:
            return 0
        n = len(samples)
        was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived key tuples would trigger useless collections
        try:
            # C-level passes only: label dicts are resolved once per distinct object, not per sample.
            names = list(map(_NAME, samples))
            labelss = list(map(_LABELS, samples))
            ts = np.fromiter(map(_TS, samples), dtype=np.float64, count=n)
            vals = np.fromiter(map(_VALUE, samples), dtype=np.float64, count=n)
            keys = list(zip(names, map(id, labelss), strict=True))
            objs = dict(zip(map(id, labelss), labelss, strict=True))
            by_key: dict[tuple[str, int], tuple[str, tuple[tuple[str, str], ...]]] = {
                k: (k[0], tuple(objs[k[1]].items())) for k in dict.fromkeys(keys)}
            missing = [fk for fk in by_key.values() if fk not in self._fast]
            if missing:
                self._resolve(missing)
            sid_of = {k: self._fast[fk] for k, fk in by_key.items()}
            sids = np.fromiter(map(sid_of.__getitem__, keys), dtype=np.int64, count=n)
            del keys, objs, names, labelss
        finally:
            if was_enabled:
                gc.enable()
        return self._append(sids, np.rint(ts * 1000).astype(np.int64), vals)

    def write_arrays(self, name: str, labels: Mapping[str, str], timestamps: np.ndarray,
                     values: np.ndarray) -> int:
        """Bulk path for one series: epoch-second timestamps and values as arrays."""
        key = (name, tuple(labels.items()))
        if key not in self._fast:
            self._resolve({key})
        ts = np.rint(np.asarray(timestamps, dtype=np.float64) * 1000).astype(np.int64)
        return self._append(np.full(len(ts), self._fast[key], dtype=np.int64), ts,
                            np.asarray(values, dtype=np.float64))

    def _append(self, sids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> int:
        sh = self._sh
        with self._lock:
            if not sh.head:
                sh.since = time.monotonic()
                if self.flush_after_s > 0:  # so other processes see quiet writers' data soon
                    sh.timer = threading.Timer(self.flush_after_s, self.flush)
                    sh.timer.daemon = True
                    sh.timer.start()
            sh.head.append((sids, ts, values))
            sh.n += len(sids)
            if sh.n >= self.flush_samples or time.monotonic() - sh.since >= self.flush_after_s:
                self.flush()
        return len(sids)

    def _resolve(self, keys: Iterable[tuple[str, tuple[tuple[str, str], ...]]]) -> None:
        """Series ids for label sets not seen by this process yet (created when new)."""
        canon = {k: (k[0], canonical_labels(dict(k[1]))) for k in keys}
        with self._lock:
            missing = {c for c in canon.values() if c not in self._ids}
            if missing:
                with self.engine.begin() as conn:
                    conn.execute(text("INSERT INTO series (name, labels) VALUES (:name, :labels) "
                                      "ON CONFLICT (name, labels) DO NOTHING"),
                                 [{"name": n, "labels": lab} for n, lab in missing])
                    for name in {n for n, _ in missing}:
                        for sid, lab in conn.execute(text("SELECT id, labels FROM series WHERE name = :n"),
                                                     {"n": name}):
                            self._ids[(name, lab)] = sid
            for fkey, ckey in canon.items():
                self._fast[fkey] = self._ids[ckey]

    def flush(self) -> int:
        """Write the head as one raw chunk per series; returns the samples written."""
        sh = self._sh
        with self._lock:
            if sh.timer is not None and sh.timer is not threading.current_thread():
                sh.timer.cancel()
            sh.timer = None
            if not sh.head:
                return 0
            head, sh.head, sh.n = sh.head, [], 0
            sids, ts, vals = (np.concatenate(cols) for cols in zip(*head, strict=True))
            rows = [(int(s), 0, t, v) for s, t, v in grouped(sids, ts, vals)]
            with self.engine.begin() as conn:
                insert_chunks(conn, [(s, r, t, [v]) for s, r, t, v in rows])
            return len(sids)

    # -- reading ---------------------------------------------------------------------------
    def _matching(self, selector: str) -> list[tuple[int, dict[str, str]]]:
        sel = parse_selector(selector)
        # copies: callers (PromQL) may change the label sets they get
        rows = labelled_series(self.engine, self._sh.labels, self._sh.lock, sel.name)
        return [(sid, dict(labels)) for sid, labels in rows if sel.matches(labels)]

    def series(self, selector: str) -> list[dict[str, str]]:
        """Label sets (with `__name__`) of the series matching a selector."""
        return [labels for _, labels in self._matching(selector)]

    def load(self, selector: str, start: float, end: float) -> list[SeriesData]:
        """Samples with start <= ts <= end of every matching series, all resolutions merged."""
        return self.load_flat(selector, start, end).series()

    def load_flat(self, selector: str, start: float, end: float) -> FlatData:
        """Like `load`, but every series in one set of arrays, so queries over many series vectorise."""
        matched = self._matching(selector)
        return self._labelled(matched, round(start * 1000), round(end * 1000))

    def iter_flat(self, selector: str, start: float, end: float, *,
                  batch_samples: int = BATCH_SAMPLES) -> Iterator[FlatData]:
        """`load_flat` in groups of series of about `batch_samples` stored samples: bounded memory."""
        yield from self._raw_batches(self._matching(selector), round(start * 1000), round(end * 1000),
                                     batch_samples)

    def _raw_batches(self, matched: list[tuple[int, dict[str, str]]], lo: int, hi: int,
                     batch_samples: int = BATCH_SAMPLES) -> Iterator[FlatData]:
        sizes: dict[int, int] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(matched), _CHUNK):
                marks = ",".join(str(int(sid)) for sid, _ in matched[i: i + _CHUNK])
                sizes.update(conn.execute(text(
                    f"SELECT series_id, sum(n) FROM metric_chunks WHERE series_id IN ({marks}) "
                    "AND t_max >= :lo AND t_min <= :hi GROUP BY series_id"), {"lo": lo, "hi": hi}).all())
        for sid, parts in self._head_parts([sid for sid, _ in matched], lo, hi).items():
            sizes[sid] = int(sizes.get(sid, 0)) + sum(len(t) for t, _ in parts)
        group: list[tuple[int, dict[str, str]]] = []
        total = 0
        for item in matched:
            group.append(item)
            total += int(sizes.get(item[0], 0))
            if total >= batch_samples:
                yield self._labelled(group, lo, hi)
                group, total = [], 0
        if group:
            yield self._labelled(group, lo, hi)

    rollup_s = ROLLUP_S

    def iter_rollup(self, selector: str, start: float, end: float) -> Iterator[RollupData | FlatData]:
        """Hourly bucket summaries of the matching series (raw samples for groups where they don't apply).

        Summaries come from the chunks (stored at compaction) or are computed from the
        samples of small chunks and the head; a series whose chunks overlap or are downsampled
        is answered from raw samples, with its whole group.
        """
        lo, hi = round(start * 1000), round(end * 1000)
        matched = self._matching(selector)
        for i in range(0, len(matched), _CHUNK):
            group = matched[i: i + _CHUNK]
            rollup = self._rollup([sid for sid, _ in group], lo, hi)
            if rollup is None:
                yield from self._raw_batches(group, lo, hi)
                continue
            sids, data = rollup
            labels = dict(group)
            yield data._replace(labels=[labels[sid] for sid in sids])

    def _rollup(self, ids: list[int], lo: int, hi: int) -> tuple[list[int], RollupData] | None:
        marks = ",".join(str(int(x)) for x in ids)
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT series_id, id, res, t_min, t_max, n, summary FROM metric_chunks "
                f"WHERE series_id IN ({marks}) AND t_max >= :lo AND t_min <= :hi "
                "ORDER BY series_id, res, id"), {"lo": lo, "hi": hi}).all()
            missing = [cid for _, cid, res, _, _, _, summary in rows if summary is None and res == 0]
            blobs = {}
            for j in range(0, len(missing), _CHUNK):
                cids = ",".join(str(int(c)) for c in missing[j: j + _CHUNK])
                blobs.update(conn.execute(text(
                    f"SELECT id, data FROM metric_chunks WHERE id IN ({cids})")).all())
        chunks: dict[int, list[tuple[int, int, int, int, bytes | None]]] = {}
        for sid, cid, res, t_min, t_max, n, summary in rows:
            chunks.setdefault(sid, []).append((res, t_min, t_max, n, summary if summary is not None else cid))
        head = self._head_parts(ids, lo, hi)
        bucket_ms = ROLLUP_S * 1000
        parts: list[tuple[np.ndarray, list[np.ndarray]]] = []
        sids, sizes = [], []
        for sid in ids:
            mine = chunks.get(sid, [])
            if not disjoint_raw(mine):
                return None
            pieces = []
            for _, _, _, _, summary in mine:
                if isinstance(summary, int):  # no stored summary: summarise the samples now
                    ts, (vals,) = chunk_codec.decode(blobs[summary])
                    pieces.append(summarize(ts, vals, bucket_ms))
                else:
                    pieces.append(SUMMARIES.decode(summary))
            for ts, (vals,) in head.get(sid, []):
                if mine and ts[0] <= mine[-1][2]:
                    return None
                pieces.append(summarize(ts, vals, bucket_ms))
            if pieces:
                sids.append(sid)
                sizes.append(sum(len(p[0]) for p in pieces))
                parts.extend(pieces)
        stop = np.cumsum(np.array(sizes, dtype=np.int64))
        cols = [np.concatenate([p[1][c] for p in parts]) if parts else np.empty(0) for c in range(5)]
        if not all(np.isfinite(c).all() for c in cols[1:]):
            return None  # NaN or Inf samples: only the raw path follows Prometheus there
        first_ts = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, dtype=np.int64)
        return sids, RollupData([{} for _ in sids], bucket_ms, first_ts.astype(np.int64),
                                cols[0].astype(np.int64), cols[1], cols[2], cols[3].astype(np.int64), cols[4],
                                stop - np.array(sizes, dtype=np.int64), stop)

    def _labelled(self, matched: list[tuple[int, dict[str, str]]], lo: int, hi: int) -> FlatData:
        sids, flat = self._load_flat([sid for sid, _ in matched], lo, hi)
        labels = dict(matched)
        return flat._replace(labels=[labels[sid] for sid in sids])

    def _load(self, ids: list[int], lo: int,
              hi: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        sids, flat = self._load_flat(ids, lo, hi)
        return {sid: (sd.ts, sd.values, sd.inc) for sid, sd in zip(sids, flat.series(), strict=True)}

    def _load_flat(self, ids: list[int], lo: int, hi: int) -> tuple[list[int], FlatData]:
        """Samples of series `ids` in [lo, hi] ms: the ids that have any, and their data (labels empty).

        A series whose stored chunks are raw and disjoint in time (the usual case) is decoded
        straight into its slice of the shared arrays, with no concatenation or sort; others
        (overlapping rewrites, downsampled data, unflushed head) go through the general merge.
        """
        chunks: dict[int, list[tuple[int, int, int, int, bytes]]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                marks = ",".join(str(int(x)) for x in ids[i: i + _CHUNK])  # ints only: safe to inline
                rows = conn.execute(text(
                    f"SELECT series_id, res, t_min, t_max, n, data FROM metric_chunks "
                    f"WHERE series_id IN ({marks}) AND t_max >= :lo AND t_min <= :hi "
                    "ORDER BY series_id, res, id"), {"lo": lo, "hi": hi})
                for sid, res, t_min, t_max, n, blob in rows:
                    chunks.setdefault(sid, []).append((res, t_min, t_max, n, blob))
        head_parts = self._head_parts(ids, lo, hi)
        order = [sid for sid in ids if sid in chunks or sid in head_parts]
        merged: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        sizes = []
        for sid in order:
            mine = chunks.get(sid, [])
            if sid in head_parts or not disjoint_raw(mine):
                by_res: dict[int, list[tuple[np.ndarray, list[np.ndarray]]]] = {}
                for res, _, _, _, blob in mine:
                    by_res.setdefault(res, []).append(chunk_codec.decode(blob))
                for part in head_parts.get(sid, []):
                    by_res.setdefault(0, []).append(part)
                merged[sid] = merge_resolutions(by_res)
                sizes.append(len(merged[sid][0]))
            else:
                sizes.append(sum(c[3] for c in mine))
        offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
        ts = np.empty(int(offsets[-1]), dtype=np.int64)
        vals = np.empty(len(ts), dtype=np.float64)
        with_inc = any(m[2] is not None for m in merged.values())
        inc = np.empty(len(ts), dtype=np.float64) if with_inc else None
        for k, sid in enumerate(order):
            pos = int(offsets[k])
            if sid in merged:
                m_ts, m_vals, m_inc = merged[sid]
                ts[pos: pos + len(m_ts)], vals[pos: pos + len(m_ts)] = m_ts, m_vals
            else:
                for _, _, _, n, blob in chunks[sid]:
                    chunk_codec.decode_into(blob, ts[pos: pos + n], vals[pos: pos + n])
                    pos += n
                m_inc = None
            if inc is not None:
                end = int(offsets[k + 1])
                inc[offsets[k]: end] = reset_increments(vals[offsets[k]: end]) if m_inc is None else m_inc
        starts = np.empty(len(order), dtype=np.int64)
        stops = np.empty(len(order), dtype=np.int64)
        for k in range(len(order)):
            a, b = int(offsets[k]), int(offsets[k + 1])
            seg = ts[a:b]
            starts[k] = a + int(np.searchsorted(seg, lo, side="left"))
            stops[k] = a + int(np.searchsorted(seg, hi, side="right"))
        keep = stops > starts
        sids = [sid for sid, ok in zip(order, keep, strict=True) if ok]
        return sids, FlatData([{} for _ in sids], ts, vals, inc, starts[keep], stops[keep])

    def _head_parts(self, ids: list[int], lo: int,
                    hi: int) -> dict[int, list[tuple[np.ndarray, list[np.ndarray]]]]:
        """This process's unflushed samples of series `ids` in [lo, hi], per series."""
        with self._lock:
            head = list(self._sh.head)
        out: dict[int, list[tuple[np.ndarray, list[np.ndarray]]]] = {}
        if head and ids:
            sids, ts, vals = (np.concatenate(cols) for cols in zip(*head, strict=True))
            keep = np.isin(sids, np.asarray(ids, dtype=np.int64)) & (ts >= lo) & (ts <= hi)
            if keep.any():
                for sid, t, v in grouped(sids[keep], ts[keep], vals[keep]):
                    out[int(sid)] = [(t, [v])]
        return out

    def range_query(self, selector: str, start: float, end: float, step: float) -> pd.DataFrame:
        """Value at each step in [start, end]: the last sample within the lookback before it."""
        if step <= 0:
            raise ValueError("step must be positive")
        if end < start:
            raise ValueError("end is before start")
        n_steps = int((end - start) // step) + 1
        steps_ms = np.round((start + np.arange(n_steps) * step) * 1000).astype(np.int64)
        look_ms = round(self.lookback_s * 1000)
        frames = []
        for sd in self.load(selector, (steps_ms[0] - look_ms + 1) / 1000, steps_ms[-1] / 1000):
            idx = np.searchsorted(sd.ts, steps_ms, side="right") - 1
            ok = idx >= 0
            ok[ok] &= steps_ms[ok] - sd.ts[idx[ok]] < look_ms
            if ok.any():
                frames.append(frame(steps_ms[ok] / 1000.0, sd.values[idx[ok]], sd.labels))
        return concat_frames(frames)

    def instant_query(self, selector: str, at: float) -> pd.DataFrame:
        """The latest value at or before `at` (within the lookback) of each matching series."""
        at_ms = round(at * 1000)
        frames = [frame(np.array([at]), sd.values[-1:], sd.labels)
                  for sd in self.load(selector, (at_ms - round(self.lookback_s * 1000) + 1) / 1000, at)]
        return concat_frames(frames)

    def query_range(self, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
        """A PromQL expression (Prometheus 2.42, native histograms aside) at each step in [start, end]."""
        from streamverse.collectors.promql import evaluate_range

        return evaluate_range(self, expr, start=start, end=end, step=step, lookback_s=self.lookback_s)

    def query(self, expr: str, at: float) -> pd.DataFrame:
        """A PromQL expression at one instant (a range vector answers with its raw points)."""
        from streamverse.collectors.promql import evaluate_instant

        return evaluate_instant(self, expr, at=at, lookback_s=self.lookback_s)

    def latest_timestamp(self, selector: str) -> float | None:
        """Epoch seconds of the newest sample of any matching series (None when there is none)."""
        self.flush()
        ids = [sid for sid, _ in self._matching(selector)]
        if not ids:
            return None
        with self.engine.connect() as conn:
            best = None
            for i in range(0, len(ids), _CHUNK):
                marks = ",".join(str(int(x)) for x in ids[i: i + _CHUNK])
                got = conn.execute(text(f"SELECT max(t_max) FROM metric_chunks WHERE series_id IN ({marks})"))
                val = got.scalar()
                if val is not None and (best is None or val > best):
                    best = val
        return None if best is None else best / 1000.0

    def healthy(self) -> bool:
        """A local file answers whenever this process does."""
        return True

    def close(self) -> None:
        """Flush the head (the engine and series ids are shared per URL and stay)."""
        self.flush()


