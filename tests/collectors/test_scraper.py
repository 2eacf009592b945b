"""The embedded scraper against a real process serving /metrics."""

from __future__ import annotations

import asyncio

import pytest

from streamverse.clock import VirtualClock
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.scraper import Scraper, parse_metrics
from streamverse.platform.metrics import PlatformMetrics
from tests.conftest import free_port

T0 = 1_790_000_000.0


def test_parse_keeps_target_labels_on_top():
    text = 'x_total{job="inner",a="1"} 3\n'
    (s,) = parse_metrics(text, at=T0, target_labels={"job": "edge", "instance": "h:1"})
    assert s.labels == {"job": "edge", "exported_job": "inner", "a": "1", "instance": "h:1"}
    assert s.name == "x_total" and s.value == 3.0 and s.timestamp == T0


def test_scrapes_write_up_and_survive_a_down_target_and_a_restart(tmp_path, metrics_server):
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    clock = VirtualClock(T0)
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    scraper = Scraper(store=store, targets=[("edge", metrics_server.url, {"region": "eu-west"}),
                                            ("edge", dead)], clock=clock, interval_s=15, timeout_s=2)
    m = metrics_server.metrics
    for i in range(8):
        if i == 4:  # the target restarts: its counters start again from zero
            metrics_server.metrics = m = PlatformMetrics()
        m.edge_requests.labels(region="eu-west", pop="fra", cache="hit", code="200").inc(100)
        results = asyncio.run(scraper.scrape_once())
        assert [r.up for r in results] == [True, False]
        clock.advance(15)
    up = store.query('up{job="edge"}', T0 + 7 * 15)
    by_instance = dict(zip(up["instance"], up["value"], strict=True))
    assert by_instance[metrics_server.url.split("/")[2]] == 1.0
    assert by_instance[dead.split("/")[2]] == 0.0
    got = store.query('increase(streamverse_edge_requests_total{pop="fra"}[2m])', T0 + 7 * 15)
    assert set(got["region"]) == {"eu-west"} and set(got["job"]) == {"edge"}
    # 8 scrapes, +100 each, one restart: 700 between the first and last sample, extrapolated to
    # the 120 s window: the first sample is 15 s in (< 1.1 x the 15 s spacing), so fully extrapolated.
    assert float(got["value"].iloc[0]) == pytest.approx(700 * (105 + 15) / 105)
    assert not store.query("scrape_duration_seconds", T0).empty
    store.close()


def test_scheduler_runs_the_job(tmp_path, metrics_server):
    from streamverse.clock import RealClock

    store = EmbeddedStore.at_path(tmp_path / "m.db")
    scraper = Scraper(store=store, targets=[("edge", metrics_server.url)], clock=RealClock(), interval_s=0.2)

    async def run() -> None:
        scraper.start()
        await asyncio.sleep(0.9)
        await scraper.stop()

    asyncio.run(run())
    assert len(store.load("up", 0, 2e9)[0].ts) >= 3
    store.close()
