"""A real clip uploaded through the gateway (cut halfway, resumed), played by hls.js in Chromium via an edge.

Everything is live on loopback in one background event loop: the uploads service with its
transcode worker (`start_media`), accounts, catalog, playback, the gateway, one edge PoP
over the Platform whose origin reads the object store first, and a tiny same-origin page
server that forwards `/t/...` to the edge (the edge sends no CORS headers). hls.js comes
from the npm registry into build/npm (gitignored); the screenshot goes to out/browser.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from streamverse.clock import RealClock
from streamverse.db import get_engine, init_db
from streamverse.platform import catalog
from streamverse.platform.gateway import create_gateway_app
from streamverse.platform.live.edge_server import start_edge_servers
from streamverse.platform.live.origin_source import OriginSource
from streamverse.platform.media.app import b64
from streamverse.platform.media.live import chain_sizes, chain_sources, serve_app, start_media
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.ratelimit import Limit, LimitTable, MemoryRateLimiter
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology
from streamverse.platform.upstreams import create_accounts_app, create_catalog_app, create_playback_app
from streamverse.settings import Settings
from tests.platform.media.conftest import make_clip

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
NPM_CACHE = ROOT / "build" / "npm"
SHOTS = ROOT / "out" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
PASSWORD = "correct horse"
TUS = {"Tus-Resumable": "1.0.0"}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>StreamVerse player</title></head>
<body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline width="854" height="480"></video>
<script src="/hls.min.js"></script>
<script>
window.svErrors = []; window.svFatal = null; window.svLevels = 0;
const v = document.getElementById('v');
const src = new URLSearchParams(location.search).get('src');
if (!Hls.isSupported()) { window.svFatal = 'hls.js not supported (no MSE)'; }
else {
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (e, d) => {
    window.svErrors.push(d.type + ':' + d.details);
    if (d.fatal) window.svFatal = d.type + ':' + d.details;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, (e, d) => { window.svLevels = d.levels.length; v.play(); });
  hls.loadSource(src);
  hls.attachMedia(v);
}
</script></body></html>"""


def hls_js() -> Path:
    """hls.min.js from the npm registry (cached); skips the test when npm cannot fetch it."""
    dest = NPM_CACHE / "hls.min.js"
    if dest.is_file():
        return dest
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (needed to fetch hls.js from the npm registry)")
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run([npm, "pack", "hls.js@1", "--silent"], cwd=NPM_CACHE, capture_output=True,
                             text=True, timeout=180, check=True).stdout.strip().splitlines()[-1]
    except (subprocess.SubprocessError, IndexError) as exc:
        pytest.skip(f"npm could not fetch hls.js: {exc}")
    with tarfile.open(NPM_CACHE / out) as tar:
        member = tar.extractfile("package/dist/hls.min.js")
        assert member is not None
        dest.write_bytes(member.read())
    return dest


