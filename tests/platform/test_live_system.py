"""The whole live system in-process on free ports: real viewers, real edges, faults via the API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamverse.settings import Settings
from streamverse.system.live import start_live_system
from streamverse.system.live_system import LiveSystem

pytestmark = pytest.mark.slow


class LiveThread:
    """Runs a live system on its own event loop in a thread, so tests (and subprocesses) can call it."""

    def __init__(self, settings: Settings, *, viewers: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        starting = start_live_system(settings, viewers=viewers, health_interval_s=0.5, watch_s=(6.0, 12.0))
        self.system: LiveSystem = self.call(starting, timeout=60)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the system's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run a plain function on the loop thread (platform objects are not thread-safe)."""

        async def wrapper() -> Any:
            return fn()

        return self.call(wrapper())

    def stop(self) -> None:
        """Stop every server and the loop."""
        try:
            self.call(self.system.stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@contextmanager
def live_system(tmp_path: Path, *, viewers: int = 6) -> Iterator[LiveThread]:
    """A live system with its own data dir on free ports, always stopped afterwards."""
    settings = Settings(data_dir=tmp_path / "data", base_port=0, jwt_secret="live-test-" + "x" * 32,
                        live_cache_bytes=16 * 1024 * 1024)
    live = LiveThread(settings, viewers=viewers)
    try:
        yield live
    finally:
        live.stop()


def edge_requests(live: LiveThread, pops: list[str] | None = None, *, code_prefix: str = "") -> float:
    """Sum of the edge request counter, optionally for some PoPs and status classes."""
    live.run(live.system.platform.export_metrics)
    registry = live.system.metrics["platform"].registry
    total = 0.0
    for metric in registry.collect():
        if metric.name != "streamverse_edge_requests":
            continue
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            if pops is not None and sample.labels.get("pop") not in pops:
                continue
            if not str(sample.labels.get("code", "")).startswith(code_prefix):
                continue
            total += sample.value
    return total


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll until `predicate` holds; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveThread]:
    with live_system(tmp_path) as running:
        yield running


def test_viewers_fetch_real_segments_and_outage_is_gray(live: LiveThread) -> None:
    system = live.system
    api = system.urls["api"]
    admin = {"Authorization": f"Bearer {system.tokens['admin']}"}
    viewer = {"Authorization": f"Bearer {system.tokens['viewer']}"}
    us_east = [p.name for p in system.platform.topology.region_by_name["us-east"].pops]

    # Viewers play through the gateway and the edges: counters rise, bytes are whole segments.
    wait_for(lambda: sum(v.stats["segments"] for v in system.viewers) >= 6, what="viewers fetching segments")
    assert edge_requests(live, code_prefix="2") > 0
    assert any(v.stats["last_pop"] for v in system.viewers)
    first = next(v for v in system.viewers if v.stats["segments"])
    assert first.stats["bytes"] > 100_000

    # A segment fetched by hand through an edge has exactly the origin's size for that key.
    with httpx.Client(timeout=10) as http:
        login = http.post(f"{system.urls['gateway']}/v1/auth/login",
                          json={"username": "viewer0001", "password": "streamverse-demo"})
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        play = http.post(f"{system.urls['gateway']}/v1/playback/1",
                         headers={**bearer, "X-Client-Region": "eu-west"})
        assert play.status_code == 200, play.text
        master = http.get(play.json()["master_url"])
        assert master.status_code == 200 and "#EXTM3U" in master.text
        variant = next(line for line in master.text.splitlines() if line and not line.startswith("#"))
        media = http.get(httpx.URL(play.json()["master_url"]).join(variant))
        seg = next(line for line in media.text.splitlines() if line and not line.startswith("#"))
        seg_url = media.url.join(seg)
        body = http.get(seg_url)
        assert body.status_code == 200
        key = "/".join(seg_url.path.split("/")[4:])
        assert key.startswith("videos/1/") and key.endswith(".ts")
        assert int(body.headers["content-length"]) == len(body.content) == live.run(
            lambda: system.platform.size_of(key)) > 100_000

        # Who may inject: nobody without a token, not a viewer, yes an admin.
        fault = {"scenario": "region-outage", "target": "us-east", "duration": "2m"}
        assert http.post(f"{api}/api/v1/platform/faults", json=fault).status_code == 401
        assert http.post(f"{api}/api/v1/platform/faults", json=fault, headers=viewer).status_code == 403
        bad = http.post(f"{api}/api/v1/platform/faults", json={**fault, "duration": "soon"}, headers=admin)
        assert bad.status_code == 422 and "duration" in bad.text
        before_5xx = edge_requests(live, us_east, code_prefix="5")
        made = http.post(f"{api}/api/v1/platform/faults", json=fault, headers=admin)
        assert made.status_code == 201, made.text
        assert made.json()["scenario"] == "region-outage" and made.json()["active"] is True

        # Gray failure: us-east edges fail requests while their health checks stay green.
        edge = system.edges[us_east[0]]
        assert http.get(f"{edge}/health").status_code == 200
        on_edge = seg_url.copy_with(host=httpx.URL(edge).host, port=httpx.URL(edge).port)
        failed = http.get(on_edge)
        assert failed.status_code >= 500
        wait_for(lambda: edge_requests(live, us_east, code_prefix="5") > before_5xx, what="us-east 5xx")
        listed = http.get(f"{api}/api/v1/platform/faults", headers=viewer).json()
        assert any(f["active"] and f["target"] == "us-east" for f in listed["faults"])

        # Clearing the fault brings the edge back.
        cleared = http.delete(f"{api}/api/v1/platform/faults", headers=admin)
        assert cleared.status_code == 200 and cleared.json()["cleared"]
        assert http.get(on_edge).status_code == 200
        status = http.get(f"{api}/api/v1/platform/status", headers=viewer)
        assert status.status_code == 200

    # Viewers record their experience.
    registry = system.metrics["viewers"].registry
    sessions = registry.get_sample_value("streamverse_playback_sessions_total", {"region": "us-east"})
    assert sessions and sessions >= 1
    assert system.beacons() and {"sid", "br", "cid"} <= set(system.beacons()[0]["cmcd"])


