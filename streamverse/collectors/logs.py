"""The log store: the platform's JSON log lines, searchable and countable, behind one interface.

SQLite FTS5 by default (one file in the data dir, nothing to run); Elasticsearch when
`settings.es_url` is set (`logs_es.py`). Both answer the same two questions: counts by
level/service/region over a window, and full-text search. The shipper tails the live
run's `logs/*.jsonl` files and also keeps `streamverse_log_messages_total{service,level}`
so error-log rates are an SLI like any other series.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from streamverse.clock import Clock
from streamverse.collectors.log_store import LogStore, check_fields
from streamverse.metricstore import MetricStore, Sample
from streamverse.settings import Settings

log = logging.getLogger(__name__)

LOGS_FILE = "logs.db"


def parse_ts(value: Any) -> float | None:
    """Epoch seconds from an ISO-8601 string (the JSON logs' `ts`) or a number."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def parse_line(line: str, *, default_service: str = "") -> dict[str, Any] | None:
    """One JSON log line as a record with ts (epoch s), level, service, region, message; None if not JSON."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    rec["ts"] = parse_ts(rec.get("ts"))
    rec["level"] = str(rec.get("level") or "info").lower()
    rec["service"] = str(rec.get("service") or default_service)
    rec["region"] = str(rec.get("region") or rec.get("client_region") or "")
    rec["message"] = str(rec.get("message") or "")
    return rec


class SqliteLogStore:
    """Log records in SQLite with an FTS5 index over message and the whole line."""

    backend = "sqlite-fts5"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, ts REAL, level TEXT, service TEXT,
                                             region TEXT, trace_id TEXT, message TEXT, doc TEXT);
            CREATE INDEX IF NOT EXISTS logs_ts ON logs (ts);
            CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(message, doc, content='logs',
                                                                  content_rowid='id');
            CREATE TABLE IF NOT EXISTS log_offsets (file TEXT PRIMARY KEY, inode INTEGER, offset INTEGER);
        """)

    def ingest(self, records: Iterable[dict[str, Any]]) -> int:
        """Store parsed records in one transaction."""
        rows = [
            (
                r.get("ts"),
                r.get("level", "info"),
                r.get("service", ""),
                r.get("region", ""),
                r.get("trace_id"),
                r.get("message", ""),
                json.dumps(r, default=str, separators=(",", ":")),
            )
            for r in records
        ]
        if not rows:
            return 0
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN")
            try:
                first = cur.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0] + 1
                cur.executemany(
                    "INSERT INTO logs (ts, level, service, region, trace_id, message, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                cur.executemany(
                    "INSERT INTO logs_fts (rowid, message, doc) VALUES (?, ?, ?)",
                    [(first + i, r[5], r[6]) for i, r in enumerate(rows)],
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return len(rows)

    @staticmethod
    def _filters(
        start: float | None, end: float | None, where: dict[str, str] | None, prefix: str = ""
    ) -> tuple[list[str], list[Any]]:
        clauses, args = [], []
        if start is not None:
            clauses.append(f"{prefix}ts >= ?")
            args.append(start)
        if end is not None:
            clauses.append(f"{prefix}ts <= ?")
            args.append(end)
        for k, v in (where or {}).items():
            check_fields([k])
            clauses.append(f"{prefix}{k} = ?")
            args.append(v.lower() if k == "level" else v)
        return clauses, args

    def count(
        self,
        *,
        by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        where: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Counts grouped by fields, over a window."""
        check_fields(by)
        clauses, args = self._filters(start, end, where)
        cols = ", ".join(by) if by else "'all'"
        sql = f"SELECT {cols}, count(*) FROM logs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if by:
            sql += f" GROUP BY {cols} ORDER BY count(*) DESC"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [{**dict(zip(by, row[:-1], strict=True)), "count": row[-1]} for row in rows]

    def search(
        self,
        query: str,
        *,
        start: float | None = None,
        end: float | None = None,
        where: dict[str, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """FTS5 query syntax (words, "phrases", OR, prefix*), newest first."""
        clauses, args = self._filters(start, end, where, prefix="l.")
        sql = (
            "SELECT l.doc FROM logs_fts f JOIN logs l ON l.id = f.rowid WHERE logs_fts MATCH ?"
            + "".join(f" AND {c}" for c in clauses)
            + " ORDER BY l.ts DESC, l.id DESC LIMIT ?"
        )
        with self._lock:
            try:
                rows = self._db.execute(sql, [_fts_query(query), *args, limit]).fetchall()
            except sqlite3.OperationalError as exc:
                raise ValueError(f"bad search query {query!r}: {exc}") from None
        return [json.loads(r[0]) for r in rows]

    def offset(self, file: str) -> tuple[int, int]:
        """(inode, byte offset) already shipped from a file."""
        with self._lock:
            row = self._db.execute("SELECT inode, offset FROM log_offsets WHERE file = ?", (file,)).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def set_offset(self, file: str, inode: int, offset: int) -> None:
        """Remember how far a file was shipped, so restarts do not ship lines twice."""
        with self._lock:
            self._db.execute(
                "INSERT INTO log_offsets (file, inode, offset) VALUES (?, ?, ?) ON CONFLICT(file) "
                "DO UPDATE SET inode = excluded.inode, offset = excluded.offset",
                (file, inode, offset),
            )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _fts_query(query: str) -> str:
    """Plain words are ANDed as-is; anything with punctuation FTS5 rejects becomes a phrase."""
    q = query.strip()
    if not q:
        raise ValueError("empty search query")
    if any(ch in q for ch in "-:./@()") and '"' not in q:
        return " ".join('"' + w.replace('"', '""') + '"' for w in q.split())
    return q


def make_log_store(settings: Settings) -> LogStore:
    """Elasticsearch when STREAMVERSE_ES_URL is set, SQLite FTS5 in data_dir otherwise."""
    if settings.es_url:
        from streamverse.collectors.logs_es import ElasticLogStore

        return ElasticLogStore(settings.es_url)
    return SqliteLogStore(settings.data_dir / LOGS_FILE)


class LogShipper:
    """Tails `*.jsonl` files into a log store and counts messages by service and level."""

    def __init__(
        self,
        *,
        store: LogStore,
        log_dir: Path,
        clock: Clock,
        metrics: MetricStore | None = None,
        batch_lines: int = 5000,
    ) -> None:
        self.store = store
        self.log_dir = log_dir
        self.clock = clock
        self.metrics = metrics
        self.batch_lines = batch_lines
        self._offsets: dict[str, tuple[int, int]] = {}
        self.counts: dict[tuple[str, str], int] = {}
        if isinstance(store, SqliteLogStore):  # counters continue across restarts, not from zero
            for row in store.count(by=("service", "level")):
                self.counts[(row["service"], row["level"])] = row["count"]

    def _start_offset(self, path: Path) -> tuple[int, int]:
        if str(path) not in self._offsets and isinstance(self.store, SqliteLogStore):
            self._offsets[str(path)] = self.store.offset(str(path))
        return self._offsets.get(str(path), (0, 0))

    def ship_file(self, path: Path) -> int:
        """New complete lines of one file into the store; a rotated (new inode) or truncated file restarts."""
        try:
            st = path.stat()
        except OSError:
            return 0
        inode, offset = self._start_offset(path)
        if inode != st.st_ino or offset > st.st_size:
            offset = 0
        shipped = 0
        with path.open("rb") as fh:
            fh.seek(offset)
            while True:
                chunk = fh.readlines(4 * 1024 * 1024)
                if not chunk:
                    break
                complete = chunk if chunk[-1].endswith(b"\n") else chunk[:-1]
                records = [
                    r
                    for r in (
                        parse_line(raw.decode("utf-8", "replace"), default_service=path.stem)
                        for raw in complete
                    )
                    if r is not None
                ]
                shipped += self.store.ingest(records)
                for r in records:
                    key = (r["service"], r["level"])
                    self.counts[key] = self.counts.get(key, 0) + 1
                offset += sum(len(raw) for raw in complete)
                if len(complete) < len(chunk):
                    break
        self._offsets[str(path)] = (st.st_ino, offset)
        if isinstance(self.store, SqliteLogStore):
            self.store.set_offset(str(path), st.st_ino, offset)
        return shipped

    def ship_once(self) -> int:
        """Ship every file once and write the message counters; returns lines shipped."""
        total = sum(self.ship_file(p) for p in sorted(self.log_dir.glob("*.jsonl")))
        self.write_counters()
        return total

    def samples(self, *, at: float) -> list[Sample]:
        """`streamverse_log_messages_total{service,level}` as of now."""
        return [
            Sample("streamverse_log_messages_total", {"service": s, "level": lv}, at, float(n))
            for (s, lv), n in self.counts.items()
        ]

    def write_counters(self) -> int:
        """The counters into the metric store (when one is attached)."""
        if self.metrics is None or not self.counts:
            return 0
        return self.metrics.write(self.samples(at=self.clock.now()))
