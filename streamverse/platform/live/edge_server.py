"""The live edge: a lean HTTP/1.1 server per PoP in front of the shared Platform's CDN.

Segments are served from the PoP's EdgeCache, so the hot path is: parse a request line,
one HMAC to verify the path token, one dict lookup, and a vectored write of a prebuilt
header plus the cached bytes object (no copy in Python). A framework would cost more than
the work itself here, so this is a bare `asyncio.Protocol` (uvloop when the loop is uvloop):
keep-alive, pipelining-safe (requests are answered in order), and reading pauses while the socket's
write buffer is full. A response is held for the modelled time beyond the edge (shield and
origin round trips, queueing, a latency fault), so live viewers on loopback feel a miss or
a latency spike; a plain cache hit is written at once.

Routes: `GET|HEAD /t/{exp}/{sig}/videos/...` (the object), `/health` (shallow: 200 while the
PoP listens; a hard-down PoP closes its listener, so probes fail as they would on a dead
host), `/metrics` (this PoP's series in Prometheus text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric

from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.url_signing import verify_path

log = logging.getLogger("streamverse.platform.edge")

MAX_HEADER_BYTES = 16 * 1024
EXPORT_INTERVAL_S = 1.0
CONTENT_TYPES = {"m3u8": b"application/vnd.apple.mpegurl", "ts": b"video/mp2t", "mp4": b"video/mp4",
                 "m4s": b"video/iso.segment", "vtt": b"text/vtt", "json": b"application/json"}
# Playlists of a VOD title never change, but they carry no separate token: keep them short-lived.
CACHE_CONTROL = {"m3u8": b"max-age=60", "ts": b"max-age=86400"}
REASONS = {200: b"OK", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found",
           405: b"Method Not Allowed", 431: b"Request Header Fields Too Large", 500: b"Internal Server Error",
           502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout"}
X_CACHE = {"edge": b"HIT", "shield": b"MISS", "origin": b"MISS", "none": b"MISS"}


class _PopMetricsView:
    """This PoP's series only, so scraping every edge does not count one PoP many times."""

    def __init__(self, metrics: PlatformMetrics, pop: str) -> None:
        self.metrics, self.pop = metrics, pop

    def collect(self) -> Iterator[Metric]:
        for fam in self.metrics.registry.collect():
            samples = [s for s in fam.samples if s.labels.get("pop") == self.pop]
            if samples:
                out = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                out.samples = samples
                yield out


