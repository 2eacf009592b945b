"""Incident lifecycle, alert correlation and postmortem drafts on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from streamverse.alerts.models import AlertEvent
from streamverse.clock import VirtualClock
from streamverse.costs.incidents import DEFAULT_REVENUE_PER_MINUTE_USD
from streamverse.db import get_engine, init_db
from streamverse.incidents import service
from streamverse.incidents.enums import IncidentStatus, TimelineKind
from streamverse.incidents.models import IncidentCreate

T0 = 1_700_000_000.0


def alert(
    name: str = "EdgeAvailabilityPage",
    *,
    fp: str = "fp-1",
    region: str = "us-east",
    status: str = "firing",
    severity: str = "page",
) -> AlertEvent:
    return AlertEvent(
        fingerprint=fp,
        name=name,
        status=status,
        severity=severity,
        labels={"service": "streamverse", "region": region, "sloth_slo": "edge-availability"},
        annotations={"summary": "edge errors"},
    )


@pytest.fixture
def session(db_url: str) -> Any:
    engine = get_engine(db_url)
    init_db(engine)
    with Session(engine, expire_on_commit=False) as s:
        yield s


def test_lifecycle_moves_forward_only(session: Session) -> None:
    clock = VirtualClock(T0)
    inc = service.create(
        session=session,
        incident_in=IncidentCreate(title="edge down", severity="sev2"),
        author="ana",
        clock=clock,
    )
    with pytest.raises(service.InvalidTransition, match="cannot become postmortem"):
        service.transition(
            session=session, incident=inc, to=IncidentStatus.postmortem, author="ana", clock=clock
        )
    clock.advance(60)
    service.transition(
        session=session, incident=inc, to=IncidentStatus.acknowledged, author="bo", clock=clock
    )
    assert inc.commander == "bo" and inc.acknowledged_at.timestamp() == T0 + 60
    with pytest.raises(service.InvalidTransition):
        service.transition(
            session=session, incident=inc, to=IncidentStatus.triggered, author="bo", clock=clock
        )
    with pytest.raises(service.InvalidTransition):
        service.transition(
            session=session, incident=inc, to=IncidentStatus.acknowledged, author="bo", clock=clock
        )
    for to in (IncidentStatus.mitigated, IncidentStatus.resolved, IncidentStatus.postmortem):
        service.transition(session=session, incident=inc, to=to, author="bo", clock=clock)
    with pytest.raises(service.InvalidTransition, match="allowed next: none"):
        service.transition(
            session=session, incident=inc, to=IncidentStatus.resolved, author="bo", clock=clock
        )
    kinds = [e.kind for e in service.timeline(session=session, incident_id=inc.id)]
    assert kinds.count(TimelineKind.status_changed) == 5


def test_related_alerts_correlate_into_one_incident(session: Session) -> None:
    clock = VirtualClock(T0)
    first = service.open_or_correlate(session=session, alert=alert(fp="a"), clock=clock)
    clock.advance(120)
    second = service.open_or_correlate(
        session=session, alert=alert("VideoStartupPage", fp="b", severity="ticket"), clock=clock
    )
    again = service.open_or_correlate(session=session, alert=alert(fp="a"), clock=clock)  # repeat delivery
    other = service.open_or_correlate(session=session, alert=alert(fp="c", region="eu-west"), clock=clock)
    assert first.id == second.id == again.id != other.id
    assert first.severity == "sev1" and first.region == "us-east"
    fired = [e for e in service.timeline(session=session, incident_id=first.id) if e.kind == "alert_fired"]
    assert len(fired) == 2
    # Outside the window a new alert opens a new incident.
    clock.advance(service.CORRELATION_WINDOW_S + 1)
    late = service.open_or_correlate(session=session, alert=alert(fp="d"), clock=clock)
    assert late.id != first.id


def test_resolving_every_alert_resolves_the_incident(session: Session) -> None:
    clock = VirtualClock(T0)
    inc = service.open_or_correlate(session=session, alert=alert(fp="a"), clock=clock)
    service.open_or_correlate(session=session, alert=alert(fp="b"), clock=clock)
    service.open_or_correlate(session=session, alert=alert(fp="a", status="resolved"), clock=clock)
    assert inc.status == "triggered"
    service.open_or_correlate(session=session, alert=alert(fp="b", status="resolved"), clock=clock)
    assert inc.status == "resolved"
    assert (
        service.open_or_correlate(session=session, alert=alert(fp="zz", status="resolved"), clock=clock)
        is None
    )


def test_postmortem_draft_has_impact_and_timeline(session: Session) -> None:
    clock = VirtualClock(T0)
    inc = service.open_or_correlate(session=session, alert=alert(), clock=clock)
    clock.advance(300)
    service.add_note(session=session, incident=inc, message="draining us-east", author="ana", clock=clock)
    clock.advance(300)
    service.transition(session=session, incident=inc, to=IncidentStatus.mitigated, author="ana", clock=clock)
    service.transition(session=session, incident=inc, to=IncidentStatus.resolved, author="ana", clock=clock)
    draft = service.write_postmortem(
        session=session, incident=inc, author="ana", error_budget_burned=0.42, clock=clock
    )
    assert inc.status == "postmortem" and inc.postmortem == draft
    impact = draft["impact"]
    assert impact["downtime_minutes"] == 10.0 and impact["error_budget_burned"] == 0.42
    assert impact["revenue_impact_usd"] == 10 * float(DEFAULT_REVENUE_PER_MINUTE_USD)
    assert [t["kind"] for t in draft["timeline"]][:2] == ["status_changed", "alert_fired"]
    assert any(t["message"] == "draining us-east" for t in draft["timeline"])
