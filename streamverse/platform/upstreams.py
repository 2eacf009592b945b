"""The small services behind the gateway: accounts, catalog and playback, each a FastAPI app.

They are real HTTP services so the gateway's proxying, breakers and trace propagation are
exercised for real; tests and the live runner start them with uvicorn. Each continues
the trace the gateway sent and writes JSON access logs carrying its trace id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamverse.clock import Clock
from streamverse.jsonlog import hash_user_id
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.url_signing import sign_prefix
from streamverse.settings import Settings
from streamverse.tracing import TraceMiddleware

log = logging.getLogger("streamverse.upstreams")


class _AccessLog:
    """Pure ASGI middleware: one JSON access line and one duration sample per request."""

    def __init__(self, app: ASGIApp, *, service: str, metrics: PlatformMetrics | None,
                 region: str = "global") -> None:
        self.app = app
        self.service = service
        self.metrics = metrics
        self.region = region
        self.logger = logging.getLogger(f"streamverse.{service}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            if self.metrics is not None:
                self.metrics.request_duration.labels(
                    service=self.service, region=self.region, route=route, code=str(status)).observe(elapsed)
            self.logger.info("request", extra={"method": scope["method"], "route": route, "status": status,
                                               "duration_ms": round(elapsed * 1000, 3)})


def _service_app(title: str, service: str, metrics: PlatformMetrics | None) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    # Trace outermost, so the access line is written inside the request's trace.
    app.add_middleware(_AccessLog, service=service, metrics=metrics)
    app.add_middleware(TraceMiddleware)

    @app.get("/health", summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    return app


def _as_dict(obj: Any, schema_name: str) -> dict[str, Any]:
    """A row as JSON-ready dict, through the catalog's Read schema when it has one."""
    from streamverse.platform import models

    schema = getattr(models, schema_name, None)
    if schema is not None:
        return schema.model_validate(obj, from_attributes=True).model_dump(mode="json")
    return obj.model_dump(mode="json")


def create_catalog_app(*, engine: Engine, metrics: PlatformMetrics | None = None) -> FastAPI:
    """The catalog: list and search videos, one video with its renditions."""
    from streamverse.platform import catalog as service

    app = _service_app("StreamVerse catalog", "catalog", metrics)

    def _list(q: str | None, offset: int, limit: int) -> dict[str, Any]:
        with Session(engine) as session:
            videos = service.list_videos(session=session, q=q, offset=offset, limit=limit)
            items = [_as_dict(v, "VideoRead") for v in videos]
        for item in items:  # renditions come with one video (GET /v1/videos/{id}), not in lists
            item.pop("renditions", None)
        return {"items": items, "offset": offset, "limit": limit, "q": q}

    @app.get("/v1/catalog", summary="List videos, optionally matching a search")
    def list_videos(q: str | None = Query(None, max_length=200), offset: int = Query(0, ge=0),
                    limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return _list(q, offset, limit)

    @app.get("/v1/catalog/search", summary="Search videos by title")
    def search(q: str = Query(..., min_length=1, max_length=200), offset: int = Query(0, ge=0),
               limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        return _list(q, offset, limit)

    @app.get("/v1/videos/{video_id}", summary="One video with its renditions")
    def get_video(video_id: int) -> dict[str, Any]:
        with Session(engine) as session:
            video = service.get_video(session=session, video_id=video_id)
            if video is None:
                raise HTTPException(404, f"video {video_id} not found")
            out = _as_dict(video, "VideoRead")
            out["renditions"] = [_as_dict(r, "RenditionRead")
                                 for r in service.list_renditions(session=session, video_id=video_id)]
        return out

    return app


class LoginRequest(BaseModel):
    """Credentials posted to /login."""

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


def create_accounts_app(*, engine: Engine, metrics: PlatformMetrics | None = None) -> FastAPI:
    """Accounts: checks a username and password; the gateway turns success into a JWT."""
    from streamverse.platform import catalog as service

    app = _service_app("StreamVerse accounts", "accounts", metrics)

    @app.post("/login", summary="Check credentials")
    def login(body: LoginRequest) -> JSONResponse:
        with Session(engine) as session:
            account = service.authenticate(session=session, username=body.username, password=body.password)
            if account is None:
                log.info("login refused")
                return JSONResponse({"error": "invalid_credentials",
                                     "detail": "unknown username or wrong password"}, status_code=401)
            user_id = account.id
        log.info("login accepted", extra={"user": hash_user_id(user_id)})
        return JSONResponse({"user_id": user_id, "username": body.username})

    return app


def create_playback_app(*, settings: Settings, clock: Clock, resolve_pop: Callable[[str], str | None],
                        edge_url_for: Callable[[str], str], metrics: PlatformMetrics | None = None,
                        engine: Engine | None = None, url_ttl_s: int = 3600) -> FastAPI:
    """Playback: picks the viewer's PoP (GeoDNS) and returns a signed master playlist URL."""
    from streamverse.db import get_engine
    from streamverse.platform import catalog as service

    app = _service_app("StreamVerse playback", "playback", metrics)
    key = settings.resolved_jwt_secret.encode()
    db = engine if engine is not None else get_engine(settings.resolved_database_url)
    known: set[int] = set()  # videos are not deleted while serving, so existence is cached

    def _exists(video_id: int) -> bool:
        if video_id in known:
            return True
        with Session(db) as session:
            found = service.get_playable(session=session, video_id=video_id) is not None
        if found:
            known.add(video_id)
        return found

    @app.post("/v1/playback/{video_id}", summary="Start playback of a video")
    def start(video_id: int, x_user_id: str | None = Header(None),
              x_client_region: str | None = Header(None)) -> JSONResponse:
        region = x_client_region or "unknown"
        if not _exists(video_id):
            return JSONResponse({"error": "not_found", "detail": f"video {video_id} not found"},
                                status_code=404)
        pop = resolve_pop(region)
        if pop is None:
            if metrics is not None:
                metrics.playback_errors.labels(region=region, reason="no_pop").inc()
            log.warning("no PoP available", extra={"client_region": region})
            return JSONResponse({"error": "no_pop_available",
                                 "detail": f"no healthy PoP can serve region {region}"},
                                status_code=503, headers={"Retry-After": "5"})
        base = edge_url_for(pop).rstrip("/")
        expires_at = int(clock.now()) + url_ttl_s
        prefix = sign_prefix(f"videos/{video_id}/", key=key, expires_at=expires_at)
        log.info("playback started", extra={"video_id": video_id, "pop": pop, "client_region": region,
                                            "user": hash_user_id(x_user_id) if x_user_id else None})
        return JSONResponse({"video_id": video_id, "pop": pop, "edge": base,
                             "master_url": f"{base}{prefix}master.m3u8", "expires_at": expires_at})

    return app