def test_remediation_actions_reach_the_platform(live: LiveThread) -> None:
    system = live.system
    api = system.urls["api"]
    responder = {"Authorization": f"Bearer {system.tokens['responder']}"}
    viewer = {"Authorization": f"Bearer {system.tokens['viewer']}"}
    with httpx.Client(timeout=10) as http:
        assert http.post(f"{api}/api/v1/platform/actions/drain-region", json={"region": "us-east"},
                         headers=viewer).status_code == 403
        drained = http.post(f"{api}/api/v1/platform/actions/drain-region", json={"region": "us-east"},
                            headers=responder)
        assert drained.status_code == 200, drained.text
        pops = {p.name for p in system.platform.topology.region_by_name["us-east"].pops}
        answers = {live.run(lambda: system.platform.dns.resolve("us-east")) for _ in range(20)}
        assert not answers & pops
        unknown = http.post(f"{api}/api/v1/platform/actions/drain-region", json={"region": "mars-1"},
                            headers=responder)
        assert unknown.status_code == 400 and "mars-1" in unknown.text
        missing = http.post(f"{api}/api/v1/platform/actions/set-pop-weight", json={"pop": "tokyo-7"},
                            headers=responder)
        assert missing.status_code == 422 and "weight" in missing.text
        limit = http.post(f"{api}/api/v1/platform/actions/set-rate-limit",
                          json={"key": "ip:10.0.0.9", "rate_per_s": 3, "burst": 5}, headers=responder)
        assert limit.status_code == 200, limit.text
        assert system.platform.limits.get("ip", "10.0.0.9").rate_per_s == 3


def test_platform_unreachable_is_503(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from streamverse.api.service import create_token
    from streamverse.db import get_engine, init_db, session_scope
    from streamverse.system.app import create_app
    from tests.conftest import free_port

    settings = Settings(data_dir=tmp_path / "d", platform_control_url=f"http://127.0.0.1:{free_port()}",
                        platform_control_key="k" * 20)
    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    with session_scope(engine) as session:
        _row, secret = create_token(session=session, role="viewer", name="t")
    with TestClient(create_app(settings, engine=engine)) as client:
        resp = client.get("/api/v1/platform/status", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 503 and "unreachable" in resp.json()["detail"]
