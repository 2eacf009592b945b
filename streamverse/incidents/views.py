"""Incident and runbook routes: viewers read, responders act; a run's approver is never its requester."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse
from sqlmodel import Session, col, select

from streamverse.api.deps import ResponderDep, SessionDep, ViewerDep, get_clock
from streamverse.api.service import actor_for
from streamverse.clock import RealClock
from streamverse.errors import StreamVerseError
from streamverse.incidents import service
from streamverse.incidents.control import ControlError
from streamverse.incidents.enums import IncidentStatus, RunStatus, TimelineKind
from streamverse.incidents.flows import ApprovalError, Remediator
from streamverse.incidents.guardrails import GuardrailError
from streamverse.incidents.models import (
    Incident,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    NoteCreate,
    RunbookRun,
    RunbookRunCreate,
    RunbookRunRead,
    TimelineEventRead,
)
from streamverse.incidents.runbooks import RUNBOOKS, get_runbook
from streamverse.incidents.schemas import AlertEvent
from streamverse.incidents.service import InvalidTransition

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "runbooks"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On start-up, reconcile runs a crash left running, in the background so serving starts at once."""
    if getattr(app.state, "engine", None) is not None and getattr(app.state, "settings", None) is not None:
        if getattr(app.state, "reconcile_on_start", True):
            remediator = remediator_for(app)
            threading.Thread(
                target=_reconcile_quietly, args=(remediator,), daemon=True, name="runbook-reconcile"
            ).start()
    yield


def _reconcile_quietly(remediator: Remediator) -> None:
    try:
        remediator.reconcile()
    except Exception:  # a platform that is down must not stop the control plane from starting
        import logging

        logging.getLogger("streamverse.incidents").exception("reconciling runbook runs failed")


router = APIRouter(tags=["incidents"], lifespan=_lifespan)


def remediator_for(app: FastAPI) -> Remediator:
    """The app's remediator (tests may set app.state.remediator first)."""
    rem = getattr(app.state, "remediator", None)
    if rem is None:
        rem = Remediator(
            settings=app.state.settings,
            engine=app.state.engine,
            clock=getattr(app.state, "clock", None) or RealClock(),
        )
        app.state.remediator = rem
    return rem


def _remediator(request: Request) -> Remediator:
    return remediator_for(request.app)


RemediatorDep = Annotated[Remediator, Depends(_remediator)]


def _raise(exc: StreamVerseError) -> None:
    if isinstance(exc, GuardrailError):
        raise HTTPException(status.HTTP_409_CONFLICT, {"message": str(exc), "run_id": exc.run_id}) from None
    if isinstance(exc, ApprovalError):
        code = 403 if "different person" in str(exc) else (404 if str(exc).startswith("no run") else 409)
        raise HTTPException(code, str(exc)) from None
    if isinstance(exc, InvalidTransition):
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if isinstance(exc, ControlError):
        code = exc.status_code if exc.status_code in (400, 404, 422, 503) else 502
        raise HTTPException(code, str(exc)) from None
    raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


def _incident(session: Session, incident_id: int) -> Incident:
    incident = service.get(session=session, incident_id=incident_id)
    if incident is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return incident


def _read(session: Session, incident: Incident) -> IncidentRead:
    names = {r.runbook for r in session.exec(select(RunbookRun).where(RunbookRun.incident_id == incident.id))}
    names |= {
        e.data.get("runbook")
        for e in service.timeline(session=session, incident_id=incident.id)
        if e.kind == TimelineKind.action_suggested
    }
    links = [
        {"runbook": n, "playbook": RUNBOOKS[n].playbook, "url": f"/api/v1/runbooks/{n}/playbook"}
        for n in sorted(x for x in names if x in RUNBOOKS)
    ]
    alerts = [
        {
            "fingerprint": a.fingerprint,
            "name": a.name,
            "status": a.status,
            "labels": a.labels,
            "first_fired_at": a.first_fired_at,
            "resolved_at": a.resolved_at,
        }
        for a in service.alerts_of(session=session, incident_id=incident.id)
    ]
    return IncidentRead.model_validate({**incident.model_dump(), "alerts": alerts, "runbook_links": links})


def _run_read(rem: Remediator, run: RunbookRun) -> RunbookRunRead:
    with Session(rem.engine) as s:
        events = [
            TimelineEventRead.model_validate(e.model_dump())
            for e in service.run_events(session=s, run_id=run.id)
        ]
    return RunbookRunRead.model_validate(
        {
            **run.model_dump(),
            "events": events,
            "playbook": RUNBOOKS[run.runbook].playbook if run.runbook in RUNBOOKS else None,
        }
    )


# -- incidents -----------------------------------------------------------------------------------
@router.get("/incidents", response_model=list[IncidentRead], summary="Incidents, newest first")
def list_incidents(
    session: SessionDep, _t: ViewerDep, status_: IncidentStatus | None = None, limit: int = 100
) -> list[IncidentRead]:
    """Every incident, optionally only those in one status."""
    return [
        _read(session, i) for i in service.get_all(session=session, status=status_, limit=min(limit, 1000))
    ]


