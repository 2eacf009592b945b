"""The embedded metric store: series in SQLite (or PostgreSQL), samples in encoded chunks.

Writes land in an in-memory head (a list of whole batches, no per-series work), which is
flushed as one chunk per series when it is big or old enough, on `flush()` and at exit.
Reads merge the stored chunks (raw, 5m, 1h) with this process's head. Every sample keeps
a reset-adjusted increment, so `rate`/`increase` stay exact across counter resets and
across resolutions after downsampling (a downsampled point keeps the last value and the
summed increments of its bucket).
"""

from __future__ import annotations

import atexit
import gc
import json
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from streamverse.collectors import chunk_codec
from streamverse.collectors.models import MetricChunk, MetricSeries
from streamverse.collectors.selector import parse_selector
from streamverse.collectors.store import Sample
from streamverse.db import get_engine

LOOKBACK_S = 300.0  # Prometheus' default: a series is "present" up to 5 minutes after a sample
RES_5M, RES_1H = 300, 3600
_CHUNK = 500  # series ids per IN (...) list
_NAME, _LABELS, _TS, _VALUE = (itemgetter(i) for i in range(4))  # Sample fields
_DAY_MS = 86_400_000
_MERGE_DAYS = 7  # merged raw chunks span a week: few rows to decode for a 30-day query


@dataclass(frozen=True)
class Retention:
    """How long each resolution is kept before it is downsampled (or, for 1h, dropped)."""

    raw_s: float = 35 * 86400.0
    res_5m_s: float = 180 * 86400.0
    res_1h_s: float = 2 * 365 * 86400.0


class _Shared:
    """Per-URL state shared by every store instance in this process: head and series ids."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.head: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (sids, ts_ms, values)
        self.n = 0
        self.since = 0.0
        self.timer: threading.Timer | None = None


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


class SeriesData(NamedTuple):
    """One series' samples in a window: ms timestamps, values, and stored increments.

    `inc` is None for raw data (increments follow from the reset rule); downsampled data
    carries the exact reset-adjusted increment of each bucket.
    """

    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray
    inc: np.ndarray | None


def canonical_labels(labels: Mapping[str, str]) -> str:
    """The stored form of a label set: compact JSON with sorted keys, without `__name__`."""
    return json.dumps({k: str(labels[k]) for k in sorted(labels) if k != "__name__"},
                      separators=(",", ":"), ensure_ascii=False)


def reset_increments(values: np.ndarray) -> np.ndarray:
    """Per-sample increase with Prometheus' counter-reset rule (a drop means it restarted from 0)."""
    inc = np.empty_like(values)
    if len(values):
        inc[0] = values[0]
        d = np.diff(values)
        inc[1:] = np.where(d >= 0, d, values[1:])
    return inc


def adjusted_at(sd: SeriesData, idx: np.ndarray) -> np.ndarray:
    """The reset-adjusted (monotonic) counter value at sample indices, without a full cumsum for raw data."""
    v = sd.values
    if sd.inc is not None:
        return np.cumsum(sd.inc)[idx]
    drops = np.flatnonzero(v[1:] < v[:-1]) + 1
    if len(drops) == 0:
        return v[idx]
    lost = np.concatenate(([0.0], np.cumsum(v[drops - 1])))  # value lost at each restart, summed
    return v[idx] + lost[np.searchsorted(drops, idx, side="right")]