class Loop:
    """An event loop in a thread hosting every server, as the live runner does in one process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def page_app(edge_url: str, hls_path: Path, seen: list[dict[str, str]]) -> Starlette:
    """The player page, hls.js, and `/t/...` forwarded to the edge (same origin: no CORS needed)."""
    client = httpx.AsyncClient(base_url=edge_url, timeout=30)

    async def page(_request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def script(_request: Request) -> Response:
        return Response(hls_path.read_bytes(), media_type="application/javascript")

    async def forward(request: Request) -> Response:
        reply = await client.get(request.url.path)
        keep = {k: reply.headers[k] for k in ("content-type", "x-cache", "x-cache-tier", "x-served-by")
                if k in reply.headers}
        seen.append({"path": request.url.path, "status": str(reply.status_code), **keep})
        return Response(reply.content, status_code=reply.status_code, headers=keep)

    return Starlette(routes=[Route("/player.html", page), Route("/hls.min.js", script),
                             Route("/t/{rest:path}", forward)])


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make test installs it)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
    script = hls_js()
    tmp = tmp_path_factory.mktemp("browser")
    settings = Settings(data_dir=tmp / "data", jwt_secret="browser-secret-" + "y" * 32)
    engine = get_engine(f"sqlite:///{tmp / 'db.sqlite'}")
    init_db(engine)
    with Session(engine) as session:
        catalog.seed_catalog(session=session, count=3, seed=5)
        catalog.seed_accounts(session=session, count=1, password=PASSWORD)
        session.commit()
    clock = RealClock()
    loop = Loop()
    metrics = PlatformMetrics()
    topology = load_topology()
    pop = topology.regions[0].pops[0].name
    seen: list[dict[str, str]] = []
    holder: dict[str, Any] = {}

    async def up() -> dict[str, Any]:
        media = await start_media(settings, engine=engine, clock=clock, host="127.0.0.1", workers=1,
                                  lifecycle_interval_s=1.0)
        holder["media"] = media
        synthetic = OriginSource(video_info=lambda _vid: None)
        platform = Platform(topology=topology, clock=clock, pop_cache_bytes=64 << 20,
                            shield_cache_bytes=128 << 20, metrics=metrics,
                            origin_source=chain_sources(media.origin_read, synthetic),
                            origin_size_of=chain_sizes(media.size_of, synthetic.size_of))
        edges = await start_edge_servers(platform, host="127.0.0.1", ports={pop: 0}, key=
                                         settings.resolved_jwt_secret.encode(), metrics=metrics)
        holder["edges"] = edges
        ups: dict[str, str] = {"uploads": media.url}
        servers = []
        for name, app in (
            ("accounts", create_accounts_app(engine=engine)),
            ("catalog", create_catalog_app(engine=engine)),
            ("playback", create_playback_app(settings=settings, clock=clock, engine=engine,
                                             resolve_pop=lambda _r: pop, edge_url_for=lambda p: edges[p])),
        ):
            url, server, _task = await serve_app(app, host="127.0.0.1", name=name)
            ups[name] = url
            servers.append(server)
        limits = LimitTable({"user": Limit(1000, 1000), "ip": Limit(1000, 1000)})
        gateway = create_gateway_app(settings=settings, clock=clock, metrics=PlatformMetrics(),
                                     limiter=MemoryRateLimiter(clock=clock, limits=limits), limits=limits,
                                     upstreams=ups)
        gw_url, gw, _ = await serve_app(gateway, host="127.0.0.1", name="gateway")
        page_url, page, _ = await serve_app(page_app(edges[pop], script, seen), host="127.0.0.1", name="page")
        servers += [gw, page]
        holder["servers"] = servers
        return {"gateway": gw_url, "page": page_url, "edge": edges[pop], "pop": pop, "media": media,
                "platform": platform, "seen": seen}

    async def down() -> None:
        for server in holder.get("servers", []):
            server.should_exit = True
        await asyncio.sleep(0.3)
        if "edges" in holder:
            await holder["edges"].stop()
        if "media" in holder:
            await holder["media"].stop()

    try:
        out = loop.call(up())
        out["clip"] = make_clip(tmp / "pattern.mp4", seconds=8, size="854x480")
        yield out
    finally:
        try:
            loop.call(down(), timeout=60)
        finally:
            loop.close()


def cut_patch(url: str, location: str, token: str, offset: int, chunk: bytes, send: int) -> None:
    """Begin a PATCH of `chunk` through the gateway, send only `send` bytes, then drop the connection."""
    host, port = url.removeprefix("http://").split(":")
    head = (f"PATCH {location} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(chunk)}\r\n\r\n")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + chunk[:send])
        time.sleep(0.3)
    time.sleep(0.3)


def upload_resumed(client: httpx.Client, gateway: str, token: str, data: bytes) -> tuple[str, int]:
    """tus upload in 64 KiB chunks, cut mid-chunk at half way and resumed from the server's offset."""
    auth = {"Authorization": f"Bearer {token}", **TUS}
    reply = client.post("/v1/uploads", headers={
        **auth, "Upload-Length": str(len(data)),
        "Upload-Metadata": f"filename {b64('Test pattern.mp4')},checksum "
                           f"{b64('sha256:' + hashlib.sha256(data).hexdigest())}"})
    assert reply.status_code == 201, reply.text
    location = reply.headers["Location"]
    chunk, offset, cut = 64 * 1024, 0, False
    while offset < len(data):
        if not cut and offset >= len(data) // 2:
            cut_patch(gateway, location, token, offset, data[offset:offset + chunk], chunk // 3)
            cut = True
            offset = int(client.head(location, headers=auth).headers["Upload-Offset"])
            continue
        reply = client.patch(location, content=data[offset:offset + chunk], headers={
            **auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        assert reply.status_code == 204, reply.text
        offset = int(reply.headers["Upload-Offset"])
    assert cut
    return location, int(reply.headers["Upload-Video-Id"])


def test_uploaded_clip_plays_in_chromium_through_an_edge(system: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    data = system["clip"].read_bytes()
    client = httpx.Client(base_url=system["gateway"], timeout=30)
    token = client.post("/v1/auth/login", json={"username": catalog.account_username(1),
                                                "password": PASSWORD}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}", **TUS}
    location, video_id = upload_resumed(client, system["gateway"], token, data)
    media = system["media"]
    assert media.store.read(f"uploads/{video_id}/original") == data  # byte-identical after the cut
    deadline = time.monotonic() + 120
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = client.get(location, headers=auth).json()
        if status["status"] in ("playable", "failed"):
            break
        time.sleep(0.25)
    assert status["status"] == "playable", status

    start = client.post(f"/v1/playback/{video_id}", headers=auth)
    assert start.status_code == 200, start.text
    master_url = start.json()["master_url"]
    assert master_url.startswith(system["edge"] + "/t/")
    assert master_url.endswith(f"/videos/{video_id}/master.m3u8")
    path = master_url.removeprefix(system["edge"])
    # originals are never reachable through the origin, even with a token for the video
    assert media.origin_read(f"uploads/{video_id}/original") is None

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 854, "height": 480})
            page.goto(f"{system['page']}/player.html?src={path}")
            page.wait_for_function("() => window.svFatal !== null || "
                                   "document.getElementById('v').currentTime > 2", timeout=60_000)
            fatal = page.evaluate("window.svFatal")
            errors = page.evaluate("window.svErrors")
            assert fatal is None, (fatal, errors)
            played = page.evaluate("document.getElementById('v').currentTime")
            assert played > 2
            assert page.evaluate("window.svLevels") == 2  # 360p and 480p from an 854x480 source
            height = page.evaluate("document.getElementById('v').videoHeight")
            assert height in (360, 480)
            page.evaluate("document.getElementById('v').pause()")
            SHOTS.mkdir(parents=True, exist_ok=True)
            shot = SHOTS / "browser_playback.png"
            page.locator("#v").screenshot(path=str(shot))
        finally:
            browser.close()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000  # a picture, not a black frame

    # every stream object came from the edge PoP; segments were real MPEG-TS from the object store
    seen = system["seen"]
    segments = [s for s in seen if s["path"].endswith(".ts")]
    assert segments and all(s["status"] == "200" and s["x-served-by"] == system["pop"] for s in seen)
    assert any(s["path"].endswith("/master.m3u8") for s in seen)
    rel = segments[0]["path"].split(f"/videos/{video_id}/", 1)[1]
    again = httpx.get(system["edge"] + segments[0]["path"])
    assert again.headers["x-cache"] == "HIT" and again.headers["x-served-by"] == system["pop"]
    assert again.content == media.store.read(f"videos/{video_id}/{rel}") and again.content[:1] == b"\x47"
    client.close()
