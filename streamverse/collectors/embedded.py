"""The embedded metric store: series and samples in SQLite (or any SQLAlchemy database).

Small on purpose: exact-label series, last-value-in-lookback evaluation like Prometheus.
Writes go through one executemany per batch; series ids are cached in memory so a write
of known series is a single statement.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from streamverse.collectors.models import MetricSample, MetricSeries
from streamverse.collectors.selector import parse_selector
from streamverse.collectors.store import Sample
from streamverse.db import get_engine

LOOKBACK_S = 300.0  # Prometheus' default: a series is "present" up to 5 minutes after a sample
_CHUNK = 500  # series ids per IN (...) list
_COPY_MIN_ROWS = 1000  # PostgreSQL: above this, COPY into a temp table beats executemany


def canonical_labels(labels: Mapping[str, str]) -> str:
    """The stored form of a label set: compact JSON with sorted keys, without `__name__`."""
    return json.dumps({k: str(labels[k]) for k in sorted(labels) if k != "__name__"},
                      separators=(",", ":"), ensure_ascii=False)


class EmbeddedStore:
    """A MetricStore over SQLAlchemy; SQLite file by default, PostgreSQL works too."""

    def __init__(self, url: str, *, lookback_s: float = LOOKBACK_S) -> None:
        self.url = url
        self.lookback_s = lookback_s
        self.engine: Engine = get_engine(url)
        SQLModel.metadata.create_all(
            self.engine, tables=[MetricSeries.__table__, MetricSample.__table__])  # type: ignore[list-item]
        self._ids: dict[tuple[str, str], int] = {}
        self._fast: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._lock = threading.Lock()
        self._pg = pg = self.engine.dialect.name == "postgresql"
        ph = "%s" if self.engine.dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_sql = (
            f"INSERT INTO samples (series_id, ts, value) VALUES ({ph}, {ph}, {ph}) "
            + ("ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value" if pg
               else "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value")
        )

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
        rows: list[tuple[int, int, float]] = []
        pending: list[tuple[tuple[str, str], int, float]] = []
        fast = self._fast  # keyed by the label dict as given: no JSON work for known series
        for s in samples:
            fkey = (s.name, tuple(s.labels.items()))
            sid = fast.get(fkey)
            if sid is None:
                key = (s.name, canonical_labels(s.labels))
                sid = self._ids.get(key)
                if sid is None:
                    pending.append((key, round(s.timestamp * 1000), float(s.value)))
                    continue
                fast[fkey] = sid
            rows.append((sid, round(s.timestamp * 1000), float(s.value)))
        with self.engine.begin() as conn:
            if pending:
                self._ensure_series(conn, {k for k, _, _ in pending})
                rows.extend((self._ids[k], ts, v) for k, ts, v in pending)
            if self._pg and len(rows) >= _COPY_MIN_ROWS:
                _copy_upsert(conn, rows)
            else:
                conn.exec_driver_sql(self._insert_sql, rows)  # type: ignore[arg-type]
        return len(rows)

    def _ensure_series(self, conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            missing = [k for k in keys if k not in self._ids]
            if not missing:
                return
            conn.execute(
                text("INSERT INTO series (name, labels) VALUES (:name, :labels) "
                     "ON CONFLICT (name, labels) DO NOTHING"),
                [{"name": n, "labels": lab} for n, lab in missing],
            )
            for name in {n for n, _ in missing}:
                for sid, lab in conn.execute(text("SELECT id, labels FROM series WHERE name = :n"),
                                             {"n": name}):
                    self._ids[(name, lab)] = sid

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

    def _samples(self, ids: list[int], lo_ms: int, hi_ms: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Samples with lo < ts <= hi per series, as (ts_ms, values) arrays sorted by time."""
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i: i + _CHUNK]
                marks = ",".join(str(int(x)) for x in chunk)  # ints only: safe to inline
                data = conn.execute(text(
                    f"SELECT series_id, ts, value FROM samples WHERE series_id IN ({marks}) "
                    "AND ts > :lo AND ts <= :hi ORDER BY series_id, ts"), {"lo": lo_ms, "hi": hi_ms}).all()
                if not data:
                    continue
                arr = np.array(data, dtype=np.float64)
                sids = arr[:, 0].astype(np.int64)
                cuts = np.flatnonzero(np.diff(sids)) + 1
                for part in np.split(np.arange(len(sids)), cuts):
                    out[int(sids[part[0]])] = (arr[part, 1].astype(np.int64), arr[part, 2])
        return out

    def range_query(self, selector: str, start: float, end: float, step: float) -> pd.DataFrame:
        """Value at each step in [start, end]: the last sample within the lookback before it."""
        if step <= 0:
            raise ValueError("step must be positive")
        if end < start:
            raise ValueError("end is before start")
        matched = self._matching(selector)
        n_steps = int((end - start) // step) + 1
        steps_ms = np.round((start + np.arange(n_steps) * step) * 1000).astype(np.int64)
        look_ms = round(self.lookback_s * 1000)
        data = self._samples([sid for sid, _ in matched], int(steps_ms[0]) - look_ms, int(steps_ms[-1]))
        frames = []
        for sid, labels in matched:
            if sid not in data:
                continue
            ts, vals = data[sid]
            idx = np.searchsorted(ts, steps_ms, side="right") - 1
            ok = idx >= 0
            ok[ok] &= steps_ms[ok] - ts[idx[ok]] < look_ms
            if not ok.any():
                continue
            frame = pd.DataFrame({"timestamp": steps_ms[ok] / 1000.0, "value": vals[idx[ok]]})
            for k, v in labels.items():
                frame[k] = v
            frames.append(frame)
        return _concat(frames)

    def instant_query(self, selector: str, at: float) -> pd.DataFrame:
        """The latest value at or before `at` (within the lookback) of each matching series."""
        matched = self._matching(selector)
        at_ms = round(at * 1000)
        data = self._samples([sid for sid, _ in matched], at_ms - round(self.lookback_s * 1000), at_ms)
        frames = []
        for sid, labels in matched:
            if sid in data:
                frames.append(pd.DataFrame({"timestamp": [at], "value": [data[sid][1][-1]],
                                            **{k: [v] for k, v in labels.items()}}))
        return _concat(frames)

    def close(self) -> None:
        """Forget cached series ids (the engine is shared per URL and stays open)."""
        self._ids.clear()
        self._fast.clear()


def _copy_upsert(conn: Connection, rows: list[tuple[int, int, float]]) -> None:
    """PostgreSQL bulk path: COPY, then one upsert; within a batch the last write of a point wins."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS _sv_samples_in "
                    "(n bigint, series_id integer, ts bigint, value double precision) ON COMMIT DELETE ROWS")
        with cur.copy("COPY _sv_samples_in (n, series_id, ts, value) FROM STDIN") as copy:
            for n, row in enumerate(rows):
                copy.write_row((n, *row))
        cur.execute(
            "INSERT INTO samples (series_id, ts, value) "
            "SELECT DISTINCT ON (series_id, ts) series_id, ts, value FROM _sv_samples_in "
            "ORDER BY series_id, ts, n DESC "
            "ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value")


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    return pd.concat(frames, ignore_index=True)
