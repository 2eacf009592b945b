"""The control-plane FastAPI app: every area's router under /api/v1, tokens, audit, JSON errors.

This is where the areas meet: each router is imported by name (a missing module is an
error, never a silent skip), and the app's shared objects — settings, database engine,
clock, metric store, remediator and the alert handler — are made once here and handed to
the routes through `streamverse.api.deps`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from streamverse.alerts import views as alerts_views
from streamverse.alerts.models import AlertEvent
from streamverse.api import views as api_views
from streamverse.api.audit import AuditMiddleware
from streamverse.clock import Clock, RealClock
from streamverse.collectors import query_views as collectors_query_views
from streamverse.collectors import views as collectors_views
from streamverse.collectors.service import make_store
from streamverse.costs import report_views as costs_report_views
from streamverse.costs import views as costs_views
from streamverse.db import get_engine, init_db
from streamverse.errors import StreamVerseError
from streamverse.incidents import views as incidents_views
from streamverse.metricstore import MetricStore
from streamverse.remediation import control_views as remediation_control_views
from streamverse.remediation import views as remediation_views
from streamverse.remediation.flows import Remediator
from streamverse.remediation.incident_actions import RunbookActions
from streamverse.settings import Settings
from streamverse.slo import report_views as slo_report_views
from streamverse.slo import views as slo_views
from streamverse.system.tables import register_tables

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

AREA_ROUTERS: tuple[APIRouter, ...] = (
    api_views.router,
    remediation_control_views.router,
    collectors_views.router,
    collectors_query_views.router,
    slo_views.router,
    alerts_views.router,
    incidents_views.router,
    remediation_views.router,
    costs_views.router,
    slo_report_views.router,
    costs_report_views.router,
)


def create_app(settings: Settings, *, engine: Engine | None = None,
               extra_routers: Iterable[APIRouter] = (), clock: Clock | None = None,
               store: MetricStore | None = None, remediator: Remediator | None = None) -> FastAPI:
    """The control API, its tables created, ready to serve with uvicorn or a TestClient.

    `store` defaults to the one the settings name; `remediator` to one verifying runs on the
    platform's own status (the live system passes one that reads the metric store).
    """
    engine = engine or get_engine(settings.resolved_database_url)
    init_db(engine, *register_tables())
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
    app.state.metric_store = store if store is not None else make_store(settings)
    app.state.remediator = remediator or Remediator(settings=settings, engine=engine, clock=clock)

    def handle_alert(event: AlertEvent) -> int | None:
        """Alerts (rules, Alertmanager webhooks, people) open incidents and run the policies' runbooks.

        Looked up at call time so a test or the live system may swap the remediator or policies.
        """
        return app.state.remediator.handle_alert(event, getattr(app.state, "incident_policies", None))

    app.state.alert_handler = handle_alert
    app.state.incident_actions = RunbookActions()
    app.add_middleware(AuditMiddleware, engine_getter=lambda: app.state.engine,
                       clock_getter=lambda: app.state.clock)

    for router in (*AREA_ROUTERS, *extra_routers):
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