@router.post(
    "/incidents", response_model=IncidentRead, status_code=201, summary="Open an incident (responder)"
)
def create_incident(
    body: IncidentCreate, session: SessionDep, request: Request, token: ResponderDep
) -> IncidentRead:
    """Declare an incident by hand."""
    incident = service.create(
        session=session, incident_in=body, author=actor_for(token), clock=get_clock(request)
    )
    return _read(session, incident)


@router.post(
    "/incidents/alerts", response_model=IncidentRead | None, summary="Feed an alert event (responder)"
)
def alert_event(
    body: AlertEvent, request: Request, rem: RemediatorDep, session: SessionDep, _t: ResponderDep
) -> IncidentRead | None:
    """Correlate an alert into an incident and run or suggest the runbooks the policies match."""
    session.commit()  # the remediator writes in its own sessions; SQLite allows one writer
    incident = rem.on_alert(alert=body, policies=getattr(request.app.state, "incident_policies", None))
    return None if incident is None else _read(session, _incident(session, incident.id))


@router.get("/incidents/{incident_id}", response_model=IncidentRead, summary="One incident")
def get_incident(incident_id: int, session: SessionDep, _t: ViewerDep) -> IncidentRead:
    """An incident with its alerts and links to the playbooks of its runbooks."""
    return _read(session, _incident(session, incident_id))


@router.patch("/incidents/{incident_id}", response_model=IncidentRead, summary="Edit an incident (responder)")
def update_incident(
    incident_id: int, body: IncidentUpdate, session: SessionDep, request: Request, token: ResponderDep
) -> IncidentRead:
    """Title, severity, commander and roles."""
    incident = service.update(
        session=session,
        incident=_incident(session, incident_id),
        incident_in=body,
        author=actor_for(token),
        clock=get_clock(request),
    )
    return _read(session, incident)


@router.get("/incidents/{incident_id}/timeline", response_model=list[TimelineEventRead], summary="Timeline")
def get_timeline(incident_id: int, session: SessionDep, _t: ViewerDep) -> list[Any]:
    """Alerts, actions, notes and status changes, oldest first."""
    _incident(session, incident_id)
    return service.timeline(session=session, incident_id=incident_id)


def _move(
    incident_id: int, to: IncidentStatus, session: Session, request: Request, token: Any, note: str | None
) -> IncidentRead:
    try:
        incident = service.transition(
            session=session,
            incident=_incident(session, incident_id),
            to=to,
            author=actor_for(token),
            clock=get_clock(request),
            note=note,
        )
    except StreamVerseError as exc:
        _raise(exc)
    return _read(session, incident)


@router.post("/incidents/{incident_id}/ack", response_model=IncidentRead, summary="Acknowledge (responder)")
def ack(incident_id: int, session: SessionDep, request: Request, token: ResponderDep) -> IncidentRead:
    """I am on it; the first acknowledger becomes commander when none is set."""
    return _move(incident_id, IncidentStatus.acknowledged, session, request, token, None)


@router.post(
    "/incidents/{incident_id}/mitigate", response_model=IncidentRead, summary="Mark mitigated (responder)"
)
def mitigate(incident_id: int, session: SessionDep, request: Request, token: ResponderDep) -> IncidentRead:
    """Users are no longer hurt, the cause may remain."""
    return _move(incident_id, IncidentStatus.mitigated, session, request, token, None)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentRead, summary="Resolve (responder)")
def resolve(incident_id: int, session: SessionDep, request: Request, token: ResponderDep) -> IncidentRead:
    """The problem is gone."""
    return _move(incident_id, IncidentStatus.resolved, session, request, token, None)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=TimelineEventRead,
    status_code=201,
    summary="Add a note (responder)",
)
def add_note(
    incident_id: int, body: NoteCreate, session: SessionDep, request: Request, token: ResponderDep
) -> Any:
    """A note on the timeline."""
    return service.add_note(
        session=session,
        incident=_incident(session, incident_id),
        message=body.message,
        author=actor_for(token),
        clock=get_clock(request),
    )


