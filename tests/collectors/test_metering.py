"""Usage metering: egress, requests and storage from platform counters, reset-safe, into the store."""

from __future__ import annotations

from streamverse.clock import VirtualClock
from streamverse.collectors.metering import UsageMeter, prometheus_rules, usage_report
from streamverse.collectors.service import make_store
from streamverse.metricstore import Sample
from streamverse.settings import Settings

T0 = 1_700_000_000.0


def test_usage_series_follow_counters_across_a_restart(settings: Settings) -> None:
    store = make_store(settings)
    clock = VirtualClock(T0)
    meter = UsageMeter(store=store, clock=clock)
    edge = {"region": "us-east", "pop": "nyc-1", "cache": "hit", "code": "200"}
    # Edge bytes: 0, 1000, 3000, then the edge restarts (500), then 1500; stored bytes stay 4 GiB.
    values = [0.0, 1000.0, 3000.0, 500.0, 1500.0]
    for i, v in enumerate(values):
        at = T0 + 15 * i
        clock.set(at)
        store.write(
            [
                Sample("streamverse_edge_bytes_sent_total", {"region": "us-east", "pop": "nyc-1"}, at, v),
                Sample("streamverse_edge_requests_total", edge, at, v / 100),
                Sample("streamverse_object_store_bytes", {"storage_class": "hot"}, at, 4.0 * 2**30),
            ]
        )
        meter.collect(at=at)
    store.flush()
    at = clock.now()
    egress = store.query('streamverse_usage_egress_bytes_total{tier="edge",pop="nyc-1"}', at)
    # True increase: 1000 + 2000 + 500 (after the reset) + 1000 = 4500; never negative.
    assert float(egress["value"].iloc[0]) == 4500.0
    reqs = store.query('streamverse_usage_requests_total{tier="edge"}', at)
    assert float(reqs["value"].iloc[0]) == 45.0
    stored = store.query('streamverse_usage_stored_bytes{storage_class="hot"}', at)
    assert float(stored["value"].iloc[0]) == 4.0 * 2**30
    byte_s = store.query("streamverse_usage_stored_byte_seconds_total", at)
    assert float(byte_s["value"].iloc[0]) == 4.0 * 2**30 * 60
    assert "streamverse_shield_bytes_sent_total" in meter.missing  # said, not silently zero

    report = usage_report(store, start=T0, end=at)
    edge_rows = [r for r in report["streamverse_usage_egress_bytes_total"] if r["tier"] == "edge"]
    assert edge_rows and edge_rows[0]["value"] > 4000


def test_prometheus_rules_name_units() -> None:
    rules = prometheus_rules()["groups"][0]["rules"]
    records = {r["record"] for r in rules}
    assert "streamverse_usage_egress_bytes:rate5m" in records
    assert all("rate(" in r["expr"] for r in rules if r["record"].endswith(":rate5m"))
