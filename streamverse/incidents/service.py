"""Incident lifecycle, alert correlation, timeline and postmortem drafts: plain functions over a session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlmodel import Session, col, select

from streamverse.alerts.models import AlertEvent
from streamverse.clock import Clock, RealClock
from streamverse.costs.incidents import incident_cost
from streamverse.errors import StreamVerseError
from streamverse.incidents.enums import OPEN_STATUSES, IncidentStatus, Severity, TimelineKind
from streamverse.incidents.models import (
    Incident,
    IncidentAlert,
    IncidentCreate,
    IncidentUpdate,
    TimelineEvent,
)

# Alerts about the same service and region within this long of the incident's last activity join it.
CORRELATION_WINDOW_S = 30 * 60

# Forward moves only; middle steps may be skipped (an alert can resolve an unacknowledged incident).
TRANSITIONS: dict[IncidentStatus, set[IncidentStatus]] = {
    IncidentStatus.triggered: {
        IncidentStatus.acknowledged,
        IncidentStatus.mitigated,
        IncidentStatus.resolved,
    },
    IncidentStatus.acknowledged: {IncidentStatus.mitigated, IncidentStatus.resolved},
    IncidentStatus.mitigated: {IncidentStatus.resolved},
    IncidentStatus.resolved: {IncidentStatus.postmortem},
    IncidentStatus.postmortem: set(),
}


class IncidentActions(Protocol):
    """What remediation did or suggests for an incident; the remediation area answers this.

    Incidents sit below remediation, so they learn of runs through this interface, which
    the composition root fills with the remediation area's implementation.
    """

    def runbook_links(self, *, session: Session, incident_id: int) -> list[dict[str, str]]:
        """{runbook, playbook, url} for every runbook run or suggested for the incident."""
        ...

    def actions(self, *, session: Session, incident_id: int) -> list[dict[str, Any]]:
        """The incident's runbook runs, oldest first, as the postmortem lists them."""
        ...


class InvalidTransition(StreamVerseError):
    """A lifecycle move the incident's current status does not allow."""


def _dt(clock: Clock | None) -> datetime:
    return datetime.fromtimestamp((clock or RealClock()).now(), tz=UTC)


