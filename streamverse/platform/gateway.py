"""The API gateway: authenticate, rate-limit, trace, and proxy to the platform's services.

Every API call passes through here, so the hot path is kept short: one pooled
keep-alive HTTP client for all upstreams, one rate-limit round trip that checks the
client IP and the user together, token verification cached per token, and route
templates (never raw paths) as metric labels. Failures are answered in JSON: 401 with a
Bearer challenge, 429 with Retry-After, 503 when an upstream is down or its breaker is
open, 502 when it answers garbage.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import ClientDisconnect

from streamverse.clock import Clock
from streamverse.jsonlog import hash_user_id, truncate_ip
from streamverse.platform.circuit_breaker import CircuitBreaker
from streamverse.platform.gateway_auth import AuthError, Principal, TokenService
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.ratelimit import Decision, LimitTable, RateLimiter
from streamverse.platform.start_share import StartShare
from streamverse.settings import Settings
from streamverse.tracing import TraceContext, TraceMiddleware, current_trace

log = logging.getLogger("streamverse.gateway")

UPSTREAMS = ("accounts", "catalog", "playback")
# Headers that describe one connection, not the message (RFC 9110 7.6.1), plus ones we rewrite.
_DROP_REQUEST = frozenset({
    "host", "connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding",
    "upgrade", "content-length", "authorization", "traceparent", "x-user-id", "x-client-region",
    "accept-encoding", "x-forwarded-for",
})
_DROP_RESPONSE = frozenset({
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date",
    "server", "traceresponse",
})
# 503 is a deliberate answer (e.g. "no PoP available") and is passed on without tripping the breaker.
_UPSTREAM_FAILURE_CODES = frozenset({500, 502, 504})


class _BreakerCollector(Collector):
    """Exposes each upstream breaker's state at scrape time (0 closed, 1 half-open, 2 open)."""

    def __init__(self, breakers: dict[str, CircuitBreaker]) -> None:
        self._breakers = breakers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """One gauge sample per upstream."""
        family = GaugeMetricFamily("streamverse_gateway_circuit_state",
                                   "Upstream circuit breaker: 0 closed, 1 half-open, 2 open",
                                   labels=["upstream"])
        for name, breaker in self._breakers.items():
            family.add_metric([name], breaker.state.code)
        yield family