class EmbeddedStore:
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
        SQLModel.metadata.create_all(
            self.engine, tables=[MetricSeries.__table__, MetricChunk.__table__])  # type: ignore[list-item]
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
            rows = [(int(s), 0, t, v) for s, t, v in _grouped(sids, ts, vals)]
            with self.engine.begin() as conn:
                _insert_chunks(conn, [(s, r, t, [v]) for s, r, t, v in rows])
            return len(sids)

    # -- reading ---------------------------------------------------------------------------
    def _matching(self, selector: str) -> list[tuple[int, dict[str, str]]]:
        sel = parse_selector(selector)
        with self.engine.connect() as conn:
            if sel.name is not None:
                rows = conn.execute(text("SELECT id, name, labels FROM series WHERE name = :n ORDER BY id"),
                                    {"n": sel.name})
            else:
                rows = conn.execute(text("SELECT id, name, labels FROM series ORDER BY id"))
            out = []
            for sid, name, lab in rows:
                labels = {"__name__": name, **json.loads(lab)}
                if sel.matches(labels):
                    out.append((sid, labels))
        return out

    def series(self, selector: str) -> list[dict[str, str]]:
        """Label sets (with `__name__`) of the series matching a selector."""
        return [labels for _, labels in self._matching(selector)]

    def load(self, selector: str, start: float, end: float) -> list[SeriesData]:
        """Samples with start <= ts <= end of every matching series, all resolutions merged."""
        matched = self._matching(selector)
        data = self._load([sid for sid, _ in matched], round(start * 1000), round(end * 1000))
        return [SeriesData(labels, *data[sid]) for sid, labels in matched if sid in data]

    def _load(self, ids: list[int], lo: int,
              hi: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        parts: dict[int, dict[int, list[tuple[np.ndarray, list[np.ndarray]]]]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                marks = ",".join(str(int(x)) for x in ids[i: i + _CHUNK])  # ints only: safe to inline
                rows = conn.execute(text(
                    f"SELECT series_id, res, data FROM metric_chunks WHERE series_id IN ({marks}) "
                    "AND t_max >= :lo AND t_min <= :hi ORDER BY series_id, res, id"), {"lo": lo, "hi": hi})
                for sid, res, blob in rows:
                    parts.setdefault(sid, {}).setdefault(res, []).append(chunk_codec.decode(bytes(blob)))
        with self._lock:
            head = list(self._sh.head)
        if head and ids:
            sids, ts, vals = (np.concatenate(cols) for cols in zip(*head, strict=True))
            keep = np.isin(sids, np.asarray(ids, dtype=np.int64)) & (ts >= lo) & (ts <= hi)
            if keep.any():
                for sid, t, v in _grouped(sids[keep], ts[keep], vals[keep]):
                    parts.setdefault(int(sid), {}).setdefault(0, []).append((t, [v]))
        out = {}
        for sid, by_res in parts.items():
            ts, vals, inc = _merge_resolutions(by_res)
            i, j = np.searchsorted(ts, lo, side="left"), np.searchsorted(ts, hi, side="right")
            if j > i:
                out[sid] = (ts[i:j], vals[i:j], None if inc is None else inc[i:j])
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
                frames.append(_frame(steps_ms[ok] / 1000.0, sd.values[idx[ok]], sd.labels))
        return concat_frames(frames)

    def instant_query(self, selector: str, at: float) -> pd.DataFrame:
        """The latest value at or before `at` (within the lookback) of each matching series."""
        at_ms = round(at * 1000)
        frames = [_frame(np.array([at]), sd.values[-1:], sd.labels)
                  for sd in self.load(selector, (at_ms - round(self.lookback_s * 1000) + 1) / 1000, at)]
        return concat_frames(frames)

    def query_range(self, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
        """A PromQL expression (the supported subset) at each step in [start, end]."""
        from streamverse.collectors.promql import evaluate_range

        return evaluate_range(self, expr, start=start, end=end, step=step, lookback_s=self.lookback_s)

    def query(self, expr: str, at: float) -> pd.DataFrame:
        """A PromQL expression at one instant."""
        return self.query_range(expr, at, at, 1.0)

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

    # -- retention and downsampling ------------------------------------------------------------
    def compact(self, *, now: float) -> dict[str, int]:
        """Downsample raw -> 5m -> 1h past their retention, drop expired 1h data, merge small chunks."""
        self.flush()
        ret = self.retention
        stats = {"raw_to_5m": self._downsample(0, RES_5M, round((now - ret.raw_s) * 1000)),
                 "5m_to_1h": self._downsample(RES_5M, RES_1H, round((now - ret.res_5m_s) * 1000))}
        with self.engine.begin() as conn:
            gone = conn.execute(text("DELETE FROM metric_chunks WHERE res = :r AND t_max < :cut"),
                                {"r": RES_1H, "cut": round((now - ret.res_1h_s) * 1000)})
            stats["expired_chunks"] = gone.rowcount or 0
        stats["merged_chunks"] = self._merge_small(round((now - 3600) * 1000))
        return stats

    def _old_chunks(self, conn: Connection, res: int, cut: int) -> dict[int, list[tuple[int, int]]]:
        rows = conn.execute(text("SELECT series_id, id, t_max FROM metric_chunks "
                                 "WHERE res = :r AND t_max < :c"), {"r": res, "c": cut})
        out: dict[int, list[tuple[int, int]]] = {}
        for sid, cid, t_max in rows:
            out.setdefault(sid, []).append((cid, t_max))
        return out

    def _downsample(self, src: int, dst: int, cut: int) -> int:
        """Replace chunks of resolution `src` ending before `cut` by buckets of `dst` seconds."""
        with self._lock, self.engine.begin() as conn:
            old = self._old_chunks(conn, src, cut)
            if not old:
                return 0
            new_rows = []
            for sid, chunks in old.items():
                upto = max(t for _, t in chunks)
                data = self._load([sid], -(2 ** 62), upto).get(sid)
                if data is None:
                    continue
                ts, vals, inc = data
                inc = reset_increments(vals) if inc is None else inc
                first_src = self._first_ts(conn, sid, src)
                sel = ts >= first_src
                ts, vals, inc = ts[sel], vals[sel], inc[sel]
                bucket = ts // (dst * 1000)
                last = np.flatnonzero(np.append(np.diff(bucket) != 0, True))
                sums = np.add.reduceat(inc, np.append(0, last[:-1] + 1)) if len(ts) else inc
                new_rows.append((sid, dst, ts[last], [vals[last], sums]))
            ids = [cid for chunks in old.values() for cid, _ in chunks]
            for i in range(0, len(ids), _CHUNK):
                marks = ",".join(map(str, ids[i:i + _CHUNK]))
                conn.execute(text(f"DELETE FROM metric_chunks WHERE id IN ({marks})"))
            _insert_chunks(conn, new_rows)
            return len(ids)

    @staticmethod
    def _first_ts(conn: Connection, sid: int, res: int) -> int:
        got = conn.execute(text("SELECT min(t_min) FROM metric_chunks WHERE series_id = :s AND res = :r"),
                           {"s": sid, "r": res}).scalar()
        return int(got) if got is not None else 0

    def _merge_small(self, cut: int) -> int:
        """Rewrite many small raw chunks of a series (live scrapes, batched flushes) as weekly chunks."""
        with self._lock, self.engine.begin() as conn:
            rows = conn.execute(text(
                "SELECT series_id, count(*) FROM metric_chunks WHERE res = 0 AND t_max < :c "
                "GROUP BY series_id HAVING count(*) > 8"), {"c": cut}).all()
            merged = 0
            for sid, _ in rows:
                chunks = conn.execute(text("SELECT id, data FROM metric_chunks WHERE series_id = :s "
                                           "AND res = 0 AND t_max < :c ORDER BY id"),
                                      {"s": sid, "c": cut}).all()
                decoded = [chunk_codec.decode(bytes(blob)) for _, blob in chunks]
                ts, vals = _dedupe(np.concatenate([d[0] for d in decoded]),
                                   np.concatenate([d[1][0] for d in decoded]))
                days = ts // (_MERGE_DAYS * _DAY_MS)
                cuts = np.flatnonzero(np.diff(days)) + 1
                new = [(sid, 0, t, [v])
                       for t, v in zip(np.split(ts, cuts), np.split(vals, cuts), strict=True)]
                ids = ",".join(str(cid) for cid, _ in chunks)
                conn.execute(text(f"DELETE FROM metric_chunks WHERE id IN ({ids})"))
                _insert_chunks(conn, new)
                merged += len(chunks)
            return merged

    def close(self) -> None:
        """Flush the head (the engine and series ids are shared per URL and stay)."""
        self.flush()


def _grouped(sids: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
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


def _dedupe(ts: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time; on equal timestamps the later element (later chunk) wins."""
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        order = np.argsort(ts, kind="stable")
        ts, vals = ts[order], vals[order]
        keep = np.append(ts[1:] != ts[:-1], True)
        ts, vals = ts[keep], vals[keep]
    return ts, vals


def _merge_resolutions(by_res: dict[int, list[tuple[np.ndarray, list[np.ndarray]]]]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Coarse data only before the first finer sample; increments recomputed at the seams."""
    if len(by_res) == 1 and 0 in by_res:  # the common case: raw only, increments left implicit
        chunks = by_res[0]
        if len(chunks) == 1:
            ts, vals = chunks[0][0], chunks[0][1][0]
        else:
            ts = np.concatenate([c[0] for c in chunks])
            vals = np.concatenate([c[1][0] for c in chunks])
        return (*_dedupe(ts, vals), None)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    bound = None
    for res in sorted(by_res):  # raw (0) first, then 300, 3600
        chunks = by_res[res]
        ts = np.concatenate([c[0] for c in chunks])
        vals = np.concatenate([c[1][0] for c in chunks])
        if res == 0:
            ts, vals = _dedupe(ts, vals)
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


def _insert_chunks(conn: Connection, rows: list[tuple[int, int, np.ndarray, list[np.ndarray]]]) -> None:
    if rows:
        conn.execute(
            text("INSERT INTO metric_chunks (series_id, res, t_min, t_max, n, data) "
                 "VALUES (:s, :r, :lo, :hi, :n, :d)"),
            [{"s": sid, "r": res, "lo": int(ts[0]), "hi": int(ts[-1]), "n": len(ts),
              "d": chunk_codec.encode(ts, *cols)} for sid, res, ts, cols in rows if len(ts)])


def _frame(ts: np.ndarray, values: np.ndarray, labels: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": ts, "value": values})
    for k, v in labels.items():
        frame[k] = v
    return frame


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One long frame (timestamp, value, labels...); an empty one still has the two columns."""
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    return pd.concat(frames, ignore_index=True)

