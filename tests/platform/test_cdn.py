"""CDN tiers, fills, faults and the latency model, on a virtual clock."""

from __future__ import annotations

import pytest

from streamverse.clock import VirtualClock
from streamverse.errors import UsageError
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology

T0 = 1_700_000_000.0
KEY = "videos/7/720p/seg_00001.ts"


@pytest.fixture
def platform() -> Platform:
    return Platform(topology=load_topology(), clock=VirtualClock(T0), pop_cache_bytes=10_000_000,
                    shield_cache_bytes=40_000_000, metrics=PlatformMetrics())


def test_edge_shield_origin_tiers_and_fills(platform: Platform) -> None:
    cdn = platform.cdn
    first = cdn.fetch("ashburn-1", KEY, 1000)
    assert (first.status, first.tier, first.size) == (200, "origin", 1000)
    again = cdn.fetch("ashburn-1", KEY, 1000)
    assert again.tier == "edge"
    sibling = cdn.fetch("new-york-1", KEY, 1000)  # same region: the shield has it
    assert sibling.tier == "shield"
    assert cdn.fetch("new-york-1", KEY, 1000).tier == "edge"
    abroad = cdn.fetch("london-1", KEY, 1000)  # another region's shield is cold
    assert abroad.tier == "origin"
    assert again.latency_ms < sibling.latency_ms < first.latency_ms
    assert cdn.pops["ashburn-1"].cache.contains(KEY) and cdn.shields["us-east"].cache.contains(KEY)
    assert cdn.origin_requests[("california-hq", 200)] == 2
    assert cdn.edge_requests[("ashburn-1", "hit", 200)] == 1
    assert cdn.edge_bytes["ashburn-1"] == 2000


def test_unknown_object_is_404_and_unknown_pop_refused(platform: Platform) -> None:
    assert platform.cdn.fetch("ashburn-1", "videos/1/nothing").status == 404  # no size, no source
    with pytest.raises(UsageError, match="ashburn-1"):
        platform.cdn.fetch("nowhere-9", KEY, 10)


def test_origin_loss_serves_cached_fails_uncached_and_backup_recovers(platform: Platform) -> None:
    cdn = platform.cdn
    cdn.fetch("ashburn-1", KEY, 1000)
    platform.inject_fault("origin-loss", duration_s=600)
    assert cdn.fetch("ashburn-1", KEY, 1000).status == 200  # edge copy
    assert cdn.fetch("atlanta-1", KEY, 1000).tier == "shield"  # shield copy
    cold = cdn.fetch("ashburn-1", "videos/8/720p/seg_00001.ts", 1000)
    assert cold.status == 503 and cold.tier == "none"
    change = platform.switch_origin("texas")
    assert change["active_origin"] == {"old": "california-hq", "new": "texas"}
    warm = cdn.fetch("ashburn-1", "videos/8/720p/seg_00001.ts", 1000)
    assert (warm.status, warm.tier) == (200, "origin")
    assert cdn.origin_requests[("texas", 200)] == 1


def test_gray_region_outage_fails_requests_but_health_stays_green(platform: Platform) -> None:
    cdn = platform.cdn
    cdn.fetch("ashburn-1", KEY, 1000)
    platform.inject_fault("region-outage", target="us-east", duration_s=600)
    res = cdn.fetch("ashburn-1", KEY, 1000)
    assert res.status == 503 and res.tier == "none"
    assert all(cdn.pop_health(p) for p in ("ashburn-1", "new-york-1", "miami-1"))
    assert cdn.fetch("london-1", KEY, 1000).status == 200


def test_partial_error_rate_is_a_probability(platform: Platform) -> None:
    platform.inject_fault("region-outage", target="eu-west", duration_s=600, params={"error_rate": 0.3})
    codes = [platform.cdn.fetch("paris-1", KEY, 1000).status for _ in range(2000)]
    share = codes.count(503) / len(codes)
    assert 0.25 < share < 0.35


def test_hard_outage_flips_pop_health(platform: Platform) -> None:
    platform.inject_fault("region-outage", target="us-east", duration_s=600, params={"mode": "hard"})
    assert not platform.cdn.pop_health("ashburn-1")
    assert platform.cdn.pop_health("london-1")
    platform.clear_fault()
    assert platform.cdn.pop_health("ashburn-1")


