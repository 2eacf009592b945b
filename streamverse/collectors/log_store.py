"""The log store interface: SQLite FTS5 (embedded) and Elasticsearch answer the same calls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

COUNT_FIELDS = ("level", "service", "region")


class LogStore(Protocol):
    """What every log backend answers."""

    def ingest(self, records: Iterable[dict[str, Any]]) -> int:
        """Store parsed log records; returns how many."""
        ...

    def count(
        self,
        *,
        by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        where: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of {field: value, ..., "count": n} grouped by `by` (level, service, region)."""
        ...

    def search(
        self,
        query: str,
        *,
        start: float | None = None,
        end: float | None = None,
        where: dict[str, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Records matching a full-text query, newest first."""
        ...


def check_fields(fields: Iterable[str]) -> None:
    """Only the low-cardinality fields both backends index may group or filter counts."""
    bad = [f for f in fields if f not in COUNT_FIELDS]
    if bad:
        raise ValueError(f"cannot group or filter by {bad}; use {', '.join(COUNT_FIELDS)}")
