"""The snapshot collector: platform scrape snapshots into a real embedded store."""

from __future__ import annotations

from pathlib import Path

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.snapshots import SnapshotCollector
from streamverse.platform.scrape_snapshot import ScrapeSample, ScrapeSnapshot

T0 = 1_750_000_000.0


def _snap(ts: float, requests: float) -> ScrapeSnapshot:
    iad = {"region": "us-east", "pop": "iad"}
    return ScrapeSnapshot(ts=ts, samples=[
        ScrapeSample("streamverse_edge_requests_total", iad, requests, "counter"),
        ScrapeSample("streamverse_pop_healthy", iad, 1.0, "gauge"),
        # an anchor sample with its own exposition time, one interval before the scrape
        ScrapeSample("streamverse_usage_video_egress_bytes_total", {"video_id": "42"}, 5.0, "counter",
                     timestamp=ts - 30.0),
    ])


def test_samples_land_at_their_scrape_or_own_time_in_batches(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    collector = SnapshotCollector(store, batch=5)
    collector.publish(_snap(T0, 10.0))
    assert collector.written == 0 and len(collector.pending) == 3  # under a batch: held back
    collector.publish(_snap(T0 + 30, 25.0))
    assert collector.written == 6 and not collector.pending  # a batch gathered: written
    collector.publish(_snap(T0 + 60, 40.0))
    collector.flush()
    store.flush()
    assert collector.written == 9
    df = store.range_query('streamverse_edge_requests_total{pop="iad"}', T0, T0 + 60, 30)
    assert df.sort_values("timestamp")["value"].tolist() == [10.0, 25.0, 40.0]
    anchor = store.instant_query('streamverse_usage_video_egress_bytes_total{video_id="42"}', T0 - 30)
    assert anchor["value"].tolist() == [5.0]  # written at its own timestamp, before the first scrape


def test_flush_with_nothing_pending_writes_nothing(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    collector = SnapshotCollector(store)
    collector.flush()
    assert collector.written == 0 and store.series("streamverse_pop_healthy") == []