@router.post("/incidents/{incident_id}/postmortem", summary="Draft the postmortem (responder)")
def postmortem(
    incident_id: int,
    session: SessionDep,
    request: Request,
    token: ResponderDep,
    error_budget_burned: Annotated[float | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """Timeline, budget burned, downtime, revenue, actions; a resolved incident moves to postmortem."""
    try:
        return service.write_postmortem(
            session=session,
            incident=_incident(session, incident_id),
            author=actor_for(token),
            error_budget_burned=error_budget_burned,
            settings=request.app.state.settings,
            clock=get_clock(request),
        )
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.get("/incidents/{incident_id}/postmortem", summary="The postmortem (stored, else a fresh draft)")
def get_postmortem(incident_id: int, session: SessionDep, request: Request, _t: ViewerDep) -> dict[str, Any]:
    """The stored postmortem, or a draft made now."""
    incident = _incident(session, incident_id)
    return incident.postmortem or service.postmortem_draft(
        session=session, incident=incident, settings=request.app.state.settings, clock=get_clock(request)
    )


# -- runbooks and runs ---------------------------------------------------------------------------
@router.get("/runbooks", summary="The runbooks, with links to their playbooks")
def list_runbooks(_t: ViewerDep) -> list[dict[str, Any]]:
    """Every runbook the control plane can run."""
    return [rb.describe() for rb in RUNBOOKS.values()]


@router.get(
    "/runbooks/{name}/playbook", response_class=PlainTextResponse, summary="A runbook's playbook page"
)
def playbook(name: str, _t: ViewerDep) -> str:
    """The human playbook (Markdown): when to use it, what it changes, how to verify and roll back."""
    if name not in RUNBOOKS:
        raise HTTPException(404, f"unknown runbook {name!r}; choose one of {sorted(RUNBOOKS)}")
    path = DOCS_DIR / f"{name}.md"
    if not path.exists():
        raise HTTPException(404, f"the playbook is in the repository at {RUNBOOKS[name].playbook}")
    return path.read_text()


@router.post("/runbooks/{name}/plan", summary="Dry run: exact changes and blast radius (responder)")
def plan_run(name: str, body: RunbookRunCreate, rem: RemediatorDep, _t: ResponderDep) -> dict[str, Any]:
    """What the run would change; nothing is changed."""
    try:
        get_runbook(name)
        return rem.plan(runbook=name, target=body.target, params=body.params)
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.post(
    "/runbooks/{name}/runs",
    response_model=RunbookRunRead,
    status_code=201,
    summary="Request a run (responder); send Idempotency-Key to make retries safe",
)
def request_run(
    name: str,
    body: RunbookRunCreate,
    request: Request,
    response: Response,
    rem: RemediatorDep,
    session: SessionDep,
    token: ResponderDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunbookRunRead:
    """Start a run, or pause it for approval when its blast is high; a repeat gets the same run (200)."""
    request.state.audit_target = {"runbook": name, "target": body.target, "params": body.params}
    session.commit()  # release the token check's write before the remediator writes (one SQLite writer)
    try:
        get_runbook(name)
        run, created = rem.request(
            runbook=name,
            target=body.target,
            params=body.params,
            requested_by=actor_for(token),
            idempotency_key=idempotency_key,
            incident_id=body.incident_id,
        )
    except StreamVerseError as exc:
        _raise(exc)
        raise
    if not created:
        response.status_code = 200
    return _run_read(rem, run)


@router.get("/runs", response_model=list[RunbookRunRead], summary="Runbook runs, newest first")
def list_runs(
    rem: RemediatorDep, _t: ViewerDep, status_: RunStatus | None = None, limit: int = 100
) -> list[RunbookRunRead]:
    """Runs with their audit trails."""
    with Session(rem.engine) as s:
        stmt = select(RunbookRun)
        if status_ is not None:
            stmt = stmt.where(RunbookRun.status == status_.value)
        runs = list(s.exec(stmt.order_by(col(RunbookRun.id).desc()).limit(min(limit, 1000))))
    return [_run_read(rem, r) for r in runs]


@router.get("/runs/{run_id}", response_model=RunbookRunRead, summary="One run and its audit trail")
def get_run(run_id: int, rem: RemediatorDep, _t: ViewerDep) -> RunbookRunRead:
    """Plan, status, approvals, changes, verification and every step."""
    run = rem.get(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id}")
    return _run_read(rem, run)


@router.post(
    "/runs/{run_id}/approve", response_model=RunbookRunRead, summary="Approve a paused run (responder)"
)
def approve(
    run_id: int, request: Request, rem: RemediatorDep, session: SessionDep, token: ResponderDep
) -> RunbookRunRead:
    """A second person approves; the run starts."""
    request.state.audit_target = {"run_id": run_id, "decision": "approve"}
    session.commit()
    try:
        return _run_read(rem, rem.approve(run_id=run_id, approver=actor_for(token)))
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.post(
    "/runs/{run_id}/reject", response_model=RunbookRunRead, summary="Reject a paused run (responder)"
)
def reject(
    run_id: int,
    request: Request,
    rem: RemediatorDep,
    session: SessionDep,
    token: ResponderDep,
    reason: Annotated[str | None, Body(embed=True, max_length=2000)] = None,
) -> RunbookRunRead:
    """The run never starts; the target is free again."""
    request.state.audit_target = {"run_id": run_id, "decision": "reject"}
    session.commit()
    try:
        return _run_read(rem, rem.reject(run_id=run_id, rejecter=actor_for(token), reason=reason))
    except StreamVerseError as exc:
        _raise(exc)
        raise
