"""The gateway live: uvicorn on free ports in front of the real accounts, catalog and playback apps."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel import Session

from streamverse.clock import RealClock, VirtualClock
from streamverse.db import get_engine, init_db
from streamverse.jsonlog import JsonFormatter
from streamverse.platform import catalog
from streamverse.platform.gateway import create_gateway_app
from streamverse.platform.gateway_auth import TokenService
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.ratelimit import Limit, LimitTable, MemoryRateLimiter, RedisRateLimiter
from streamverse.platform.upstreams import create_accounts_app, create_catalog_app, create_playback_app
from streamverse.platform.url_signing import verify_path
from streamverse.settings import Settings
from streamverse.tracing import parse_traceparent
from tests.conftest import free_port

PASSWORD = "correct horse"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class LiveServer:
    """One uvicorn server in a thread; stop() and start() again on the same port."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LiveServer:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="on", loop="asyncio",
                                # the gateway decides itself whether X-Forwarded-For is trusted
                                proxy_headers=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server on {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)


class LineCollector(logging.Handler):
    """Formats records as the services' JSON lines, so tests read what operators would."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("gw")
    settings = Settings(data_dir=tmp / "data", jwt_secret="test-secret-" + "x" * 32)
    engine = get_engine(f"sqlite:///{tmp / 'catalog.db'}")
    init_db(engine)
    with Session(engine) as session:
        catalog.seed_catalog(session=session, count=40, seed=3)
        catalog.seed_accounts(session=session, count=3, password=PASSWORD)
        session.commit()
    clock = RealClock()
    upstream_metrics = PlatformMetrics()
    accounts = LiveServer(create_accounts_app(engine=engine)).start()
    cat = LiveServer(create_catalog_app(engine=engine, metrics=upstream_metrics)).start()
    playback = LiveServer(create_playback_app(
        settings=settings, clock=clock, resolve_pop={"us-east": "ashburn-1", "eu-west": "london-1"}.get,
        edge_url_for=lambda pop: f"http://edge-{pop}.test:8080/", metrics=upstream_metrics,
        engine=engine)).start()
    limits = LimitTable({"user": Limit(1000, 1000), "ip": Limit(1000, 1000)})
    metrics = PlatformMetrics()
    app = create_gateway_app(
        settings=settings, clock=clock, limiter=MemoryRateLimiter(clock=clock, limits=limits),
        limits=limits, metrics=metrics, region="global", breaker_open_s=0.5,
        upstreams={"accounts": accounts.url, "catalog": cat.url, "playback": playback.url})
    gateway = LiveServer(app).start()
    collector = LineCollector()
    for name in ("streamverse.catalog", "streamverse.playback", "streamverse.gateway"):
        logging.getLogger(name).addHandler(collector)
        logging.getLogger(name).setLevel(logging.INFO)
    client = httpx.Client(base_url=gateway.url, timeout=10)
    token = client.post("/v1/auth/login", json={"username": catalog.account_username(1),
                                                "password": PASSWORD}).json()["access_token"]
    yield {"client": client, "token": token, "limits": limits, "metrics": metrics, "settings": settings,
           "catalog": cat, "logs": collector, "gateway": gateway}
    client.close()
    for name in ("streamverse.catalog", "streamverse.playback", "streamverse.gateway"):
        logging.getLogger(name).removeHandler(collector)
    for server in (gateway, playback, cat, accounts):
        server.stop()
    engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sample(metrics: PlatformMetrics, name: str, labels: dict[str, str]) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_login_issues_jwt_and_bad_password_is_401(stack):
    client = stack["client"]
    ok = client.post("/v1/auth/login", json={"username": catalog.account_username(2), "password": PASSWORD})
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], stack["settings"].resolved_jwt_secret, algorithms=["HS256"],
                        issuer="streamverse-gateway")
    assert claims["exp"] - claims["iat"] == 3600 and claims["sub"]
    bad = client.post("/v1/auth/login", json={"username": catalog.account_username(2), "password": "nope"})
    assert bad.status_code == 401 and "access_token" not in bad.json()
    assert client.post("/v1/auth/login", json={"username": ""}).status_code == 422


def test_authenticated_catalog_and_video(stack):
    client, token = stack["client"], stack["token"]
    listing = client.get("/v1/catalog", params={"limit": 5}, headers=auth(token))
    assert listing.status_code == 200
    items = listing.json()["items"]
    assert len(items) == 5 and all("title" in v for v in items)
    video = client.get(f"/v1/videos/{items[0]['id']}", headers=auth(token))
    assert video.status_code == 200 and video.json()["renditions"]
    assert {"name", "width", "height", "bitrate_bps"} <= set(video.json()["renditions"][0])
    assert client.get("/v1/videos/999999", headers=auth(token)).status_code == 404
    assert client.get("/v1/nothing-here", headers=auth(token)).status_code == 404


@pytest.mark.parametrize("kind", ["missing", "basic", "malformed", "expired", "bad_signature"])
def test_bad_tokens_are_401_with_bearer_challenge(stack, kind):
    settings = stack["settings"]
    headers = {
        "missing": {},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "malformed": auth("not.a.jwt"),
        "expired": auth(TokenService(secret=settings.resolved_jwt_secret,
                                     clock=VirtualClock(time.time() - 7200)).issue(1)),
        "bad_signature": auth(TokenService(secret="another-secret-" + "y" * 32, clock=RealClock()).issue(1)),
    }[kind]
    resp = stack["client"].get("/v1/catalog", headers=headers)
    assert resp.status_code == 401
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    expected = {"basic": "malformed"}.get(kind, kind)
    assert resp.json()["reason"] == expected
    assert stack["client"].post("/v1/playback/1", headers=headers).status_code == 401


def test_user_rate_limit_429_with_retry_after_and_runtime_change(stack):
    client, token, limits = stack["client"], stack["token"], stack["limits"]
    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
    before = sample(stack["metrics"], "streamverse_gateway_ratelimited_total", {"scope": "user"})
    limits.set(f"user:{sub}", Limit(0.2, 2))  # changed while the gateway runs
    try:
        codes = [client.get("/v1/catalog", headers=auth(token)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = client.get("/v1/catalog", headers=auth(token))
        assert refused.status_code == 429
        assert refused.json()["limit"] == "user"
        assert 4 <= int(refused.headers["retry-after"]) <= 5  # 1/0.2 s, rounded up
    finally:
        limits.clear(f"user:{sub}")
    assert client.get("/v1/catalog", headers=auth(token)).status_code == 200
    assert sample(stack["metrics"], "streamverse_gateway_ratelimited_total", {"scope": "user"}) == before + 2


def test_ip_limit_uses_peer_not_untrusted_forwarded_for(stack):
    client, token, limits = stack["client"], stack["token"], stack["limits"]
    limits.set("ip:127.0.0.1", Limit(0.1, 1))
    try:
        spoof = {"X-Forwarded-For": "198.51.100.7", **auth(token)}
        assert client.get("/v1/catalog", headers=spoof).status_code == 200
        resp = client.get("/v1/catalog", headers=spoof)
        assert resp.status_code == 429 and resp.json()["limit"] == "ip"
        # Bad tokens still spend the IP allowance (token guessing is throttled too).
        assert client.get("/v1/catalog").status_code == 429
    finally:
        limits.clear("ip:127.0.0.1")


def test_trace_reaches_upstream_and_comes_back(stack):
    client, token, logs = stack["client"], stack["token"], stack["logs"]
    parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    resp = client.get("/v1/catalog", params={"q": "a"}, headers={"traceparent": parent, **auth(token)})
    assert resp.status_code == 200
    back = parse_traceparent(resp.headers["traceresponse"])
    assert back is not None and back[0] == TRACE_ID and back[1] != "00f067aa0ba902b7"
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        upstream = [ln for ln in logs.lines if ln["logger"] == "streamverse.catalog"
                    and ln.get("trace_id") == TRACE_ID]
        if upstream:
            break
        time.sleep(0.02)
    assert upstream and upstream[0]["route"] == "/v1/catalog" and upstream[0]["status"] == 200
    # Without a header the gateway starts a trace, and the upstream still logs under it.
    fresh = parse_traceparent(client.get("/v1/catalog", headers=auth(token)).headers["traceresponse"])
    assert fresh is not None and fresh[0] != TRACE_ID


def test_playback_signs_url_for_the_client_region(stack):
    client, token, settings = stack["client"], stack["token"], stack["settings"]
    resp = client.post("/v1/playback/3", headers={"X-Client-Region": "eu-west", **auth(token)})
    assert resp.status_code == 200
    body = resp.json()
    assert body["pop"] == "london-1" and body["edge"] == "http://edge-london-1.test:8080"
    path = body["master_url"][len(body["edge"]):]
    assert verify_path(path, key=settings.resolved_jwt_secret.encode(), now=time.time()) == \
        "videos/3/master.m3u8"
    assert body["expires_at"] > time.time() + 3000
    default = client.post("/v1/playback/3", headers=auth(token)).json()
    assert default["pop"] == "ashburn-1"  # default client region: us-east
    assert client.post("/v1/playback/999999", headers=auth(token)).status_code == 404
    nopop = client.post("/v1/playback/3", headers={"X-Client-Region": "mars", **auth(token)})
    assert nopop.status_code == 503 and nopop.json()["error"] == "no_pop_available"


def test_breaker_opens_when_upstream_stops_and_recovers(stack):
    client, token, cat = stack["client"], stack["token"], stack["catalog"]
    cat.stop()
    try:
        codes = [client.get("/v1/catalog", headers=auth(token)).status_code for _ in range(5)]
        assert codes == [503] * 5
        started = time.perf_counter()
        fast = client.get("/v1/catalog", headers=auth(token))
        assert time.perf_counter() - started < 0.1
        assert fast.status_code == 503 and "circuit open" in fast.json()["detail"]
        assert int(fast.headers["retry-after"]) >= 1
        metrics_text = client.get("/metrics").text
        assert 'streamverse_gateway_circuit_state{upstream="catalog"} 2.0' in metrics_text
        assert client.get("/health").json()["upstreams"]["catalog"]["state"] == "open"
        # Other upstreams are unaffected.
        assert client.post("/v1/playback/3", headers=auth(token)).status_code == 200
    finally:
        cat.start()
    time.sleep(0.6)  # the open period, then one probe closes it again
    assert client.get("/v1/catalog", headers=auth(token)).status_code == 200
    assert client.get("/health").json()["upstreams"]["catalog"]["state"] == "closed"


def test_metrics_use_route_templates(stack):
    client, token = stack["client"], stack["token"]
    client.get("/v1/videos/7", headers=auth(token))
    text = client.get("/metrics").text
    assert 'streamverse_gateway_requests_total{code="200",route="/v1/videos/{video_id}"}' in text
    assert 'route="/v1/videos/7"' not in text
    assert 'service="gateway"' in text
    assert client.get("/health").json()["status"] == "ok"


def test_gateway_with_redis_limiter(stack, redis_url):
    """Same gateway wiring with the Redis limiter: 429 shared through Redis, Retry-After ceil'd."""
    settings, clock = stack["settings"], RealClock()
    limits = LimitTable({"user": Limit(1000, 1000), "ip": Limit(0.5, 2)})
    metrics = PlatformMetrics()
    limiter = RedisRateLimiter(url=redis_url, clock=clock, limits=limits, metrics=metrics)
    app = create_gateway_app(settings=settings, clock=clock, limiter=limiter, limits=limits, metrics=metrics,
                             upstreams={"accounts": "http://127.0.0.1:9", "catalog": stack["catalog"].url,
                                        "playback": "http://127.0.0.1:9"})
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            codes = [client.get("/v1/catalog", headers=auth(stack["token"])).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            refused = client.get("/v1/catalog", headers=auth(stack["token"]))
            assert refused.headers["retry-after"] == "2"
    finally:
        server.stop()
    import redis

    keys = redis.Redis.from_url(redis_url).keys("sv:rl:ip:*")
    assert keys == [limiter.storage_key("ip", "127.0.0.1").encode()]
    asyncio.run(asyncio.sleep(0))
