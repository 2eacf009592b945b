"""The live ddos: bots on distinct loopback addresses are distinct clients to the gateway's per-IP limits."""

from __future__ import annotations

import asyncio
import time

import httpx

from streamverse.clock import RealClock
from streamverse.platform.faults import fault_book_for
from streamverse.platform.gateway import create_gateway_app
from streamverse.platform.live.botnet import Botnet, bot_address, viewer_address
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.ratelimit import Limit, LimitTable, MemoryRateLimiter
from streamverse.platform.topology import load_topology
from streamverse.settings import Settings
from tests.platform.test_gateway import LiveServer


def _gateway(tmp_path, limits: LimitTable) -> tuple[LiveServer, PlatformMetrics, MemoryRateLimiter]:
    clock = RealClock()
    metrics = PlatformMetrics()
    limiter = MemoryRateLimiter(clock=clock, limits=limits)
    settings = Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 32)
    # the catalog upstream is not running: what matters is who the gateway admits and limits
    app = create_gateway_app(settings=settings, clock=clock, limiter=limiter, limits=limits, metrics=metrics,
                             region="global",
                             upstreams={n: "http://127.0.0.1:9" for n in ("accounts", "catalog", "playback")})
    return LiveServer(app).start(), metrics, limiter


def test_addresses_are_distinct_loopback_hosts():
    assert bot_address(2, 0) != bot_address(2, 1) != bot_address(3, 1)
    assert viewer_address(0).startswith("127.1.") and bot_address(0, 300) == "127.20.1.51"


def test_bots_start_with_the_fault_are_limited_per_address_and_stop_with_it(tmp_path):
    limits = LimitTable({"user": Limit(100, 100), "ip": Limit(5, 5)})
    server, metrics, limiter = _gateway(tmp_path, limits)
    topology = load_topology()
    faults = fault_book_for(topology, RealClock())
    regions = [r.name for r in topology.regions]
    botnet = Botnet(gateway_url=server.url, faults=faults, regions=regions, max_bots=8, rate_per_s=20)

    async def scenario() -> dict[str, object]:
        assert await botnet.apply() == {}  # no fault, no bots
        fault = faults.inject("ddos", target="eu-west", duration_s=60, params={"bot_ips": 8})
        assert await botnet.apply() == {"eu-west": 8}
        await asyncio.sleep(1.5)
        # a viewer on its own address is still admitted while the bots are over their limits
        transport = httpx.AsyncHTTPTransport(local_address=viewer_address(0))
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as viewer:
            mine = await viewer.get("/v1/catalog")
        # every bot spent its own per-IP bucket (eu-west is region 2: 127.22.0.x), and so did the viewer
        own_buckets = all(limiter.tracking("ip", bot_address(2, i)) for i in range(8))
        others = limiter.tracking("ip", bot_address(2, 8)) or limiter.tracking("ip", "127.0.0.1")
        viewer_bucket = limiter.tracking("ip", viewer_address(0))
        faults.clear(fault.id)
        assert await botnet.apply() == {}
        return {"viewer": mine.status_code, "own": own_buckets, "others": others, "mine": viewer_bucket}

    try:
        got = asyncio.run(scenario())
    finally:
        server.stop()
    assert got["viewer"] != 429 and got["mine"]  # admitted (401: no token), charged to its own address
    assert botnet.sent > 8 * 2 and botnet.limited > 0  # every bot is over its 2/s allowance
    limited = metrics.ratelimited.labels(scope="ip")._value.get()
    assert limited == botnet.limited
    assert got["own"] and not got["others"]  # eight bots, eight clients with a bucket each
    sent_after = botnet.sent
    time.sleep(0.3)
    assert botnet.sent == sent_after  # stopped with the fault
