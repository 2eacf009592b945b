"""The log store: FTS5 search and counts, the file shipper, error counts as a series; ES when configured."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from streamverse.clock import VirtualClock
from streamverse.collectors.logs import LogShipper, SqliteLogStore
from streamverse.jsonlog import JsonFormatter

T0 = 1_700_000_000.0


def records() -> list[dict[str, Any]]:
    return [
        {
            "ts": T0 + 1,
            "level": "error",
            "service": "edge",
            "region": "us-east",
            "message": "origin timeout on seg 12",
        },
        {"ts": T0 + 2, "level": "error", "service": "edge", "region": "us-east", "message": "upstream reset"},
        {"ts": T0 + 3, "level": "info", "service": "edge", "region": "eu-west", "message": "cache warm"},
        {"ts": T0 + 50, "level": "error", "service": "gateway", "region": "", "message": "origin timeout"},
        {
            "ts": T0 + 60,
            "level": "warning",
            "service": "gateway",
            "region": "",
            "message": "rate limited 10.0.0.0/24",
        },
    ]


def check_store(store: Any) -> None:
    assert store.ingest(records()) == 5
    by_level = {r["level"]: r["count"] for r in store.count(by=["level"])}
    assert by_level == {"error": 3, "info": 1, "warning": 1}
    window = store.count(by=["service", "region"], start=T0, end=T0 + 10, where={"level": "ERROR"})
    assert window == [{"service": "edge", "region": "us-east", "count": 2}]
    hits = store.search("origin timeout")
    assert [h["service"] for h in hits] == ["gateway", "edge"]  # newest first
    assert len(store.search("origin timeout", where={"service": "edge"})) == 1
    assert store.search("10.0.0.0/24")[0]["level"] == "warning"
    assert store.search("nothing-like-this") == []


def test_fts5_search_and_counts(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "logs.db")
    check_store(store)
    with pytest.raises(ValueError, match="group"):
        store.count(by=["user"])


def test_shipper_tails_files_once_and_counts_errors(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    path = log_dir / "edge.jsonl"
    fmt = JsonFormatter("edge")
    lines = []
    for level, msg in ((logging.ERROR, "boom"), (logging.INFO, "ok"), (logging.ERROR, "boom again")):
        rec = logging.LogRecord("streamverse.platform.edge", level, __file__, 1, msg, (), None)
        rec.region = "us-east"
        lines.append(fmt.format(rec))
    path.write_text("\n".join(lines) + "\n" + '{"level": "error", "message": "half a li')  # torn last line

    class Metrics:
        def __init__(self) -> None:
            self.samples: list[Any] = []

        def write(self, samples: Any) -> int:
            self.samples = list(samples)
            return len(self.samples)

    metrics = Metrics()
    store = SqliteLogStore(tmp_path / "logs.db")
    shipper = LogShipper(store=store, log_dir=log_dir, clock=VirtualClock(T0), metrics=metrics)  # type: ignore[arg-type]
    assert shipper.ship_once() == 3
    assert shipper.ship_once() == 0  # nothing twice
    with path.open("a") as fh:
        fh.write('ne"}\n')  # the torn line completes
    assert shipper.ship_once() == 1
    errors = {(s.labels["service"], s.labels["level"]): s.value for s in metrics.samples}
    assert errors[("edge", "error")] == 3 and errors[("edge", "info")] == 1
    assert {r["region"] for r in store.count(by=["region"], where={"level": "error"})} == {"us-east", ""}
    # A restarted shipper resumes after what was shipped and keeps its counters.
    again = LogShipper(store=store, log_dir=log_dir, clock=VirtualClock(T0), metrics=metrics)  # type: ignore[arg-type]
    assert again.ship_once() == 0
    assert again.counts[("edge", "error")] == 3
    assert json.loads(lines[0])["service"] == "edge"


@pytest.mark.skipif(
    not os.environ.get("STREAMVERSE_ES_URL"),
    reason="STREAMVERSE_ES_URL not set: no Elasticsearch to test against",
)
def test_elasticsearch_answers_like_fts5() -> None:
    from streamverse.collectors.logs_es import ElasticLogStore

    store = ElasticLogStore(os.environ["STREAMVERSE_ES_URL"], index=f"sv-test-{uuid.uuid4().hex[:8]}")
    try:
        check_store(store)
    finally:
        store.es.indices.delete(index=store.index)
        store.close()