def test_edge_cache_failure_wipes_and_bypasses_the_edge(platform: Platform) -> None:
    cdn = platform.cdn
    pop = _first_pop(platform, "sa-east")
    cdn.fetch(pop, KEY, 1000)
    assert cdn.pops[pop].cache.contains(KEY)
    platform.inject_fault("edge-cache-failure", target="sa-east", duration_s=600)
    res = cdn.fetch(pop, KEY, 1000)
    assert res.tier == "shield" and not cdn.pops[pop].cache.contains(KEY)
    assert cdn.fetch(pop, KEY, 1000).tier == "shield"  # nothing is stored either


def test_latency_spike_and_load_add_latency(platform: Platform) -> None:
    cdn = platform.cdn
    pop = _first_pop(platform, "ap-northeast")
    cdn.fetch(pop, KEY, 1000)
    base = cdn.fetch(pop, KEY, 1000).latency_ms
    platform.inject_fault("latency-spike", target="ap-northeast", duration_s=600, params={"extra_ms": 400})
    assert cdn.fetch(pop, KEY, 1000).latency_ms == pytest.approx(base + 400)
    platform.clear_fault()
    cdn.observe_load(pop, cdn.pops[pop].capacity_gbps * 0.9)
    loaded = cdn.fetch(pop, KEY, 1000).latency_ms
    assert loaded > base
    cdn.observe_load(pop, cdn.pops[pop].capacity_gbps * 2)
    assert cdn.fetch(pop, KEY, 1000).latency_ms > loaded


def test_client_region_sets_the_rtt(platform: Platform) -> None:
    cdn = platform.cdn
    cdn.fetch("london-1", KEY, 1000)
    local = cdn.fetch("london-1", KEY, 1000, client_region="eu-west").latency_ms
    remote = cdn.fetch("london-1", KEY, 1000, client_region="us-west").latency_ms
    assert remote > local + 50


def test_live_source_bytes_flow_through_every_tier() -> None:
    store = {"videos/1/a.ts": b"x" * 5000}
    plat = Platform(topology=load_topology(), clock=VirtualClock(T0), pop_cache_bytes=1_000_000,
                    origin_source=store.get)
    res = plat.cdn.fetch("ashburn-1", "videos/1/a.ts")
    assert res.body == store["videos/1/a.ts"] and res.size == 5000
    assert plat.cdn.fetch("ashburn-1", "videos/1/a.ts").body is res.body  # the cached object, no copy
    assert plat.cdn.fetch("ashburn-1", "videos/1/missing.ts").status == 404


def test_prewarm_purge_and_export_metrics(platform: Platform) -> None:
    cdn = platform.cdn
    items = [(f"videos/3/360p/seg_{i:05d}.ts", 1000) for i in range(5)]
    assert cdn.prewarm(items, pops=["ashburn-1", "london-1"]) == 10
    assert cdn.fetch("ashburn-1", items[0][0]).tier == "edge"
    assert cdn.fetch("new-york-1", items[1][0]).tier == "shield"  # prewarm fills the shields too
    assert cdn.purge("videos/3/", pops=["ashburn-1"]) == 5
    assert cdn.fetch("ashburn-1", items[2][0], 1000).tier == "origin"  # shield purged as well
    cdn.export_metrics()
    m = platform.metrics
    assert m is not None
    reg = m.registry
    val = reg.get_sample_value("streamverse_edge_requests_total",
                               {"region": "us-east", "pop": "ashburn-1", "cache": "hit", "code": "200"})
    assert val == 1.0
    assert reg.get_sample_value("streamverse_cache_bytes",
                                {"tier": "edge", "region": "eu-west", "pop": "london-1"}) == 5000
    cdn.export_metrics()  # idempotent: only deltas are added
    labels = {"region": "us-east", "pop": "ashburn-1", "cache": "hit", "code": "200"}
    assert reg.get_sample_value("streamverse_edge_requests_total", labels) == 1.0


def _first_pop(platform: Platform, region: str) -> str:
    return platform.topology.region_by_name[region].pops[0].name
