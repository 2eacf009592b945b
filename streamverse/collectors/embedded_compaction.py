"""Retention of the embedded store: raw -> 5m -> 1h downsampling, expiry, and merging small chunks.

A mixin of `EmbeddedStore` (its public `compact` stays a store method), split out because
rewriting old chunks is a job of its own, separate from writing and querying.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from streamverse.collectors import chunk_codec
from streamverse.collectors.embedded_chunks import dedupe, insert_chunks
from streamverse.collectors.embedded_stats import (
    reclaim_space,
    record_compaction,
    store_stats,
    tier_samples,
)
from streamverse.collectors.promql_values import reset_increments

RES_5M, RES_1H = 300, 3600
_CHUNK = 500  # ids per IN (...) list
_DAY_MS = 86_400_000
_MERGE_DAYS = 7  # merged raw chunks span a week: few rows to decode for a 30-day query


@dataclass(frozen=True)
class Retention:
    """How long each resolution is kept before it is downsampled (or, for 1h, dropped)."""

    raw_s: float = 15 * 86400.0
    res_5m_s: float = 90 * 86400.0
    res_1h_s: float = 730 * 86400.0

    def as_dict(self) -> dict[str, float]:
        """Seconds per tier, under the names `metrics stats` shows."""
        return {"raw_s": self.raw_s, "5m_s": self.res_5m_s, "1h_s": self.res_1h_s}


class Compaction:
    """compact() and its steps; the store provides the engine, lock, flush and raw loading."""

    engine: Engine
    retention: Retention
    _lock: threading.RLock

    def flush(self) -> int:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _load(self, ids: list[int], lo: int,
              hi: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:  # pragma: no cover
        raise NotImplementedError

    def compact(self, *, now: float) -> dict[str, int]:
        """Downsample raw -> 5m -> 1h past their retention, drop expired 1h data, merge small chunks.

        What it did is kept in the store (`metric_compactions`) for `metrics stats`.
        """
        began = time.monotonic()
        before = tier_samples(self.engine)
        stats = self._compact(now)
        if stats["raw_to_5m"] or stats["5m_to_1h"] or stats["expired_chunks"]:
            reclaim_space(self.engine)
        record_compaction(self.engine, now=now, took_s=time.monotonic() - began, stats=stats,
                          before=before, after=tier_samples(self.engine))
        return stats

    def stats(self) -> dict[str, Any]:
        """Series, samples and span per tier, disk use, retention and the last compaction run."""
        self.flush()  # samples still in this process's head count too
        return store_stats(self.engine, retention=self.retention.as_dict())

    def _compact(self, now: float) -> dict[str, int]:
        self.flush()
        ret = self.retention
        # Whole days (raw) and weeks (5m): one new chunk per series per day or week, not per run.
        raw_cut = round((now - ret.raw_s) * 1000) // _DAY_MS * _DAY_MS
        res_5m_cut = round((now - ret.res_5m_s) * 1000) // (_MERGE_DAYS * _DAY_MS) * (_MERGE_DAYS * _DAY_MS)
        stats = {"raw_to_5m": self._downsample(0, RES_5M, raw_cut),
                 "5m_to_1h": self._downsample(RES_5M, RES_1H, res_5m_cut)}
        with self.engine.begin() as conn:
            gone = conn.execute(text("DELETE FROM metric_chunks WHERE res = :r AND t_max < :cut"),
                                {"r": RES_1H, "cut": round((now - ret.res_1h_s) * 1000)})
            stats["expired_chunks"] = gone.rowcount or 0
        stats["merged_chunks"] = self._merge_small(round((now - 3600) * 1000))
        return stats

    def _old_chunks(self, conn: Connection, res: int, cut: int) -> dict[int, list[tuple[int, int]]]:
        """Chunks of resolution `res` holding samples before `cut`: (id, t_max) per series."""
        rows = conn.execute(text("SELECT series_id, id, t_max FROM metric_chunks "
                                 "WHERE res = :r AND t_min < :c ORDER BY id"), {"r": res, "c": cut})
        out: dict[int, list[tuple[int, int]]] = {}
        for sid, cid, t_max in rows:
            out.setdefault(sid, []).append((cid, t_max))
        return out

    def _downsample(self, src: int, dst: int, cut: int) -> int:
        """Replace samples of resolution `src` before `cut` by buckets of `dst` seconds.

        A chunk straddling `cut` is split: its samples from `cut` on are written back at
        `src`, so a tier holds exactly what its retention says (cut is bucket-aligned).
        """
        with self._lock, self.engine.begin() as conn:
            old = self._old_chunks(conn, src, cut)
            if not old:
                return 0
            new_rows = []
            for sid, chunks in old.items():
                data = self._load([sid], -(2 ** 62), cut - 1).get(sid)
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
                straddling = [cid for cid, t_max in chunks if t_max >= cut]
                if straddling:
                    new_rows.append((sid, src, *self._kept_part(conn, straddling, cut)))
            ids = [cid for chunks in old.values() for cid, _ in chunks]
            for i in range(0, len(ids), _CHUNK):
                marks = ",".join(map(str, ids[i:i + _CHUNK]))
                conn.execute(text(f"DELETE FROM metric_chunks WHERE id IN ({marks})"))
            insert_chunks(conn, new_rows)
            return len(ids)

    @staticmethod
    def _kept_part(conn: Connection, ids: list[int], cut: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Samples from `cut` on of chunks `ids` (later ids win on equal timestamps), all columns."""
        marks = ",".join(str(int(cid)) for cid in ids)
        blobs = conn.execute(text(f"SELECT data FROM metric_chunks WHERE id IN ({marks}) ORDER BY id")).all()
        decoded = [chunk_codec.decode(bytes(blob)) for (blob,) in blobs]
        ts = np.concatenate([d[0] for d in decoded])
        cols = [np.concatenate([d[1][c] for d in decoded]) for c in range(len(decoded[0][1]))]
        order = np.argsort(ts, kind="stable")  # equal timestamps stay in id order: the last one wins
        last = np.append(ts[order][1:] != ts[order][:-1], True)
        pick = order[last]
        sel = ts[pick] >= cut
        return ts[pick][sel], [c[pick][sel] for c in cols]

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
                meta = conn.execute(text("SELECT id, t_min, t_max FROM metric_chunks WHERE series_id = :s "
                                         "AND res = 0 ORDER BY id"), {"s": sid}).all()
                # Old chunks, plus any later chunk overlapping them: rewritten together so the
                # newest write of a timestamp still wins whatever ids the merged chunks get.
                span = max(t_max for _, _, t_max in meta if t_max < cut)
                while True:
                    take = [cid for cid, t_min, _ in meta if t_min <= span]
                    wider = max(t_max for _, t_min, t_max in meta if t_min <= span)
                    if wider == span:
                        break
                    span = wider
                marks = ",".join(str(int(cid)) for cid in take)
                chunks = conn.execute(text(f"SELECT id, data FROM metric_chunks WHERE id IN ({marks}) "
                                           "ORDER BY id")).all()
                decoded = [chunk_codec.decode(bytes(blob)) for _, blob in chunks]
                ts, vals = dedupe(np.concatenate([d[0] for d in decoded]),
                                   np.concatenate([d[1][0] for d in decoded]))
                days = ts // (_MERGE_DAYS * _DAY_MS)
                cuts = np.flatnonzero(np.diff(days)) + 1
                new = [(sid, 0, t, [v])
                       for t, v in zip(np.split(ts, cuts), np.split(vals, cuts), strict=True)]
                conn.execute(text(f"DELETE FROM metric_chunks WHERE id IN ({marks})"))
                insert_chunks(conn, new)
                merged += len(chunks)
            return merged

