"""RUM ingest over the real control API, and the QoE definitions on hand-made beacons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamverse.api.service import create_token
from streamverse.clock import VirtualClock
from streamverse.collectors.rum import RumAggregator, resolved_ingest_key
from streamverse.collectors.service import make_store
from streamverse.db import get_engine, init_db, session_scope
from streamverse.settings import Settings
from streamverse.system.app import create_app


def beacon(sid: str, event: str, **kw: Any) -> dict[str, Any]:
    return {
        "session_id": sid,
        "region": kw.pop("region", "us-east"),
        "pop": kw.pop("pop", "nyc-1"),
        "device": kw.pop("device", "tv"),
        "video_id": kw.pop("video_id", 7),
        "event": event,
        **kw,
    }


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], VirtualClock]]:
    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    with session_scope(engine) as session:
        _row, secret = create_token(session=session, role="viewer", name="t")
    clock = VirtualClock(1_700_000_000.0)
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        yield client, {"Authorization": f"Bearer {secret}"}, clock


def test_valid_and_malformed_in_one_batch(api: tuple[TestClient, dict[str, str], VirtualClock]) -> None:
    client, auth, _clock = api
    batch = {
        "batch_id": "b-1",
        "beacons": [
            beacon("s1", "start", startup_ms=800, bitrate_bps=1_000_000),
            beacon("s2", "start", startup_ms=-5, video_id="x"),  # two bad fields
            beacon("s3", "teleport"),
            beacon("s4", "end"),
        ],
    }
    resp = client.post("/api/v1/rum/beacons", json=batch, headers=auth)
    assert resp.status_code == 422
    body = resp.json()
    assert body["accepted"] == 2 and body["rejected"] == 2
    bad = {(d["index"], d["field"]) for d in body["detail"]}
    assert bad == {(1, "startup_ms"), (1, "video_id"), (2, "event")}
    qoe = client.get("/api/v1/rum/qoe?by=region", headers=auth).json()
    assert qoe["groups"]["us-east"]["views"] == 2  # s1 and s4 kept
    assert qoe["beacons"]["rejected"] == 2


def test_duplicate_batch_counted_once_and_auth(
    api: tuple[TestClient, dict[str, str], VirtualClock], settings: Settings
) -> None:
    client, auth, _clock = api
    batch = {"batch_id": "retry-me", "beacons": [beacon("a", "start", startup_ms=500)]}
    assert client.post("/api/v1/rum/beacons", json=batch).status_code == 401
    assert client.post("/api/v1/rum/beacons", json=batch, headers={"X-RUM-Key": "nope"}).status_code == 401
    key = {"X-RUM-Key": resolved_ingest_key(settings.data_dir)}
    first = client.post("/api/v1/rum/beacons", json=batch, headers=key)
    assert first.status_code == 202 and first.json()["accepted"] == 1
    again = client.post("/api/v1/rum/beacons", json=batch, headers=auth)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    qoe = client.get("/api/v1/rum/qoe", headers=auth).json()
    assert qoe["groups"]["us-east"]["views"] == 1
    assert qoe["beacons"] == {"accepted": 1, "rejected": 0, "duplicate": 1}
    missing = client.post("/api/v1/rum/beacons", json={"beacons": [beacon("b", "end")]}, headers=key)
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "batch_id"


def test_qoe_definitions_on_hand_made_views() -> None:
    agg = RumAggregator(clock=VirtualClock(1000.0))
    t = 1000.0
    # 20 started views with startups 100..2000 ms: nearest-rank p50 = 1000 ms, p95 = 1900 ms.
    for i in range(1, 21):
        sid = f"ok{i}"
        for b in (
            beacon(sid, "start", ts=t, startup_ms=100 * i, bitrate_bps=1_000_000),
            beacon(sid, "heartbeat", ts=t + 10, played_s=9.0, rebuffer_s=1.0, bitrate_bps=2_000_000),
            beacon(sid, "end", ts=t + 20, played_s=19.0, rebuffer_s=1.0, bitrate_bps=2_000_000),
        ):
            status, _ = agg.ingest_batch(f"{sid}-{b['event']}", [b])
            assert status == 202
    # One fatal error after start, one exit before start, one error before start (a failure, not EBVS).
    agg.ingest_batch(
        "f",
        [
            beacon("fail", "start", ts=t, startup_ms=1000, bitrate_bps=1_000_000),
            beacon("fail", "error", ts=t + 5, error_code="http_503", played_s=5.0),
        ],
    )
    agg.ingest_batch("e", [beacon("quit", "play", ts=t), beacon("quit", "end", ts=t + 3)])
    agg.ingest_batch("g", [beacon("nostart", "error", ts=t, error_code="no_pop")])
    s = agg.summary(by="region")["us-east"]
    assert s["views"] == 23
    assert s["startup_p50_s"] == pytest.approx(1.0) and s["startup_p95_s"] == pytest.approx(1.9)
    assert s["playback_failure_pct"] == pytest.approx(100 * 2 / 23)
    assert s["ebvs_pct"] == pytest.approx(100 * 1 / 23)
    # Rebuffer % = stall / watch; watch = startup + played + stalls.
    startups = sum(0.1 * i for i in range(1, 21)) + 1.0
    watch = startups + 20 * (19.0 + 1.0) + 5.0
    assert s["rebuffer_s"] == pytest.approx(20.0)
    assert s["rebuffer_pct"] == pytest.approx(100 * 20.0 / watch)
    # Bitrate: 9 s at 1 Mb/s then 10 s at 2 Mb/s per view, plus 5 s at 1 Mb/s for the failed one.
    bits = 20 * (9 * 1e6 + 10 * 2e6) + 5 * 1e6
    assert s["avg_bitrate_bps"] == pytest.approx(bits / (20 * 19 + 5))
    assert s["upshifts"] == 20 and s["downshifts"] == 0
    assert agg.summary(by="video")["7"]["views"] == 23


def test_series_reach_the_store_and_histogram_quantile(settings: Settings) -> None:
    clock = VirtualClock(1_700_000_000.0)
    store = make_store(settings)
    agg = RumAggregator(clock=clock, store=store)
    beacons = [
        beacon(f"s{i}", "start", startup_ms=300 if i < 90 else 4000, pop="lon-1", region="eu-west")
        for i in range(100)
    ]
    assert agg.ingest_batch("x", beacons)[0] == 202
    assert agg.flush() > 0
    store.flush()
    at = clock.now()
    views = store.query('sum(streamverse_rum_views_total{region="eu-west"})', at)
    assert float(views["value"].iloc[0]) == 100
    p50 = store.query("histogram_quantile(0.5, sum by (le) (streamverse_rum_startup_seconds_bucket))", at)
    assert 0.25 < float(p50["value"].iloc[0]) <= 0.5  # 300 ms sits in the (0.25, 0.5] bucket
    text = agg.exposition()
    assert 'streamverse_rum_views_total{region="eu-west",pop="lon-1",device="tv"} 100.0' in text