class EdgeApp:
    """Request handling for one PoP; protocols call `handle` per parsed request."""

    def __init__(self, platform: Any, *, pop: str, key: bytes, metrics: PlatformMetrics | None) -> None:
        self.platform = platform
        self.cdn = platform.cdn
        self.clock = platform.clock
        self.pop = pop
        self.key = key
        self.metrics = metrics
        self._view = _PopMetricsView(metrics, pop) if metrics is not None else None
        self._tag = pop.encode()
        self._heads: dict[tuple[int, bytes, str, bool], bytes] = {}
        self._verified: dict[str, tuple[str, int]] = {}  # token prefix -> (object prefix, expiry)
        self._local_ms = self.cdn.local_latency_ms(pop)
        self.delay_s = 0.0  # how long to hold the response `handle` just built

    def head(self, status: int, ctype: bytes, length: int, tier: str, keep_alive: bool) -> bytes:
        """The response header block (cached without its length, which is appended)."""
        k = (status, ctype, tier, keep_alive)
        pre = self._heads.get(k)
        if pre is None:
            ext = next((e for e, t in CONTENT_TYPES.items() if t == ctype), "")
            lines = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"Unknown")),
                     b"Server: streamverse-edge", b"Content-Type: " + ctype,
                     b"X-Served-By: " + self._tag, b"X-Cache: " + X_CACHE.get(tier, b"MISS"),
                     b"X-Cache-Tier: " + tier.encode()]
            if status == 200 and ext in CACHE_CONTROL:
                lines.append(b"Cache-Control: " + CACHE_CONTROL[ext])
            elif status != 200:
                lines.append(b"Cache-Control: no-store")
            if not keep_alive:
                lines.append(b"Connection: close")
            pre = self._heads[k] = b"\r\n".join(lines) + b"\r\nContent-Length: "
        return pre + b"%d\r\n\r\n" % length

    def handle(self, method: bytes, target: bytes, keep_alive: bool) -> tuple[bytes, bytes | None]:
        """(header block, body) for one request; `delay_s` says how long to hold it."""
        self.delay_s = 0.0
        q = target.find(b"?")
        path = (target[:q] if q >= 0 else target).decode("latin-1")
        if method != b"GET" and method != b"HEAD":
            return self._plain(405, b"only GET and HEAD\n", keep_alive)
        if path.startswith("/t/"):
            key = self._verify(path)
            if key is None:
                self.cdn.count(self.pop, 403)
                return self._plain(403, b"bad or expired token\n", keep_alive)
            res = self.cdn.fetch(self.pop, key)
            extra_ms = res.latency_ms - self._local_ms
            self.delay_s = extra_ms / 1000.0 if extra_ms > 0.5 else 0.0
            if res.status != 200:
                msg = b"not found\n" if res.status == 404 else b"unavailable\n"
                return self._plain(res.status, msg, keep_alive, tier=res.tier)
            body = res.body
            if body is None:  # a size-only entry (prewarmed without bytes): nothing to send
                return self._plain(502, b"object held without bytes\n", keep_alive)
            ext = key.rsplit(".", 1)[-1]
            ctype = CONTENT_TYPES.get(ext, b"application/octet-stream")
            header = self.head(200, ctype, len(body), res.tier, keep_alive)
            return header, (body if method == b"GET" else None)
        if path == "/health":  # shallow: answering at all is the signal (a hard-down PoP does not listen)
            return self._plain(200, b'{"status":"ok","pop":"%s"}' % self._tag, keep_alive,
                               ctype=b"application/json")
        if path == "/metrics" and self._view is not None:
            export = getattr(self.platform, "export_metrics", None)
            if export is not None:
                export()
            body = generate_latest(self._view)  # type: ignore[arg-type]
            return self._plain(200, body, keep_alive, ctype=b"text/plain; version=0.0.4; charset=utf-8")
        self.cdn.count(self.pop, 404)
        return self._plain(404, b"not found\n", keep_alive)

    def _verify(self, path: str) -> str | None:
        """The object key of a signed path; a token prefix verified once is remembered until expiry."""
        # /t/{exp}/{sig}/videos/{id}/rest -> token prefix up to and including the video id.
        cut = -1
        for _ in range(6):
            cut = path.find("/", cut + 1)
            if cut < 0:
                break
        if cut > 0:
            token = path[:cut + 1]
            known = self._verified.get(token)
            if known is not None and known[1] >= self.clock.now():
                rest = path[cut + 1:]
                if rest and ".." not in rest:
                    return known[0] + rest
        key = verify_path(path, key=self.key, now=self.clock.now())
        if key is not None and cut > 0:
            if len(self._verified) > 10_000:
                self._verified.clear()
            exp = int(path[3:path.index("/", 3)])
            self._verified[path[:cut + 1]] = (key[:len(key) - (len(path) - cut - 1)], exp)
        return key

    def _plain(self, status: int, body: bytes, keep_alive: bool, *, tier: str = "none",
               ctype: bytes = b"text/plain; charset=utf-8") -> tuple[bytes, bytes]:
        return self.head(status, ctype, len(body), tier, keep_alive), body


class EdgeProtocol(asyncio.Protocol):
    """One client connection: parse requests as they arrive, answer them in order."""

    def __init__(self, app: EdgeApp, conns: set[EdgeProtocol]) -> None:
        self.app = app
        self.conns = conns
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.skip = 0  # request body bytes still to discard
        self.paused = False
        self.closing = False
        self.waiting = False  # a held response is pending; later requests wait their turn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)
        self.transport = None

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            self._process()

    def data_received(self, data: bytes) -> None:
        if self.skip:
            n = min(self.skip, len(data))
            self.skip -= n
            data = data[n:]
        self.buf = self.buf + data if self.buf else data
        self._process()

    def _process(self) -> None:
        t = self.transport
        while t is not None and not self.paused and not self.closing and not self.waiting:
            buf = self.buf
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADER_BYTES:
                    self._fail(431)
                return
            head = buf[:end]
            rest = buf[end + 4:]
            line_end = head.find(b"\r\n")
            parts = (head if line_end < 0 else head[:line_end]).split(b" ")
            if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
                self._fail(400)
                return
            method, target, version = parts
            keep_alive = version == b"HTTP/1.1"
            length = 0
            if line_end >= 0:
                for line in head[line_end + 2:].split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"connection":
                        v = value.strip().lower()
                        keep_alive = v != b"close" and (keep_alive or v == b"keep-alive")
                    elif name == b"content-length":
                        length = int(value.strip() or 0)
            if length:  # GETs rarely carry bodies; discard them
                if len(rest) >= length:
                    rest = rest[length:]
                else:
                    self.skip = length - len(rest)
                    rest = b""
            self.buf = rest
            try:
                header, body = self.app.handle(method, target, keep_alive)
            except Exception:
                log.exception("edge request failed")
                header, body = self.app._plain(500, b"internal error\n", False)
                keep_alive = False
            delay = self.app.delay_s
            if delay > 0.0:
                self.waiting = True
                asyncio.get_running_loop().call_later(delay, self._deliver, header, body, keep_alive)
                return
            if not self._write(t, header, body, keep_alive):
                return

    def _write(self, t: asyncio.Transport, header: bytes, body: bytes | None, keep_alive: bool) -> bool:
        """Send one response; False when the connection is now closing."""
        if body:
            t.writelines((header, body))
        else:
            t.write(header)
        if not keep_alive:
            self.closing = True
            t.close()
            return False
        return True

    def _deliver(self, header: bytes, body: bytes | None, keep_alive: bool) -> None:
        """Write a held response, then carry on with requests that queued behind it."""
        self.waiting = False
        t = self.transport
        if t is None or t.is_closing():
            return
        if self._write(t, header, body, keep_alive):
            self._process()

    def _fail(self, status: int) -> None:
        header, body = self.app._plain(status, REASONS.get(status, b"error") + b"\n", False)
        if self.transport is not None:
            self.transport.writelines((header, body))
            self.closing = True
            self.transport.close()


