"""The live edge server on free ports: signed paths, cache hits, faults, health and metrics."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from streamverse.clock import RealClock
from streamverse.platform.geodns import HealthChecker
from streamverse.platform.live.actuator import FaultActuator
from streamverse.platform.live.edge_server import start_edge_servers
from streamverse.platform.live.health_probe import HttpHealthProber
from streamverse.platform.live.origin_source import OriginSource
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology
from streamverse.platform.url_signing import sign_prefix
from tests.conftest import free_port

KEY = b"edge-test-secret-" + b"k" * 32
LADDER = [("360p", 640, 360, 500_000), ("720p", 1280, 720, 2_500_000)]


class EdgeThread:
    """Edge servers on their own loop in a thread, as the live runner hosts them."""

    def __init__(self, platform: Platform, ports: dict[str, int], metrics: PlatformMetrics) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.edges: Any = self.call(start_edge_servers(platform, host="127.0.0.1", ports=ports, key=KEY,
                                                       metrics=metrics))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def stop(self) -> None:
        try:
            self.call(self.edges.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def live() -> Iterator[tuple[Platform, OriginSource, EdgeThread]]:
    source = OriginSource(video_info=lambda vid: (20.0, LADDER) if vid == 42 else None)
    metrics = PlatformMetrics()
    platform = Platform(topology=load_topology(), clock=RealClock(), pop_cache_bytes=32 << 20,
                        shield_cache_bytes=64 << 20, origin_source=source, origin_size_of=source.size_of,
                        metrics=metrics)
    edge = EdgeThread(platform, {"ashburn-1": free_port(), "london-1": free_port()}, metrics)
    try:
        yield platform, source, edge
    finally:
        edge.stop()


def signed(video: int) -> str:
    return sign_prefix(f"videos/{video}/", key=KEY, expires_at=int(time.time()) + 600)


def test_signed_segment_served_with_the_right_bytes_then_an_edge_hit(live: Any) -> None:
    platform, source, edge = live
    base = edge.edges["ashburn-1"]
    with httpx.Client(base_url=base) as http:
        master = http.get(signed(42) + "master.m3u8")
        assert master.status_code == 200
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert "RESOLUTION=1280x720" in master.text and "720p/index.m3u8" in master.text
        media = http.get(signed(42) + "720p/index.m3u8")
        assert "#EXT-X-TARGETDURATION:6" in media.text and media.text.rstrip().endswith("#EXT-X-ENDLIST")
        path = signed(42) + "720p/seg_00001.ts"
        first = http.get(path)
        assert first.status_code == 200 and first.headers["content-type"] == "video/mp2t"
        assert first.content == source("videos/42/720p/seg_00001.ts")
        assert len(first.content) == 2_500_000 * 6 // 8
        assert first.headers["x-cache"] == "MISS" and first.headers["x-cache-tier"] == "origin"
        second = http.get(path + "?CMCD=bl%3D1000")
        assert second.headers["x-cache"] == "HIT" and second.content == first.content
        head = http.head(path)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(first.content)
        assert http.get(signed(42) + "720p/seg_00009.ts").status_code == 404  # 20 s = 4 segments
    assert platform.cdn.edge_requests[("ashburn-1", "hit", 200)] == 2


def test_bad_signature_and_other_video_are_403(live: Any) -> None:
    _, _, edge = live
    token = signed(42)
    forged = token.replace(token.split("/")[3], "0" * 32)
    with httpx.Client(base_url=edge.edges["london-1"]) as http:
        assert http.get(forged + "master.m3u8").status_code == 403
        other = token.replace("videos/42/", "videos/43/")
        assert http.get(other + "master.m3u8").status_code == 403
        expired = sign_prefix("videos/42/", key=KEY, expires_at=int(time.time()) - 5)
        assert http.get(expired + "master.m3u8").status_code == 403
        assert http.get("/videos/42/master.m3u8").status_code == 404
        assert http.get(token + "../../etc/passwd").status_code == 403


def test_gray_failure_503_while_health_is_200_and_hard_down_stops_listening(live: Any) -> None:
    platform, _, edge = live
    actuator = FaultActuator(platform.faults, edge.edges)
    base = edge.edges["ashburn-1"]
    with httpx.Client(base_url=base) as http:
        assert http.get(signed(42) + "master.m3u8").status_code == 200
        fault = platform.inject_fault("region-outage", target="us-east", duration_s=300)
        assert edge.call(actuator.apply()) == ([], [])  # gray: nothing stops listening
        assert http.get(signed(42) + "master.m3u8").status_code == 503
        assert http.get("/health").status_code == 200
        platform.clear_fault(fault.id)
        outage = platform.inject_fault("pop-outage", target="ashburn-1", duration_s=300)
        assert edge.call(actuator.apply()) == (["ashburn-1"], [])
    # a hard-down PoP is a host that does not answer: the connection is refused, as for a dead process
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=base) as http:
        http.get("/health")
    with httpx.Client(base_url=edge.edges["london-1"]) as http:
        assert http.get(signed(42) + "master.m3u8").status_code == 200
    platform.clear_fault(outage.id)
    assert edge.call(actuator.apply()) == ([], ["ashburn-1"])
    with httpx.Client(base_url=base) as http:  # back on the same address, its cache kept
        assert http.get("/health").status_code == 200
        assert http.get(signed(42) + "master.m3u8").headers["x-cache"] == "HIT"


def test_http_health_checks_notice_a_closed_listener_after_fall_probes(live: Any) -> None:
    platform, _, edge = live
    checker = HealthChecker(lambda _t: True, ["ashburn-1", "london-1"], clock=RealClock(), interval_s=0.05,
                            fall=2, rise=2)
    prober = HttpHealthProber(checker, edge.edges, timeout_s=0.5)

    async def rounds(n: int) -> None:
        async with httpx.AsyncClient(timeout=0.5) as http:
            for _ in range(n):
                await prober.probe_due(http)
                await asyncio.sleep(0.06)

    edge.call(rounds(2))
    assert checker.healthy("ashburn-1") and checker.last_ok("ashburn-1") is True
    edge.call(edge.edges.take_down("ashburn-1"))  # what a killed process looks like from outside
    edge.call(rounds(1))
    assert checker.last_ok("ashburn-1") is False and checker.healthy("ashburn-1")  # one failure: not yet
    edge.call(rounds(1))
    assert not checker.healthy("ashburn-1") and checker.healthy("london-1")
    edge.call(edge.edges.bring_up("ashburn-1"))
    edge.call(rounds(2))
    assert checker.healthy("ashburn-1")


def test_metrics_show_this_pops_edge_requests(live: Any) -> None:
    _, _, edge = live
    with httpx.Client(base_url=edge.edges["london-1"]) as http:
        for _ in range(3):
            http.get(signed(42) + "360p/seg_00000.ts")
        text = http.get("/metrics").text
    hits = 'streamverse_edge_requests_total{cache="hit",code="200",pop="london-1",region="eu-west"} 2.0'
    assert hits in text
    assert 'pop="ashburn-1"' not in text
    assert "streamverse_cache_bytes" in text


def test_keep_alive_and_pipelined_requests_are_answered_in_order(live: Any) -> None:
    _, _, edge = live
    host, port = edge.edges["ashburn-1"].removeprefix("http://").split(":")
    token = signed(42)
    reqs = b"".join(f"GET {token}{p} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                    for p in ("master.m3u8", "nope.ts", "720p/index.m3u8"))
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(reqs + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) [A-Z]", data)
    assert statuses == [b"200", b"404", b"200", b"200"]
    assert data.index(b"#EXT-X-STREAM-INF") < data.index(b"#EXT-X-TARGETDURATION")


def test_origin_source_ladder_sizes_and_listing() -> None:
    # The runner passes a dict with (name, bitrate, width, height) tuples; both shapes are accepted.
    info = {"duration_s": 13.0, "renditions": [("720p", 2_500_000, 1280, 720), ("360p", 500_000, 640, 360)]}
    src = OriginSource(video_info=lambda vid: info if vid == 5 else None)
    master = src("videos/5/master.m3u8")
    assert master is not None and master.decode().index("360p/index.m3u8") < master.decode().index("720p")
    media = (src("videos/5/360p/index.m3u8") or b"").decode()
    assert media.count("#EXTINF:") == 3 and "#EXTINF:1.000," in media  # 6 + 6 + 1 s
    objects = dict(src.objects_for_video(5))
    assert objects["videos/5/720p/seg_00000.ts"] == 2_500_000 * 6 // 8
    assert objects["videos/5/720p/seg_00002.ts"] == 2_500_000 // 8
    for key, size in objects.items():
        body = src(key)
        assert body is not None and len(body) == size == src.size_of(key)
    assert src("videos/5/720p/seg_00003.ts") is None and src("videos/6/master.m3u8") is None
    assert src("videos/5/1080p/index.m3u8") is None and src.size_of("nope") is None


def test_latency_spike_is_felt_by_live_clients_and_hits_are_not_held(live: Any) -> None:
    platform, _, edge = live
    path = signed(42) + "360p/seg_00002.ts"
    with httpx.Client(base_url=edge.edges["ashburn-1"]) as http:
        assert http.get(path).status_code == 200  # fill the edge
        t0 = time.perf_counter()
        assert http.get(path).headers["x-cache"] == "HIT"
        hit_s = time.perf_counter() - t0
        platform.inject_fault("latency-spike", target="us-east", duration_s=60,
                              params={"extra_ms": 300.0})
        t0 = time.perf_counter()
        slow = http.get(path)
        slow_s = time.perf_counter() - t0
        # Pipelined requests behind a held response still come back in order.
        with socket.create_connection(("127.0.0.1", int(edge.edges["ashburn-1"].rsplit(":", 1)[1]))) as s:
            p = path.encode()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET " + p + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while got.count(b"HTTP/1.1 200") < 2:
                got += s.recv(1 << 20)
            assert got.index(b'"status":"ok"') < got.index(b"X-Cache: HIT")
    assert slow.status_code == 200 and slow.headers["x-cache"] == "HIT"
    assert slow_s >= 0.29
    assert hit_s < 0.1
