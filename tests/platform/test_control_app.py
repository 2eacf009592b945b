"""The platform's control endpoints: each one changes the platform, and bad input is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from streamverse.clock import VirtualClock
from streamverse.platform.control_app import CONTROL_KEY_HEADER, create_platform_control_app
from streamverse.platform.ratelimit import LimitTable
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology

KEY = "test-control-key-0123456789"
OBJECTS = {f"videos/7/{r}/seg_{i:05d}.ts": bytes([i]) * (1000 + i)
           for r in ("360p", "720p") for i in range(4)}
OBJECTS["videos/7/master.m3u8"] = b"#EXTM3U\n"


@pytest.fixture
def platform() -> Platform:
    return Platform(topology=load_topology(), clock=VirtualClock(1_700_000_000.0), pop_cache_bytes=10_000_000,
                    shield_cache_bytes=10_000_000, origin_source=OBJECTS.get,
                    origin_size_of=lambda k: len(OBJECTS[k]) if k in OBJECTS else None, limits=LimitTable())


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    def video_objects(video_id: int) -> list[tuple[str, int]]:
        return [(k, len(v)) for k, v in OBJECTS.items() if k.startswith(f"videos/{video_id}/")]

    app = create_platform_control_app(platform, key=KEY, video_objects=video_objects)
    with TestClient(app, headers={CONTROL_KEY_HEADER: KEY}) as c:
        yield c


def _pops(platform: Platform, region: str) -> set[str]:
    return {p.name for p in platform.topology.region_by_name[region].pops}


def test_the_control_key_is_required(platform: Platform) -> None:
    with TestClient(create_platform_control_app(platform, key=KEY)) as bare:
        assert bare.get("/health").status_code == 200
        assert bare.get("/control/status").status_code == 401
        assert bare.get("/control/status", headers={CONTROL_KEY_HEADER: "wrong"}).status_code == 403
        assert bare.post("/control/dns/regions/us-east/drain").status_code == 401
    assert platform.dns.region_weight["us-east"] == 1.0


def test_status_and_scenarios(client: TestClient) -> None:
    status = client.get("/control/status").json()
    assert set(status["regions"]) >= {"us-east", "eu-west"} and status["origin"]["active"] == "california-hq"
    names = {s["name"] for s in client.get("/control/scenarios").json()["scenarios"]}
    assert "region-outage" in names and len(names) == 8


def test_region_drain_and_weight(client: TestClient, platform: Platform) -> None:
    resp = client.post("/control/dns/regions/us-east/drain")
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"]["weight"] == {"old": 1.0, "new": 0.0}
    assert not {platform.dns.resolve("us-east") for _ in range(50)} & _pops(platform, "us-east")

    assert client.post("/control/dns/regions/us-east/weight", json={"weight": 0.5}).status_code == 200
    assert platform.dns.region_weight["us-east"] == 0.5
    bad = client.post("/control/dns/regions/us-east/weight", json={"weight": -1})
    assert bad.status_code == 422 and "weight" in bad.text
    unknown = client.post("/control/dns/regions/atlantis/drain")
    assert unknown.status_code == 400 and "atlantis" in unknown.json()["detail"]


def test_pop_drain_and_weight(client: TestClient, platform: Platform) -> None:
    assert client.post("/control/dns/pops/ashburn-1/drain").status_code == 200
    assert "ashburn-1" not in {platform.dns.resolve("us-east") for _ in range(200)}
    assert client.post("/control/dns/pops/ashburn-1/weight", json={"weight": 2}).status_code == 200
    assert platform.dns.pop_weight["ashburn-1"] == 2.0
    assert client.post("/control/dns/pops/ashburn-1/weight", json={}).status_code == 422
    assert client.post("/control/dns/pops/nowhere-9/drain").status_code == 400


def test_prewarm_ttl_and_purge(client: TestClient, platform: Platform) -> None:
    resp = client.post("/control/cdn/prewarm", json={"video_id": 7, "pops": ["ashburn-1"]})
    assert resp.status_code == 200, resp.text
    cache = platform.cdn.pops["ashburn-1"].cache
    assert cache.used_bytes == sum(len(v) for v in OBJECTS.values())
    assert platform.cdn.pops["new-york-1"].cache.used_bytes == 0
    # Prewarmed objects are edge hits.
    assert platform.cdn.fetch("ashburn-1", "videos/7/360p/seg_00000.ts").tier == "edge"

    keys = client.post("/control/cdn/prewarm",
                       json={"keys": ["videos/7/720p/seg_00001.ts"], "pops": ["tokyo-1"]})
    assert keys.status_code == 200, keys.text
    assert platform.cdn.pops["tokyo-1"].cache.used_bytes == len(OBJECTS["videos/7/720p/seg_00001.ts"])
    assert client.post("/control/cdn/prewarm", json={"video_id": 7, "keys": ["x"]}).status_code == 422
    assert client.post("/control/cdn/prewarm", json={}).status_code == 422
    assert client.post("/control/cdn/prewarm", json={"video_id": 7, "pops": ["mars-1"]}).status_code == 400

    ttl = client.post("/control/cdn/ttl", json={"prefix": "videos/7/", "ttl": "1h"})
    assert ttl.status_code == 200, ttl.text
    assert cache.ttl_for("videos/7/") == 3600.0
    assert client.post("/control/cdn/ttl", json={"prefix": "videos/7/"}).status_code == 422

    purged = client.post("/control/cdn/purge", json={"prefix": "videos/7/", "pops": ["ashburn-1"]})
    assert purged.status_code == 200 and purged.json()["result"]["purged"] == len(OBJECTS)
    assert cache.used_bytes == 0


def test_origin_scale_and_switch(client: TestClient, platform: Platform) -> None:
    before = platform.cdn.origin.capacity_gbps
    assert client.post("/control/origin/scale", json={"factor": 2}).status_code == 200
    assert platform.cdn.origin.capacity_gbps == pytest.approx(2 * before)
    assert client.post("/control/origin/scale", json={"factor": 0}).status_code == 422
    assert client.post("/control/origin/switch", json={"origin": "texas"}).status_code == 200
    assert platform.cdn.origin.active == "texas"
    assert client.post("/control/origin/switch", json={"origin": "atlantis"}).status_code == 400


def test_rate_limits(client: TestClient, platform: Platform) -> None:
    resp = client.post("/control/ratelimits", json={"key": "user", "rate_per_s": 5, "burst": 10})
    assert resp.status_code == 200, resp.text
    assert platform.limits.get("user", "anyone").rate_per_s == 5
    bad = client.post("/control/ratelimits", json={"key": "user", "rate_per_s": 5, "burst": 0})
    assert bad.status_code == 422 and "burst" in bad.text


def test_faults_inject_list_clear(client: TestClient, platform: Platform) -> None:
    made = client.post("/control/faults", json={"scenario": "region-outage", "target": "us-east",
                                                 "duration": "2m"})
    assert made.status_code == 201, made.text
    fault = made.json()
    assert fault["active"] and fault["params"]["mode"] == "gray"
    assert platform.faults.active()[0].end - platform.faults.active()[0].start == 120.0
    assert platform.cdn.fetch("ashburn-1", "videos/7/master.m3u8").status == 503

    second = client.post("/control/faults", json={"scenario": "latency-spike", "duration_s": 60,
                                                   "params": {"extra_ms": 250}})
    assert second.status_code == 201 and second.json()["target"] == "ap-northeast"
    listed = client.get("/control/faults").json()["faults"]
    assert {f["id"] for f in listed} == {fault["id"], second.json()["id"]}

    unknown = client.post("/control/faults", json={"scenario": "meteor", "duration_s": 60})
    assert unknown.status_code == 400 and "region-outage" in unknown.json()["detail"]
    assert client.post("/control/faults", json={"scenario": "ddos", "params": {"nope": 1}}).status_code == 400
    assert client.post("/control/faults", json={"scenario": "ddos", "duration_s": -5}).status_code == 422
    assert client.post("/control/faults", json={"scenario": "ddos", "duration": "soon"}).status_code == 422

    one = client.delete(f"/control/faults/{fault['id']}")
    assert one.status_code == 200 and one.json()["cleared"][0]["id"] == fault["id"]
    assert [f.id for f in platform.faults.active()] == [second.json()["id"]]
    assert client.delete("/control/faults/f999").status_code == 400
    assert client.delete("/control/faults").status_code == 200
    assert platform.faults.active() == []
    assert client.get("/control/faults", params={"active_only": True}).json()["faults"] == []


def test_prewarm_unknown_key_is_refused(client: TestClient) -> None:
    resp = client.post("/control/cdn/prewarm", json={"keys": ["videos/7/9000p/seg_00000.ts"]})
    assert resp.status_code == 400 and "9000p" in resp.json()["detail"]