class EdgeServers(dict[str, str]):
    """PoP -> base URL of every edge server; `take_down`/`bring_up` close and reopen one PoP's listener."""

    def __init__(self, urls: dict[str, str], servers: dict[str, asyncio.Server], conns: set[EdgeProtocol],
                 exporter: asyncio.Task[None] | None, apps: dict[str, EdgeApp],
                 addresses: dict[str, tuple[str, int]], reuse_port: bool = False) -> None:
        super().__init__(urls)
        self.servers = servers
        self.conns = conns
        self.exporter = exporter
        self.apps = apps
        self.addresses = addresses
        self.reuse_port = reuse_port

    def down(self) -> set[str]:
        """PoPs whose listener is closed now."""
        return set(self.addresses) - set(self.servers)

    async def take_down(self, pop: str) -> bool:
        """Close the PoP's listener and its open connections, as a dead host would; False if already down."""
        server = self.servers.pop(pop, None)
        if server is None:
            return False
        server.close()
        for c in [c for c in self.conns if c.app is self.apps[pop]]:
            if c.transport is not None:
                c.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), timeout=2.0)
        log.warning("edge listener closed", extra={"pop": pop})
        return True

    async def bring_up(self, pop: str) -> bool:
        """Listen again on the PoP's address (an empty cache would be a restart; this keeps it)."""
        if pop in self.servers:
            return False
        host, port = self.addresses[pop]
        app = self.apps[pop]
        loop = asyncio.get_running_loop()
        self.servers[pop] = await loop.create_server(lambda: EdgeProtocol(app, self.conns), host, port,
                                                     reuse_port=self.reuse_port or None, backlog=1024)
        log.warning("edge listener open again", extra={"pop": pop})
        return True

    async def stop(self) -> None:
        """Stop listening, close open connections and the metrics exporter."""
        if self.exporter is not None:
            self.exporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.exporter
            self.exporter = None
        servers, self.servers = list(self.servers.values()), {}
        for s in servers:
            s.close()
        for c in list(self.conns):
            if c.transport is not None:
                c.transport.close()
        for s in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(s.wait_closed(), timeout=2.0)

    aclose = stop


async def _export_loop(platform: Any) -> None:
    """Keep the Prometheus series current for scrapers of the platform process too."""
    export = getattr(platform, "export_metrics", None)
    while export is not None:
        await asyncio.sleep(EXPORT_INTERVAL_S)
        try:
            export()
        except Exception:
            log.exception("exporting edge metrics failed")


async def start_edge_servers(platform: Any, *, host: str, ports: dict[str, int], key: bytes,
                             metrics: PlatformMetrics | None, reuse_port: bool = False) -> EdgeServers:
    """One listening edge server per PoP on the running loop; returns pop -> base URL (and `stop`)."""
    loop = asyncio.get_running_loop()
    unknown = [p for p in ports if p not in platform.cdn.pops]
    if unknown:
        from streamverse.errors import UsageError

        raise UsageError(f"unknown PoP(s) {unknown}; choose from {sorted(platform.cdn.pops)}")
    if metrics is not None and getattr(platform, "metrics", None) is None:
        platform.metrics = metrics
        platform.cdn.metrics = metrics
    conns: set[EdgeProtocol] = set()
    servers: dict[str, asyncio.Server] = {}
    apps: dict[str, EdgeApp] = {}
    addresses: dict[str, tuple[str, int]] = {}
    urls: dict[str, str] = {}
    try:
        for pop, port in ports.items():
            app = apps[pop] = EdgeApp(platform, pop=pop, key=key, metrics=metrics)
            server = await loop.create_server(lambda app=app: EdgeProtocol(app, conns), host, port,
                                              reuse_port=reuse_port or None, backlog=1024)
            servers[pop] = server
            bound = server.sockets[0].getsockname()[1]
            addresses[pop] = (host, bound)
            urls[pop] = f"http://{host}:{bound}"
    except BaseException:
        for s in servers.values():
            s.close()
        raise
    exporter = loop.create_task(_export_loop(platform), name="edge-metrics-export") if metrics else None
    return EdgeServers(urls, servers, conns, exporter, apps, addresses, reuse_port)
