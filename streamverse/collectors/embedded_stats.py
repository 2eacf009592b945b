"""What the embedded store holds: series, samples per tier, disk use, and what compaction last did.

Everything is read from chunk rows (`n`, `t_min`, `t_max`, blob lengths), never by decoding
samples, so `metrics stats` answers in milliseconds on a 30-day store. Each compaction run
is recorded in `metric_compactions` (the newest `_KEEP` runs) so another process, the CLI,
can say when it last ran and what it changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Text, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from streamverse.clock import utc_iso

TIERS = {0: "raw", 300: "5m", 3600: "1h"}
_KEEP = 50  # compaction runs kept: a few days of history at one run per 10 minutes is plenty


class MetricCompaction(SQLModel, table=True):
    """One compaction run: when (the store's clock), how long it took, and its counts as JSON."""

    __tablename__ = "metric_compactions"

    id: int | None = Field(default=None, primary_key=True)
    at: float = Field(sa_column=Column(Float, nullable=False))
    took_s: float = Field(sa_column=Column(Float, nullable=False))
    result: str = Field(sa_column=Column(Text, nullable=False))


def tier_samples(engine: Engine) -> dict[str, int]:
    """Stored samples per tier name, from the chunk headers."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT res, sum(n) FROM metric_chunks GROUP BY res")).all()
    return {TIERS.get(int(res), f"{res}s"): int(n or 0) for res, n in rows}


def record_compaction(engine: Engine, *, now: float, took_s: float, stats: dict[str, int],
                      before: dict[str, int], after: dict[str, int]) -> None:
    """Keep what one run did; older runs beyond the newest `_KEEP` are dropped."""
    result = {**stats, "samples_before": before, "samples_after": after}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO metric_compactions (at, took_s, result) VALUES (:at, :took, :r)"),
                     {"at": now, "took": took_s, "r": json.dumps(result, sort_keys=True)})
        conn.execute(text("DELETE FROM metric_compactions WHERE id NOT IN "
                          "(SELECT id FROM metric_compactions ORDER BY id DESC LIMIT :k)"), {"k": _KEEP})


def last_compaction(engine: Engine) -> dict[str, Any] | None:
    """The newest recorded run, or None when compaction never ran on this store."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT at, took_s, result FROM metric_compactions "
                                "ORDER BY id DESC LIMIT 1")).first()
        runs = conn.execute(text("SELECT count(*) FROM metric_compactions")).scalar() or 0
    if row is None:
        return None
    at, took_s, result = row
    return {"at": utc_iso(float(at)), "at_epoch": float(at), "took_s": round(float(took_s), 4),
            "runs_recorded": int(runs), **json.loads(result)}


def _sqlite(engine: Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def enable_reclaim(engine: Engine) -> None:
    """A new SQLite store gives freed pages back to the file system (only settable before any table)."""
    if not _sqlite(engine):
        return
    with engine.connect() as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar() == 0:
            conn.exec_driver_sql("PRAGMA auto_vacuum = INCREMENTAL")
            conn.exec_driver_sql("VACUUM")  # the file exists already (WAL mode): this applies it


def reclaim_space(engine: Engine) -> None:
    """After compaction deleted chunks: shrink the SQLite file and its WAL where the store allows it."""
    if not _sqlite(engine):
        return
    with engine.connect() as conn:
        if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2:
            # executescript steps the pragma to its end; a plain execute frees a single page
            conn.connection.dbapi_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()  # busy readers: tried next run


def disk_usage(engine: Engine) -> dict[str, Any]:
    """Bytes the store takes: the SQLite file and its WAL, or the PostgreSQL tables with indexes."""
    url = engine.url
    if _sqlite(engine) and url.database and url.database != ":memory:":
        path = Path(url.database)
        sizes = {kind: (p.stat().st_size if p.exists() else 0)
                 for kind, p in (("database_bytes", path), ("wal_bytes", Path(f"{path}-wal")))}
        with engine.connect() as conn:  # pages freed by compaction, reused before the file grows
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
            free *= conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
        return {"kind": "sqlite", "path": str(path), **sizes,
                "total_bytes": sizes["database_bytes"] + sizes["wal_bytes"], "free_bytes": int(free)}
    if url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            total = conn.execute(text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.relname IN ('series', 'metric_chunks', 'metric_compactions') "
                "AND c.relkind = 'r' AND pg_table_is_visible(c.oid)")).scalar()
        return {"kind": "postgresql", "path": url.render_as_string(hide_password=True),
                "database_bytes": int(total or 0), "wal_bytes": None, "total_bytes": int(total or 0),
                "free_bytes": None}
    return {"kind": url.get_backend_name(), "path": None, "database_bytes": None, "wal_bytes": None,
            "total_bytes": None, "free_bytes": None}


def tiers(engine: Engine) -> list[dict[str, Any]]:
    """Per resolution: samples, chunks, encoded bytes and the time span, from chunk rows alone."""
    with engine.connect() as conn:
        rows = {int(r[0]): r[1:] for r in conn.execute(text(
            "SELECT res, count(*), sum(n), min(t_min), max(t_max), "
            "sum(length(data)) + coalesce(sum(length(summary)), 0) FROM metric_chunks GROUP BY res"))}
    out = []
    for res in sorted(set(TIERS) | set(rows)):
        chunks, samples, t_min, t_max, size = rows.get(res, (0, 0, None, None, 0))
        out.append({"tier": TIERS.get(res, f"{res}s"), "resolution_s": res, "samples": int(samples or 0),
                    "chunks": int(chunks or 0), "encoded_bytes": int(size or 0),
                    "oldest": None if t_min is None else utc_iso(t_min / 1000),
                    "newest": None if t_max is None else utc_iso(t_max / 1000)})
    return out


def store_stats(engine: Engine, *, retention: dict[str, float]) -> dict[str, Any]:
    """The `metrics stats` answer of an embedded store."""
    with engine.connect() as conn:
        series = int(conn.execute(text("SELECT count(*) FROM series")).scalar() or 0)
    per_tier = tiers(engine)
    return {"backend": "embedded", "series": series,
            "samples": sum(t["samples"] for t in per_tier),
            "tiers": per_tier, "retention": retention, "disk": disk_usage(engine),
            "last_compaction": last_compaction(engine)}
