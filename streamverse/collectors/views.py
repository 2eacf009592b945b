"""Telemetry routes: RUM beacon ingest, QoE summaries, and the RUM series for Prometheus.

Who may send beacons: players are not control-plane users, so `POST /rum/beacons` takes
either the dedicated ingest key (`X-RUM-Key`, in data_dir/rum_ingest.key; it can only
send beacons, so shipping it inside a player app leaks nothing else) or a bearer token of
role viewer or higher (for scripts and tests). Status codes: 202 when every beacon was
kept; 422 when any was rejected, naming each bad field by beacon index, while the valid
beacons of that batch are kept (the body's `accepted` says how many; clients must not
resend them); a repeated `batch_id` replays the first answer with `duplicate: true`
(200 instead of 202) and counts nothing twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlmodel import Session

from streamverse.api import service as api_service
from streamverse.api.deps import AdminDep, StoreDep, ViewerDep, get_clock, get_store
from streamverse.collectors.remote_write import RemoteWriteError, receive
from streamverse.collectors.rum import DIMS, MAX_BATCH, RumAggregator, resolved_ingest_key

router = APIRouter(tags=["telemetry"])

MAX_BODY = 16 * 1024 * 1024


def get_aggregator(request: Request) -> RumAggregator:
    """The app's RUM aggregator, made on first use; it writes to the embedded store only."""
    state = request.app.state
    agg = getattr(state, "rum", None)
    if agg is None:
        # Prometheus scrapes /rum/metrics instead of taking writes from us
        store = get_store(request) if state.settings.metric_store == "embedded" else None
        agg = state.rum = RumAggregator(clock=get_clock(request), store=store)
    return agg


def _ingest_key(request: Request) -> str:
    state = request.app.state
    key = getattr(state, "rum_ingest_key", None)
    if key is None:
        key = state.rum_ingest_key = resolved_ingest_key(state.settings.data_dir)
    return key


def _authorize(request: Request) -> None:
    """Ingest key, or a viewer-or-higher bearer token; 401 otherwise."""
    sent = request.headers.get("x-rum-key")
    if sent:
        if hmac.compare_digest(sent.encode(), _ingest_key(request).encode()):
            request.state.audit_actor = "rum-ingest-key"
            return
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="invalid X-RUM-Key (see data_dir/rum_ingest.key)"
        )
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not secret:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="send X-RUM-Key (data_dir/rum_ingest.key) or 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        token = api_service.authenticate(session=session, secret=secret, clock=get_clock(request))
        actor = api_service.actor_for(token)
        session.commit()
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid, revoked or expired token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.audit_actor = actor


def _bad_batch(msg: str, field: str) -> JSONResponse:
    return JSONResponse(
        {
            "detail": [{"loc": ["body", field], "msg": msg, "type": "value_error", "field": field}],
            "accepted": 0,
        },
        status_code=422,
    )


@router.post(
    "/rum/beacons",
    status_code=202,
    summary="Send a batch of player beacons (X-RUM-Key or viewer token); 422 names bad fields",
    responses={
        200: {"description": "repeated batch_id: the first answer, nothing counted twice"},
        422: {"description": "some beacons rejected (each bad field by index); the rest kept"},
    },
)
async def post_beacons(request: Request) -> JSONResponse:
    """Validate each beacon, keep the valid ones, answer per beacon."""
    _authorize(request)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail=f"body over {MAX_BODY} bytes")
    try:
        body: Any = json.loads(raw)
    except ValueError as exc:
        return _bad_batch(f"body is not JSON: {exc}", "")
    if not isinstance(body, dict):
        return _bad_batch("body must be an object with batch_id and beacons", "")
    batch_id = body.get("batch_id")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= 128:
        return _bad_batch("batch_id is required: a string of 1-128 chars, the same on retries", "batch_id")
    beacons = body.get("beacons")
    if not isinstance(beacons, list) or not beacons:
        return _bad_batch("beacons must be a non-empty list", "beacons")
    if len(beacons) > MAX_BATCH:
        return _bad_batch(f"at most {MAX_BATCH} beacons per batch", "beacons")
    code, result = get_aggregator(request).ingest_batch(batch_id, beacons)
    return JSONResponse(result, status_code=code)


@router.get("/rum/qoe", summary="QoE now per region, pop, device or video (startup p50/p95, rebuffer %, ...)")
def qoe(
    request: Request,
    _token: ViewerDep,
    by: Annotated[str, Query(description="region, pop, device or video")] = "region",
) -> dict[str, Any]:
    """The aggregates since the API started, grouped one way."""
    if by not in (*DIMS, "video"):
        raise HTTPException(422, detail=f"by must be one of {', '.join((*DIMS, 'video'))}")
    agg = get_aggregator(request)
    return {
        "by": by,
        "groups": agg.summary(by=by),
        "beacons": dict(agg.beacons),
        "batches": dict(agg.batch_counts),
        "open_views": len(agg.views),
    }


@router.get(
    "/rum/metrics",
    response_class=PlainTextResponse,
    summary="RUM series in Prometheus text format (aggregates only, no token needed)",
)
def rum_metrics(request: Request) -> PlainTextResponse:
    """For a real Prometheus to scrape when it is the metric store."""
    return PlainTextResponse(
        get_aggregator(request).exposition(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.post("/write", status_code=204, summary="Prometheus remote write 1.0 into the metric store (admin)",
             response_class=Response)
async def remote_write(request: Request, _token: AdminDep, store: StoreDep) -> Response:
    """Snappy-compressed `prometheus.WriteRequest`; 400 (not retried) for a body that does not decode.

    Point Prometheus at it with `remote_write: [{url: http://HOST/api/v1/write,
    authorization: {credentials: ADMIN_TOKEN}}]`.
    """
    body = await request.body()
    try:
        count = await asyncio.to_thread(receive, store, body)
    except RemoteWriteError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    del count  # remote write answers no body; the samples are queryable now
    return Response(status_code=204)
