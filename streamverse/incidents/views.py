"""Incident routes: viewers read, responders act on the incident's lifecycle.

What remediation did or suggests for an incident (runs, playbook links) comes from the
`IncidentActions` the composition root puts on the app, so this area never imports remediation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from sqlmodel import Session

from streamverse.alerts.models import AlertEvent
from streamverse.api.deps import ResponderDep, SessionDep, ViewerDep, get_clock
from streamverse.api.service import actor_for
from streamverse.errors import StreamVerseError
from streamverse.incidents import service
from streamverse.incidents.enums import IncidentStatus
from streamverse.incidents.models import (
    Incident,
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    NoteCreate,
    TimelineEventRead,
)
from streamverse.incidents.service import IncidentActions, InvalidTransition

router = APIRouter(tags=["incidents"])


def _actions(request: Request) -> IncidentActions:
    """Runs and playbook links of an incident, as the remediation area reports them."""
    return request.app.state.incident_actions


ActionsDep = Annotated[IncidentActions, Depends(_actions)]


def _raise(exc: StreamVerseError) -> None:
    if isinstance(exc, InvalidTransition):
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


def _incident(session: Session, incident_id: int) -> Incident:
    incident = service.get(session=session, incident_id=incident_id)
    if incident is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return incident


def _read(session: Session, incident: Incident, actions: IncidentActions) -> IncidentRead:
    links = actions.runbook_links(session=session, incident_id=int(incident.id))
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


# -- incidents -----------------------------------------------------------------------------------
@router.get("/incidents", response_model=list[IncidentRead], summary="Incidents, newest first")
def list_incidents(
    session: SessionDep, actions: ActionsDep, _t: ViewerDep, status_: IncidentStatus | None = None,
    limit: int = 100,
) -> list[IncidentRead]:
    """Every incident, optionally only those in one status."""
    found = service.get_all(session=session, status=status_, limit=min(limit, 1000))
    return [_read(session, i, actions) for i in found]


@router.post(
    "/incidents", response_model=IncidentRead, status_code=201, summary="Open an incident (responder)"
)
def create_incident(
    body: IncidentCreate, session: SessionDep, actions: ActionsDep, request: Request, token: ResponderDep
) -> IncidentRead:
    """Declare an incident by hand."""
    incident = service.create(
        session=session, incident_in=body, author=actor_for(token), clock=get_clock(request)
    )
    return _read(session, incident, actions)


@router.post(
    "/incidents/alerts", response_model=IncidentRead | None, summary="Feed an alert event (responder)"
)
def alert_event(
    body: AlertEvent, request: Request, session: SessionDep, actions: ActionsDep, _t: ResponderDep
) -> IncidentRead | None:
    """Correlate an alert into an incident and run or suggest the runbooks the policies match."""
    session.commit()  # the handler writes in its own sessions; SQLite allows one writer
    incident_id = request.app.state.alert_handler(body)
    return None if incident_id is None else _read(session, _incident(session, incident_id), actions)


@router.get("/incidents/{incident_id}", response_model=IncidentRead, summary="One incident")
def get_incident(incident_id: int, session: SessionDep, actions: ActionsDep, _t: ViewerDep) -> IncidentRead:
    """An incident with its alerts and links to the playbooks of its runbooks."""
    return _read(session, _incident(session, incident_id), actions)


@router.patch("/incidents/{incident_id}", response_model=IncidentRead, summary="Edit an incident (responder)")
def update_incident(
    incident_id: int, body: IncidentUpdate, session: SessionDep, actions: ActionsDep, request: Request,
    token: ResponderDep,
) -> IncidentRead:
    """Title, severity, commander and roles."""
    incident = service.update(
        session=session,
        incident=_incident(session, incident_id),
        incident_in=body,
        author=actor_for(token),
        clock=get_clock(request),
    )
    return _read(session, incident, actions)


@router.get("/incidents/{incident_id}/timeline", response_model=list[TimelineEventRead], summary="Timeline")
def get_timeline(incident_id: int, session: SessionDep, _t: ViewerDep) -> list[Any]:
    """Alerts, actions, notes and status changes, oldest first."""
    _incident(session, incident_id)
    return service.timeline(session=session, incident_id=incident_id)


def _move(
    incident_id: int, to: IncidentStatus, session: Session, actions: IncidentActions, request: Request,
    token: Any, note: str | None,
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
    return _read(session, incident, actions)


@router.post("/incidents/{incident_id}/ack", response_model=IncidentRead, summary="Acknowledge (responder)")
def ack(
    incident_id: int, session: SessionDep, actions: ActionsDep, request: Request, token: ResponderDep
) -> IncidentRead:
    """I am on it; the first acknowledger becomes commander when none is set."""
    return _move(incident_id, IncidentStatus.acknowledged, session, actions, request, token, None)


@router.post(
    "/incidents/{incident_id}/mitigate", response_model=IncidentRead, summary="Mark mitigated (responder)"
)
def mitigate(
    incident_id: int, session: SessionDep, actions: ActionsDep, request: Request, token: ResponderDep
) -> IncidentRead:
    """Users are no longer hurt, the cause may remain."""
    return _move(incident_id, IncidentStatus.mitigated, session, actions, request, token, None)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentRead, summary="Resolve (responder)")
def resolve(
    incident_id: int, session: SessionDep, actions: ActionsDep, request: Request, token: ResponderDep
) -> IncidentRead:
    """The problem is gone."""
    return _move(incident_id, IncidentStatus.resolved, session, actions, request, token, None)


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
    actions: ActionsDep,
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
            actions=actions.actions(session=session, incident_id=incident_id),
            settings=request.app.state.settings,
            clock=get_clock(request),
        )
    except StreamVerseError as exc:
        _raise(exc)
        raise


@router.get("/incidents/{incident_id}/postmortem", summary="The postmortem (stored, else a fresh draft)")
def get_postmortem(
    incident_id: int, session: SessionDep, actions: ActionsDep, request: Request, _t: ViewerDep
) -> dict[str, Any]:
    """The stored postmortem, or a draft made now."""
    incident = _incident(session, incident_id)
    return incident.postmortem or service.postmortem_draft(
        session=session, incident=incident, actions=actions.actions(session=session, incident_id=incident_id),
        settings=request.app.state.settings, clock=get_clock(request),
    )


