"""Alert routes: viewers read alerts and history, responders ack and silence; the Alertmanager webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from streamverse.alerts import service
from streamverse.alerts.models import (
    AlertHandler,
    AlertHistory,
    AlertStateRead,
    SilenceCreate,
    SilenceRead,
    WebhookDelivery,
)
from streamverse.alerts.webhook import AmPayload, digest, events
from streamverse.api import service as api_service
from streamverse.api.deps import (
    ClockDep,
    ResponderDep,
    SessionDep,
    ViewerDep,
    _bearer,
    current_token,
    require_role,
)
from streamverse.api.enums import Role
from streamverse.api.models import ApiToken
from streamverse.errors import UsageError

router = APIRouter(tags=["alerts"])


def _silence_read(row: Any, now: float) -> SilenceRead:
    active = (service.ts_of(row.starts_at) or 0) <= now < (service.ts_of(row.ends_at) or 0)
    return SilenceRead.model_validate({**row.model_dump(), "active": active})


@router.get("/alerts", response_model=list[AlertStateRead], summary="Alerts and their states")
def list_alerts(session: SessionDep, _t: ViewerDep, status: str | None = None, limit: int = 500) -> list[Any]:
    """Every alert series with a state (pending, firing, recently resolved)."""
    return [
        AlertStateRead.model_validate(r.model_dump())
        for r in service.list_alerts(session=session, status=status, limit=min(limit, 5000))
    ]


@router.get("/alerts/history", response_model=list[AlertHistory], summary="Alert and notification history")
def alert_history(
    session: SessionDep,
    _t: ViewerDep,
    fingerprint: str | None = None,
    name: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> list[Any]:
    """What happened: alerts pending/firing/resolved, acks, silences, notifications sent or failed."""
    return service.history(
        session=session, fingerprint=fingerprint, name=name, kind=kind, since=since, limit=min(limit, 5000)
    )


@router.post(
    "/alerts/{fingerprint}/ack", response_model=AlertStateRead, summary="Acknowledge an alert (responder)"
)
def ack_alert(fingerprint: str, session: SessionDep, clock: ClockDep, token: ResponderDep) -> Any:
    """Acknowledge a firing alert; it clears by itself when the alert resolves."""
    try:
        row = service.ack(
            session=session, fingerprint=fingerprint, author=api_service.actor_for(token), clock=clock
        )
    except UsageError as exc:
        raise HTTPException(409, str(exc)) from None
    if row is None:
        raise HTTPException(404, f"no alert {fingerprint}")
    return AlertStateRead.model_validate(row.model_dump())


@router.get("/silences", response_model=list[SilenceRead], summary="Silences")
def list_silences(
    session: SessionDep, clock: ClockDep, _t: ViewerDep, include_expired: bool = False
) -> list[Any]:
    """Active and future silences (and expired ones on request)."""
    now = clock.now()
    return [
        _silence_read(r, now)
        for r in service.list_silences(session=session, include_expired=include_expired, clock=clock)
    ]


@router.post("/silences", response_model=SilenceRead, status_code=201, summary="Create a silence (responder)")
def create_silence(body: SilenceCreate, session: SessionDep, clock: ClockDep, token: ResponderDep) -> Any:
    """Mute matching alerts until `ends_at` (or for `duration`); creation and expiry are announced."""
    try:
        row = service.create_silence(
            session=session, silence_in=body, author=api_service.actor_for(token), clock=clock
        )
    except UsageError as exc:
        raise HTTPException(422, str(exc)) from None
    return _silence_read(row, clock.now())


@router.delete(
    "/silences/{silence_id}", response_model=SilenceRead, summary="Expire a silence now (responder)"
)
def delete_silence(silence_id: int, session: SessionDep, clock: ClockDep, token: ResponderDep) -> Any:
    """End a silence early."""
    row = service.expire_silence(
        session=session, silence_id=silence_id, author=api_service.actor_for(token), clock=clock
    )
    if row is None:
        raise HTTPException(404, f"no silence {silence_id}")
    return _silence_read(row, clock.now())


def _webhook_token(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="token, for senders that cannot set headers")] = None,
) -> ApiToken:
    if creds is not None and creds.credentials:
        return require_role(Role.responder)(current_token(request, session, clock, creds))
    if not token:
        raise HTTPException(
            401,
            "missing token: send 'Authorization: Bearer TOKEN' (Alertmanager http_config."
            "authorization) or ?token=TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = api_service.authenticate(session=session, secret=token, clock=clock)
    if found is None:
        raise HTTPException(401, "invalid, revoked or expired token")
    request.state.audit_actor = api_service.actor_for(found)
    return require_role(Role.responder)(found)


@router.post("/webhooks/alertmanager", summary="Receive an Alertmanager webhook (payload version 4)")
def alertmanager_webhook(
    request: Request,
    session: SessionDep,
    _t: Annotated[ApiToken, Depends(_webhook_token)],
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Each alert opens or joins an incident and runs matching policies; a repeated delivery is recognised."""
    raw = json.dumps(body, sort_keys=True).encode()
    try:
        payload = AmPayload.model_validate(body)
    except ValidationError as exc:
        reasons = [f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10]]
        raise HTTPException(
            422, {"message": "not an Alertmanager webhook payload (version 4)", "reasons": reasons}
        ) from None
    key = digest(raw)
    if session.get(WebhookDelivery, key) is not None:
        return {"duplicate": True, "incident_ids": session.get(WebhookDelivery, key).incident_ids}
    delivery = WebhookDelivery(
        digest=key,
        group_key=payload.groupKey[:500],
        received_at=datetime.fromtimestamp(request.app.state.clock.now(), UTC),
    )
    session.add(delivery)
    try:
        session.commit()
    except IntegrityError:  # the same delivery racing itself
        session.rollback()
        return {"duplicate": True, "incident_ids": []}
    handle: AlertHandler = request.app.state.alert_handler
    ids: list[int] = []
    for ev in events(payload):
        incident_id = handle(ev)
        if incident_id is not None and incident_id not in ids:
            ids.append(incident_id)
    row = session.get(WebhookDelivery, key)
    row.incident_ids = ids
    session.add(row)
    return {"duplicate": False, "alerts": len(payload.alerts), "incident_ids": ids}