# -- timeline ------------------------------------------------------------------------------------
def add_event(
    *,
    session: Session,
    kind: TimelineKind | str,
    message: str,
    author: str,
    incident_id: int | None = None,
    run_id: int | None = None,
    data: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> TimelineEvent:
    """Append one timeline / audit entry."""
    event = TimelineEvent(
        kind=str(kind),
        message=message,
        author=author,
        incident_id=incident_id,
        run_id=run_id,
        data=data or {},
        at=_dt(clock),
    )
    session.add(event)
    session.flush()
    return event


def timeline(*, session: Session, incident_id: int) -> list[TimelineEvent]:
    """An incident's timeline, oldest first."""
    stmt = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    return list(session.exec(stmt.order_by(col(TimelineEvent.at), col(TimelineEvent.id))))


def run_events(*, session: Session, run_id: int) -> list[TimelineEvent]:
    """A run's audit trail, oldest first."""
    stmt = select(TimelineEvent).where(TimelineEvent.run_id == run_id)
    return list(session.exec(stmt.order_by(col(TimelineEvent.at), col(TimelineEvent.id))))


# -- incidents -----------------------------------------------------------------------------------
def get(*, session: Session, incident_id: int) -> Incident | None:
    """One incident by id."""
    return session.get(Incident, incident_id)


def get_all(*, session: Session, status: IncidentStatus | None = None, limit: int = 100) -> list[Incident]:
    """Incidents, newest first."""
    stmt = select(Incident)
    if status is not None:
        stmt = stmt.where(Incident.status == status.value)
    return list(
        session.exec(stmt.order_by(col(Incident.started_at).desc(), col(Incident.id).desc()).limit(limit))
    )


def create(
    *, session: Session, incident_in: IncidentCreate, author: str, clock: Clock | None = None
) -> Incident:
    """Open an incident in the triggered state."""
    now = _dt(clock)
    incident = Incident(
        **incident_in.model_dump(exclude={"severity"}),
        severity=Severity(incident_in.severity).value,
        created_by=author,
        started_at=now,
        updated_at=now,
    )
    session.add(incident)
    session.flush()
    add_event(
        session=session,
        kind=TimelineKind.status_changed,
        author=author,
        incident_id=incident.id,
        message=f"incident opened ({incident.severity}): {incident.title}",
        data={"status": {"old": None, "new": incident.status}},
        clock=clock,
    )
    return incident


def update(
    *,
    session: Session,
    incident: Incident,
    incident_in: IncidentUpdate,
    author: str,
    clock: Clock | None = None,
) -> Incident:
    """Change title, severity, commander or roles; role changes are on the timeline."""
    changes = incident_in.model_dump(exclude_unset=True)
    for field, value in changes.items():
        old = getattr(incident, field)
        value = value.value if isinstance(value, Severity) else value
        if old == value:
            continue
        setattr(incident, field, value)
        kind = TimelineKind.role_assigned if field in ("commander", "roles") else TimelineKind.note
        add_event(
            session=session,
            kind=kind,
            author=author,
            incident_id=incident.id,
            message=f"{field}: {old!r} -> {value!r}",
            data={field: {"old": old, "new": value}},
            clock=clock,
        )
    incident.updated_at = _dt(clock)
    session.add(incident)
    return incident


def transition(
    *,
    session: Session,
    incident: Incident,
    to: IncidentStatus,
    author: str,
    clock: Clock | None = None,
    note: str | None = None,
) -> Incident:
    """Move the incident along its lifecycle, refusing moves the current status does not allow."""
    current = IncidentStatus(incident.status)
    if to not in TRANSITIONS[current]:
        allowed = sorted(s.value for s in TRANSITIONS[current]) or ["none"]
        raise InvalidTransition(
            f"incident {incident.id} is {current.value}; it cannot become {to.value} "
            f"(allowed next: {', '.join(allowed)})"
        )
    now = _dt(clock)
    incident.status = to.value
    setattr(incident, f"{to.value}_at", now)
    if to == IncidentStatus.acknowledged and not incident.commander:
        incident.commander = author
    incident.updated_at = now
    session.add(incident)
    add_event(
        session=session,
        kind=TimelineKind.status_changed,
        author=author,
        incident_id=incident.id,
        message=f"{current.value} -> {to.value}" + (f": {note}" if note else ""),
        data={"status": {"old": current.value, "new": to.value}},
        clock=clock,
    )
    return incident


def add_note(
    *, session: Session, incident: Incident, message: str, author: str, clock: Clock | None = None
) -> TimelineEvent:
    """A responder's note on the timeline."""
    incident.updated_at = _dt(clock)
    session.add(incident)
    return add_event(
        session=session,
        kind=TimelineKind.note,
        message=message,
        author=author,
        incident_id=incident.id,
        clock=clock,
    )


def alerts_of(*, session: Session, incident_id: int) -> list[IncidentAlert]:
    """The alerts attached to an incident."""
    stmt = (
        select(IncidentAlert).where(IncidentAlert.incident_id == incident_id).order_by(col(IncidentAlert.id))
    )
    return list(session.exec(stmt))


# -- correlation ---------------------------------------------------------------------------------
def _open_for_fingerprint(session: Session, fingerprint: str) -> tuple[Incident, IncidentAlert] | None:
    stmt = (
        select(Incident, IncidentAlert)
        .join(IncidentAlert, IncidentAlert.incident_id == Incident.id)
        .where(IncidentAlert.fingerprint == fingerprint)
        .where(col(Incident.status).in_([s.value for s in OPEN_STATUSES]))
        .order_by(col(Incident.id).desc())
    )
    row = session.exec(stmt).first()
    return (row[0], row[1]) if row else None


def find_related(
    *,
    session: Session,
    service: str | None,
    region: str | None,
    now: datetime,
    window_s: float = CORRELATION_WINDOW_S,
) -> Incident | None:
    """An open incident about the same service and region, active within the window."""
    since = datetime.fromtimestamp(now.timestamp() - window_s, tz=UTC)
    stmt = (
        select(Incident)
        .where(col(Incident.status).in_([s.value for s in OPEN_STATUSES]))
        .where(Incident.service == service)
        .where(Incident.region == region)
        .where(col(Incident.updated_at) >= since)
        .order_by(col(Incident.id).desc())
    )
    return session.exec(stmt).first()


def open_or_correlate(
    *,
    session: Session,
    alert: AlertEvent,
    clock: Clock | None = None,
    window_s: float = CORRELATION_WINDOW_S,
    auto_resolve: bool = True,
) -> Incident | None:
    """The incident this alert belongs to: an existing related one, or a new one when it fires.

    A firing alert joins the open incident that already holds its fingerprint, else an open
    incident about the same service and region active within `window_s`, else opens one.
    A resolved alert is marked resolved on its incident; when every alert of the incident is
    resolved the incident resolves too (with `auto_resolve`). A resolved alert that belongs to
    no open incident returns None. Repeated deliveries of the same state add nothing.
    """
    now = _dt(clock)
    author = f"alert:{alert.name}"
    found = _open_for_fingerprint(session, alert.fingerprint)
    if alert.status == "resolved":
        if found is None:
            return None
        incident, link = found
        if link.status != "resolved":
            link.status, link.resolved_at, link.last_seen_at = "resolved", alert.ends_at or now, now
            session.add(link)
            incident.updated_at = now
            session.add(incident)
            add_event(
                session=session,
                kind=TimelineKind.alert_resolved,
                author=author,
                incident_id=incident.id,
                message=f"alert {alert.name} resolved",
                data={"fingerprint": alert.fingerprint},
                clock=clock,
            )
            session.flush()
            still = [a for a in alerts_of(session=session, incident_id=incident.id) if a.status == "firing"]
            if auto_resolve and not still:
                transition(
                    session=session,
                    incident=incident,
                    to=IncidentStatus.resolved,
                    author=author,
                    clock=clock,
                    note="every alert of the incident resolved",
                )
        return incident

    severity = Severity.from_alert(alert.effective_severity)
    if found is not None:
        incident, link = found
        if link.status == "firing":
            link.last_seen_at = now
            session.add(link)
            return incident  # a repeat notification: nothing new to record
    else:
        incident = find_related(
            session=session, service=alert.service, region=alert.region, now=now, window_s=window_s
        )
        link = None
    if incident is None:
        title = alert.annotations.get("summary") or alert.annotations.get("title") or alert.name
        where = " / ".join(x for x in (alert.service, alert.region) if x)
        incident = create(
            session=session,
            author=author,
            clock=clock,
            incident_in=IncidentCreate(
                title=f"{title} ({where})" if where and where not in title else title,
                severity=severity,
                service=alert.service,
                region=alert.region,
                description=alert.annotations.get("description"),
            ),
        )
    elif severity.rank < Severity(incident.severity).rank:
        update(
            session=session,
            incident=incident,
            author=author,
            clock=clock,
            incident_in=IncidentUpdate(severity=severity),
        )
    if link is None:
        link = IncidentAlert(
            incident_id=incident.id,
            fingerprint=alert.fingerprint,
            name=alert.name,
            status="firing",
            severity=alert.effective_severity,
            labels=dict(alert.labels),
            source=alert.source,
            first_fired_at=alert.starts_at or now,
            last_seen_at=now,
        )
    else:
        link.status, link.resolved_at, link.last_seen_at = "firing", None, now
    session.add(link)
    incident.updated_at = now
    session.add(incident)
    add_event(
        session=session,
        kind=TimelineKind.alert_fired,
        author=author,
        incident_id=incident.id,
        message=f"alert {alert.name} firing"
        + (f": {alert.annotations['summary']}" if alert.annotations.get("summary") else ""),
        data={"fingerprint": alert.fingerprint, "labels": dict(alert.labels), "source": alert.source},
        clock=clock,
    )
    return incident


# -- postmortem ----------------------------------------------------------------------------------
def revenue_impact_usd(*, minutes: float, settings: Any = None, incident: Incident | None = None) -> float:
    """Cost of the downtime, by the costs area's one rule (minutes x revenue per minute)."""
    per_minute = getattr(settings, "revenue_per_minute_usd", None)
    return float(incident_cost(downtime_minutes=max(0.0, minutes), revenue_per_minute_usd=per_minute))


def postmortem_draft(
    *,
    session: Session,
    incident: Incident,
    error_budget_burned: float | None = None,
    actions: Sequence[Mapping[str, Any]] = (),
    settings: Any = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """A postmortem draft: summary, impact (budget burned, downtime, revenue), timeline, actions taken."""
    end = incident.mitigated_at or incident.resolved_at or _dt(clock)
    downtime_min = max(0.0, (end - incident.started_at).total_seconds() / 60.0)
    events = timeline(session=session, incident_id=incident.id)
    return {
        "incident_id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "service": incident.service,
        "region": incident.region,
        "commander": incident.commander,
        "roles": incident.roles,
        "status": incident.status,
        "started_at": incident.started_at.isoformat(),
        "mitigated_at": incident.mitigated_at.isoformat() if incident.mitigated_at else None,
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "impact": {
            "downtime_minutes": round(downtime_min, 2),
            "error_budget_burned": error_budget_burned,
            "revenue_impact_usd": revenue_impact_usd(
                minutes=downtime_min, settings=settings, incident=incident
            ),
        },
        "alerts": [
            {
                "name": a.name,
                "fingerprint": a.fingerprint,
                "labels": a.labels,
                "fired_at": a.first_fired_at.isoformat(),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
            }
            for a in alerts_of(session=session, incident_id=incident.id)
        ],
        "timeline": [
            {"at": e.at.isoformat(), "kind": e.kind, "author": e.author, "message": e.message} for e in events
        ],
        "actions": list(actions),
        "sections": {
            "what_happened": "",
            "root_cause": "",
            "what_went_well": "",
            "what_went_wrong": "",
            "follow_ups": [],
        },
    }


def write_postmortem(
    *,
    session: Session,
    incident: Incident,
    author: str,
    error_budget_burned: float | None = None,
    actions: Sequence[Mapping[str, Any]] = (),
    settings: Any = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Generate the draft, store it, and move a resolved incident to postmortem."""
    draft = postmortem_draft(
        session=session,
        incident=incident,
        error_budget_burned=error_budget_burned,
        actions=actions,
        settings=settings,
        clock=clock,
    )
    if incident.status != IncidentStatus.postmortem.value:
        transition(
            session=session, incident=incident, to=IncidentStatus.postmortem, author=author, clock=clock
        )
    incident.postmortem = draft
    session.add(incident)
    return draft