def _json(status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class Gateway:
    """State shared by the routes: upstream client, breakers, limiter, tokens, metrics."""

    def __init__(self, *, settings: Settings, clock: Clock, limiter: RateLimiter, limits: LimitTable,
                 metrics: PlatformMetrics, upstreams: dict[str, str], region: str,
                 trusted_proxy_hops: int, default_client_region: str, token_ttl_s: int,
                 breaker_open_s: float, upstream_timeout_s: float) -> None:
        missing = [name for name in UPSTREAMS if name not in upstreams]
        if missing:
            raise ValueError(f"gateway upstreams missing: {', '.join(missing)}")
        self.clock = clock
        self.limiter = limiter
        self.limits = limits
        self.metrics = metrics
        self._starts = StartShare(window_s=60.0)  # a gateway sees few starts: a longer window
        self._share_shown: set[str] = set()
        self.region = region
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self.tokens = TokenService(secret=settings.resolved_jwt_secret, clock=clock, ttl_s=token_ttl_s)
        self.breakers = {name: CircuitBreaker(name, clock=clock, open_s=breaker_open_s)
                         for name in self.upstreams}
        self.trusted_proxy_hops = trusted_proxy_hops
        self.default_client_region = default_client_region
        self.timeout = httpx.Timeout(upstream_timeout_s, connect=min(1.0, upstream_timeout_s))
        self.clients: list[httpx.AsyncClient] = []
        self._next_client = 0
        self._requests = metrics.gateway_requests
        self._duration = metrics.request_duration
        self._counters: dict[tuple[str, int], tuple[object, object]] = {}

    def open_clients(self, shards: int = 8) -> None:
        """Keep-alive pools for the upstreams, created inside the serving event loop.

        Several small pools rather than one big one: httpcore scans every pooled connection
        (with a poll() each) on every request, so its cost grows with pool size; shards of a
        few connections keep that scan short under high concurrency.
        """
        self.clients = [httpx.AsyncClient(
            timeout=self.timeout, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=8, keepalive_expiry=30))
            for _ in range(shards)]

    async def close_clients(self) -> None:
        """Close every pooled upstream connection."""
        for client in self.clients:
            await client.aclose()
        self.clients = []

    def client(self) -> httpx.AsyncClient:
        """The next pool shard, round robin."""
        clients = self.clients
        if not clients:
            raise RuntimeError("gateway clients not opened (the app's lifespan did not run)")
        self._next_client = (self._next_client + 1) % len(clients)
        return clients[self._next_client]

    def count_start(self, video_id: str) -> None:
        """A playback start that got a PoP: update the top titles' share of starts (viral signal)."""
        now = self.clock.now()
        self._starts.add(video_id, now)
        top = self._starts.top(now)
        share_g, surge_g = self.metrics.video_start_share, self.metrics.video_start_surge
        for vid in self._share_shown - top.keys():
            share_g.remove(vid)
            surge_g.remove(vid)
        for vid, (share, surge) in top.items():
            share_g.labels(video_id=vid).set(share)
            surge_g.labels(video_id=vid).set(surge)
        self._share_shown = set(top)

    def observe(self, route: str, code: int, started: float) -> None:
        """Count the request and its duration under the route template."""
        pair = self._counters.get((route, code))
        if pair is None:  # label lookups are cached: they cost more than the increment
            pair = (self._requests.labels(route=route, code=str(code)),
                    self._duration.labels(service="gateway", region=self.region, route=route,
                                          code=str(code)))
            self._counters[(route, code)] = pair
        pair[0].inc()  # type: ignore[attr-defined]
        pair[1].observe(time.perf_counter() - started)  # type: ignore[attr-defined]

    def client_ip(self, request: Request) -> str:
        """The peer address, or the client a trusted proxy saw (X-Forwarded-For, N hops from the right)."""
        if self.trusted_proxy_hops:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                hops = [h.strip() for h in forwarded.split(",") if h.strip()]
                if hops:
                    return hops[max(0, len(hops) - self.trusted_proxy_hops)]
        return request.client.host if request.client else "unknown"

    def too_many(self, decision: Decision) -> JSONResponse:
        """429 naming the limit hit, with Retry-After in whole seconds (rounded up)."""
        scope = decision.scope or "unknown"
        self.metrics.ratelimited.labels(scope=scope).inc()
        retry = max(1, math.ceil(decision.retry_after_s))
        return _json(429, {"error": "rate_limited", "limit": scope,
                           "detail": f"{scope} rate limit exceeded; retry after {retry}s",
                           "retry_after_s": retry}, {"Retry-After": str(retry)})

    async def admit(self, request: Request, *, needs_user: bool) -> tuple[Principal | None, Response | None]:
        """Authenticate and rate-limit; returns the principal or the refusal to send."""
        ip = self.client_ip(request)
        principal = None
        auth_error = None
        if needs_user:
            try:
                principal = self.tokens.verify_header(request.headers.get("authorization"))
            except AuthError as exc:
                auth_error = exc
        # Bad tokens still spend the IP's allowance, so token guessing is throttled too.
        keys = [("ip", ip)] if principal is None else [("ip", ip), ("user", principal.user_id)]
        decision = await self.limiter.check_all(keys)
        if not decision.allowed:
            log.info("rate limited", extra={"limit": decision.scope, "client_net": truncate_ip(ip),
                                             "route": request.scope.get("sv_route")})
            return principal, self.too_many(decision)
        if auth_error is not None:
            log.info("unauthorized", extra={"reason": auth_error.reason, "client_net": truncate_ip(ip)})
            return None, _json(401, {"error": "unauthorized", "reason": auth_error.reason,
                                     "detail": auth_error.description},
                               {"WWW-Authenticate": auth_error.www_authenticate})
        return principal, None

    async def proxy(self, request: Request, upstream: str, path: str, *,
                    principal: Principal | None = None) -> Response:
        """Forward the request to the upstream, through its breaker, carrying the trace."""
        breaker = self.breakers[upstream]
        if not breaker.allow():
            retry = max(1, math.ceil(breaker.retry_after_s()))
            return _json(503, {"error": "upstream_unavailable", "upstream": upstream,
                               "detail": f"{upstream} is failing; circuit open, retry in {retry}s"},
                         {"Retry-After": str(retry)})
        headers = {k: v for k, v in request.headers.items() if k not in _DROP_REQUEST}
        ctx: TraceContext | None = current_trace.get()
        if ctx is not None:
            headers["traceparent"] = ctx.traceparent
        if principal is not None:
            headers["x-user-id"] = principal.user_id
            headers["x-client-region"] = request.headers.get("x-client-region") or self.default_client_region
        headers["x-forwarded-for"] = self.client_ip(request)
        try:
            body = await request.body()
        except ClientDisconnect:
            # The client went away mid-body (a dropped upload): nothing to answer, nothing failed.
            log.info("client disconnected before sending its body", extra={"upstream": upstream})
            return Response(status_code=499)
        url = self.upstreams[upstream] + path
        query = request.url.query
        if query:
            url = f"{url}?{query}"
        try:
            reply = await self.client().request(request.method, url, content=body or None, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            breaker.record_failure()
            log.warning("upstream unreachable", extra={"upstream": upstream, "error": type(exc).__name__})
            return _json(503, {"error": "upstream_unavailable", "upstream": upstream,
                               "detail": f"{upstream} is unreachable"})
        except httpx.TimeoutException:
            breaker.record_failure()
            log.warning("upstream timeout", extra={"upstream": upstream})
            return _json(504, {"error": "upstream_timeout", "upstream": upstream,
                               "detail": f"{upstream} did not answer in time"})
        except httpx.HTTPError as exc:
            breaker.record_failure()
            log.warning("bad upstream response", extra={"upstream": upstream, "error": repr(exc)})
            return _json(502, {"error": "bad_upstream_response", "upstream": upstream,
                               "detail": f"{upstream} sent an invalid response"})
        if reply.status_code in _UPSTREAM_FAILURE_CODES:
            breaker.record_failure()
            return _json(502, {"error": "bad_upstream_response", "upstream": upstream,
                               "detail": f"{upstream} answered {reply.status_code}"})
        breaker.record_success()
        out_headers = {k: v for k, v in reply.headers.items() if k not in _DROP_RESPONSE}
        return Response(reply.content, status_code=reply.status_code, headers=out_headers)


def create_gateway_app(*, settings: Settings, clock: Clock, limiter: RateLimiter, limits: LimitTable,
                       metrics: PlatformMetrics, upstreams: dict[str, str], region: str = "global",
                       trusted_proxy_hops: int = 0, default_client_region: str = "us-east",
                       token_ttl_s: int = 3600, breaker_open_s: float = 5.0,
                       upstream_timeout_s: float = 10.0) -> FastAPI:
    """The gateway app in front of the accounts, catalog and playback upstreams (name -> base URL)."""
    gw = Gateway(settings=settings, clock=clock, limiter=limiter, limits=limits, metrics=metrics,
                 upstreams=upstreams, region=region, trusted_proxy_hops=trusted_proxy_hops,
                 default_client_region=default_client_region, token_ttl_s=token_ttl_s,
                 breaker_open_s=breaker_open_s, upstream_timeout_s=upstream_timeout_s)
    try:
        metrics.registry.register(_BreakerCollector(gw.breakers))
    except ValueError:  # another gateway already exports breaker state on this registry
        log.debug("breaker gauge already registered on this registry")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gw.open_clients()
        try:
            yield
        finally:
            await gw.close_clients()

    app = FastAPI(title="StreamVerse API gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(TraceMiddleware)
    app.state.gateway = gw

    async def guarded(request: Request, route: str, upstream: str, path: str, *, needs_user: bool,
                      login: bool = False) -> Response:
        started = time.perf_counter()
        request.scope["sv_route"] = route
        response: Response | None = None
        try:
            principal, refusal = await gw.admit(request, needs_user=needs_user)
            if refusal is not None:
                response = refusal
            elif login:
                response = await _login(request)
            else:
                response = await gw.proxy(request, upstream, path, principal=principal)
            return response
        except Exception:
            log.exception("gateway error", extra={"route": route})
            response = _json(500, {"error": "internal", "detail": "gateway error"})
            return response
        finally:
            gw.observe(route, response.status_code if response is not None else 500, started)

    async def _login(request: Request) -> Response:
        reply = await gw.proxy(request, "accounts", "/login")
        if reply.status_code != 200:
            return reply
        try:
            account = json.loads(reply.body)
            user_id = account["user_id"]
        except (ValueError, KeyError, TypeError):
            return _json(502, {"error": "bad_upstream_response", "upstream": "accounts",
                               "detail": "accounts answered without a user_id"})
        log.info("login", extra={"user": hash_user_id(user_id)})
        return _json(200, {"access_token": gw.tokens.issue(user_id), "token_type": "bearer",
                           "expires_in": gw.tokens.ttl_s})

    @app.post("/v1/auth/login", summary="Exchange username and password for a bearer token")
    async def login(request: Request) -> Response:
        return await guarded(request, "/v1/auth/login", "accounts", "/login", needs_user=False, login=True)

    @app.get("/v1/catalog", summary="List or search videos")
    async def catalog(request: Request) -> Response:
        return await guarded(request, "/v1/catalog", "catalog", "/v1/catalog", needs_user=True)

    @app.get("/v1/catalog/{rest:path}", summary="Catalog sub-resources")
    async def catalog_rest(request: Request, rest: str) -> Response:
        return await guarded(request, "/v1/catalog/{rest}", "catalog", f"/v1/catalog/{rest}",
                             needs_user=True)

    @app.get("/v1/videos/{video_id}", summary="One video with its renditions")
    async def video(request: Request, video_id: str) -> Response:
        return await guarded(request, "/v1/videos/{video_id}", "catalog", f"/v1/videos/{video_id}",
                             needs_user=True)

    @app.post("/v1/playback/{video_id}", summary="Start playback: pick a PoP, sign the stream URL")
    async def playback(request: Request, video_id: str) -> Response:
        response = await guarded(request, "/v1/playback/{video_id}", "playback", f"/v1/playback/{video_id}",
                                 needs_user=True)
        if response.status_code == 200:
            gw.count_start(video_id)
        return response

    if "uploads" in gw.upstreams:  # the media path: tus uploads and the user's privacy requests
        @app.api_route("/v1/uploads", methods=["POST", "GET", "OPTIONS"],
                       summary="Create (tus) or list uploads")
        async def uploads(request: Request) -> Response:
            return await guarded(request, "/v1/uploads", "uploads", "/v1/uploads", needs_user=True)

        @app.api_route("/v1/uploads/{upload_id}", methods=["HEAD", "PATCH", "GET", "DELETE"],
                       summary="Offset, append, status or abandon an upload (tus)")
        async def upload(request: Request, upload_id: str) -> Response:
            return await guarded(request, "/v1/uploads/{upload_id}", "uploads", f"/v1/uploads/{upload_id}",
                                 needs_user=True)

        @app.api_route("/v1/me", methods=["DELETE"], summary="Erase your account and data (GDPR/CCPA)")
        async def me(request: Request) -> Response:
            return await guarded(request, "/v1/me", "uploads", "/v1/me", needs_user=True)

        @app.api_route("/v1/me/{rest:path}", methods=["GET", "PUT", "POST"],
                       summary="Your profile, history and data export")
        async def me_rest(request: Request, rest: str) -> Response:
            return await guarded(request, "/v1/me/{rest}", "uploads", f"/v1/me/{rest}", needs_user=True)

    @app.get("/health", summary="Liveness and upstream breaker states")
    async def health() -> dict[str, object]:
        return {"status": "ok", "service": "gateway", "region": region,
                "upstreams": {name: b.snapshot() for name, b in gw.breakers.items()},
                "limits": limits.snapshot()}

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unmatched(path: str) -> Response:
        started = time.perf_counter()
        gw.observe("unmatched", 404, started)
        return _json(404, {"error": "not_found", "detail": f"no API route /{path}"})

    return app
