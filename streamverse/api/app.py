"""The control-plane FastAPI app: every area's router under /api/v1, tokens, audit, JSON errors."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from streamverse.api.audit import AuditMiddleware
from streamverse.clock import Clock, RealClock
from streamverse.db import get_engine, init_db
from streamverse.errors import StreamVerseError
from streamverse.settings import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

# Each area adds its router here; a module not written yet is skipped, any other error is not.
AREA_ROUTERS: list[str] = [
    "streamverse.api.views:router",
    "streamverse.platform.control_views:router",
    "streamverse.platform.catalog_views:router",
    "streamverse.collectors.views:router",
    "streamverse.collectors.query_views:router",
    "streamverse.slo.views:router",
    "streamverse.alerts.views:router",
    "streamverse.incidents.views:router",
    "streamverse.costs.views:router",
    "streamverse.slo.report_views:router",
    "streamverse.costs.report_views:router",
]


def load_router(spec: str) -> APIRouter | None:
    """The router named by "package.module:attr", or None when that module does not exist."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the module itself (or a package on its path) missing means "not written yet";
        # a missing dependency inside it is a real bug and must surface.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise
    router = getattr(module, attr or "router")
    if not isinstance(router, APIRouter):
        raise TypeError(f"{spec} is not a fastapi.APIRouter")
    return router


def create_app(settings: Settings, *, engine: Engine | None = None,
               extra_routers: Iterable[APIRouter | str] = (), clock: Clock | None = None) -> FastAPI:
    """The control API, its tables created, ready to serve with uvicorn or a TestClient."""
    engine = engine or get_engine(settings.resolved_database_url)
    init_db(engine)
    clock = clock or RealClock()
    app = FastAPI(
        title="StreamVerse Control Center API", version="1",
        description="Operate the StreamVerse platform. Send `Authorization: Bearer TOKEN`; "
                    "roles: viewer (read), responder (ack, silence, runbooks), admin "
                    "(configuration, fault injection). Tokens: `streamverse token create`.",
        docs_url="/docs", openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.add_middleware(AuditMiddleware, engine_getter=lambda: app.state.engine,
                       clock_getter=lambda: app.state.clock)

    for spec in [*AREA_ROUTERS, *extra_routers]:
        router = load_router(spec) if isinstance(spec, str) else spec
        if router is not None:
            app.include_router(router, prefix=API_PREFIX)

    @app.exception_handler(StreamVerseError)
    async def _known_error(request: Request, exc: StreamVerseError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        trace_id = request.scope.get("state", {}).get("trace_id", "")
        log.error("unhandled error on %s %s (trace %s)", request.method, request.url.path, trace_id,
                  exc_info=exc)
        return JSONResponse(
            {"detail": f"internal error; the server log has the details under trace id {trace_id}"},
            status_code=500, headers={"x-trace-id": trace_id} if trace_id else None,
        )

    return app
