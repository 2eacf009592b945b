"""The Elasticsearch log backend: bulk ingest with the official client's helpers, same queries as FTS5."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from streamverse.collectors.log_store import COUNT_FIELDS, check_fields

INDEX = "streamverse-logs"
_MAPPING = {
    "properties": {
        "ts": {"type": "date", "format": "epoch_second"},
        "level": {"type": "keyword"},
        "service": {"type": "keyword"},
        "region": {"type": "keyword"},
        "trace_id": {"type": "keyword"},
        "message": {"type": "text"},
        "doc": {"type": "text"},
    }
}


class ElasticLogStore:
    """Log records in one Elasticsearch index; keyword fields for counts, text for search."""

    backend = "elasticsearch"

    def __init__(self, url: str, *, index: str = INDEX, refresh: bool = True) -> None:
        from elasticsearch import Elasticsearch

        self.es = Elasticsearch(url, request_timeout=30)
        self.index = index
        self.refresh = refresh
        if not self.es.indices.exists(index=index):
            self.es.indices.create(index=index, mappings=_MAPPING)

    def ingest(self, records: Iterable[dict[str, Any]]) -> int:
        """helpers.bulk in chunks; refreshed so a count right after sees the lines."""
        from elasticsearch import helpers

        actions = (
            {
                "_index": self.index,
                "_source": {
                    "ts": r.get("ts"),
                    "level": r.get("level"),
                    "service": r.get("service"),
                    "region": r.get("region"),
                    "trace_id": r.get("trace_id"),
                    "message": r.get("message", ""),
                    "doc": json.dumps(r, default=str, separators=(",", ":")),
                },
            }
            for r in records
        )
        ok, _errors = helpers.bulk(
            self.es, actions, chunk_size=2000, refresh="wait_for" if self.refresh else False
        )
        return int(ok)

    @staticmethod
    def _filter(start: float | None, end: float | None, where: dict[str, str] | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if start is not None or end is not None:
            rng: dict[str, Any] = {"format": "epoch_second"}
            if start is not None:
                rng["gte"] = start
            if end is not None:
                rng["lte"] = end
            out.append({"range": {"ts": rng}})
        for k, v in (where or {}).items():
            check_fields([k])
            out.append({"term": {k: v.lower() if k == "level" else v}})
        return out

    def count(
        self,
        *,
        by: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        where: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """A composite terms aggregation over the keyword fields."""
        check_fields(by)
        query = {"bool": {"filter": self._filter(start, end, where)}}
        if not by:
            return [{"count": int(self.es.count(index=self.index, query=query)["count"])}]
        sources = [{f: {"terms": {"field": f}}} for f in by if f in COUNT_FIELDS]
        rows: list[dict[str, Any]] = []
        after: dict[str, Any] | None = None
        while True:
            comp: dict[str, Any] = {"sources": sources, "size": 1000}
            if after:
                comp["after"] = after
            resp = self.es.search(index=self.index, size=0, query=query, aggs={"g": {"composite": comp}})
            agg = resp["aggregations"]["g"]
            rows += [{**b["key"], "count": int(b["doc_count"])} for b in agg["buckets"]]
            after = agg.get("after_key")
            if not after or not agg["buckets"]:
                break
        return sorted(rows, key=lambda r: -r["count"])

    def search(
        self,
        query: str,
        *,
        start: float | None = None,
        end: float | None = None,
        where: dict[str, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """simple_query_string over message and the whole line, newest first."""
        q = {
            "bool": {
                "must": [
                    {
                        "simple_query_string": {
                            "query": query,
                            "fields": ["message", "doc"],
                            "default_operator": "and",
                        }
                    }
                ],
                "filter": self._filter(start, end, where),
            }
        }
        resp = self.es.search(index=self.index, query=q, size=limit, sort=[{"ts": "desc"}])
        return [json.loads(h["_source"]["doc"]) for h in resp["hits"]["hits"]]

    def close(self) -> None:
        """Close the client."""
        self.es.close()
