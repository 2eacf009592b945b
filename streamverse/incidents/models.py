"""Incident tables (incident, its alerts, timeline, runbook runs, run locks) and their API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from streamverse.db import UTCDateTime
from streamverse.incidents.enums import IncidentStatus, RunStatus, Severity


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(default: Any = None) -> Any:
    factory = (lambda: {}) if default is None else default
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


# -- incidents -----------------------------------------------------------------------------------
class IncidentBase(SQLModel):
    title: str = Field(min_length=1, max_length=300)
    severity: Severity = Severity.sev3
    service: str | None = Field(None, max_length=100, description="the affected service")
    region: str | None = Field(None, max_length=100, description="the affected region, if one")
    description: str | None = Field(None, max_length=5000)


class Incident(IncidentBase, table=True):
    """One problem, however many alerts it raised."""

    __tablename__ = "incident"

    id: int | None = Field(default=None, primary_key=True)
    severity: str = Field(max_length=8)  # type: ignore[assignment]
    status: str = Field(default=IncidentStatus.triggered.value, max_length=16, index=True)
    commander: str | None = Field(None, max_length=200)
    roles: dict[str, str] = _json()
    created_by: str = Field(max_length=200)
    description: str | None = Field(None, sa_column=Column(Text))
    started_at: datetime = _ts()
    acknowledged_at: datetime | None = _ts(default=None)
    mitigated_at: datetime | None = _ts(default=None)
    resolved_at: datetime | None = _ts(default=None)
    postmortem_at: datetime | None = _ts(default=None)
    updated_at: datetime = _ts()
    postmortem: dict[str, Any] | None = Field(None, sa_column=Column(JSON, nullable=True))


class IncidentCreate(IncidentBase):
    commander: str | None = Field(None, max_length=200)
    roles: dict[str, str] = Field(default_factory=dict, description="role -> person, e.g. comms: ana")


class IncidentUpdate(SQLModel):
    title: str | None = Field(None, min_length=1, max_length=300)
    severity: Severity | None = None
    commander: str | None = Field(None, max_length=200)
    roles: dict[str, str] | None = None
    description: str | None = Field(None, max_length=5000)


class IncidentRead(IncidentBase):
    id: int
    status: IncidentStatus
    commander: str | None
    roles: dict[str, str]
    created_by: str
    started_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    postmortem_at: datetime | None
    updated_at: datetime
    alerts: list[dict[str, Any]] = Field(default_factory=list)
    runbook_links: list[dict[str, str]] = Field(
        default_factory=list, description="playbook pages of runbooks run or suggested"
    )


class IncidentAlert(SQLModel, table=True):
    """An alert (by fingerprint) attached to an incident; correlation looks these up."""

    __tablename__ = "incident_alert"
    __table_args__ = (UniqueConstraint("incident_id", "fingerprint", name="uq_incident_alert"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    fingerprint: str = Field(max_length=200, index=True)
    name: str = Field(max_length=300)
    status: str = Field(max_length=16)
    severity: str | None = Field(None, max_length=32)
    labels: dict[str, str] = _json()
    source: str = Field(default="alerts", max_length=100)
    first_fired_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    resolved_at: datetime | None = _ts(default=None)


# -- timeline ------------------------------------------------------------------------------------
class TimelineEventBase(SQLModel):
    kind: str = Field(max_length=40)
    message: str = Field(sa_column=Column(Text, nullable=False))


class TimelineEvent(TimelineEventBase, table=True):
    """One entry of an incident's timeline and of a run's audit trail: when, who, what."""

    __tablename__ = "incident_timeline"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(None, foreign_key="incident.id", index=True)
    run_id: int | None = Field(None, foreign_key="runbook_run.id", index=True)
    at: datetime = _ts()
    author: str = Field(max_length=200)
    data: dict[str, Any] = _json()


class TimelineEventRead(TimelineEventBase):
    id: int
    incident_id: int | None
    run_id: int | None
    at: datetime
    author: str
    data: dict[str, Any]


class NoteCreate(SQLModel):
    message: str = Field(min_length=1, max_length=5000)


# -- runbook runs --------------------------------------------------------------------------------
class RunbookRunBase(SQLModel):
    runbook: str = Field(max_length=60)
    target: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)


class RunbookRun(RunbookRunBase, table=True):
    """A runbook run: its plan, who asked and approved, what changed, and how it ended."""

    __tablename__ = "runbook_run"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=36, unique=True, description="lock token; known before the row exists")
    params: dict[str, Any] = _json()
    plan: dict[str, Any] = _json()
    status: str = Field(default=RunStatus.requested.value, max_length=20, index=True)
    phase: str = Field(default="pending", max_length=20)
    incident_id: int | None = Field(None, foreign_key="incident.id", index=True)
    requested_by: str = Field(max_length=200)
    approved_by: str | None = Field(None, max_length=200)
    rejected_by: str | None = Field(None, max_length=200)
    idempotency_key: str | None = Field(None, max_length=200, unique=True)
    trigger: str = Field(default="user", max_length=20)
    trigger_ref: str | None = Field(None, max_length=300, description="alert fingerprint, rule or user")
    rule: str | None = Field(None, max_length=200, description="the automation policy that matched")
    needs_approval: bool = False
    outcome: str | None = Field(None, sa_column=Column(Text))
    changes: dict[str, Any] = _json()
    verification: dict[str, Any] | None = Field(None, sa_column=Column(JSON, nullable=True))
    requested_at: datetime = _ts()
    approved_at: datetime | None = _ts(default=None)
    started_at: datetime | None = _ts(default=None)
    finished_at: datetime | None = _ts(default=None, index=True)


class RunbookRunCreate(SQLModel):
    target: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    incident_id: int | None = None


class RunbookRunRead(RunbookRunBase):
    id: int
    uid: str
    plan: dict[str, Any]
    status: RunStatus
    phase: str
    incident_id: int | None
    requested_by: str
    approved_by: str | None
    rejected_by: str | None
    idempotency_key: str | None
    trigger: str
    trigger_ref: str | None
    rule: str | None
    needs_approval: bool
    outcome: str | None
    changes: dict[str, Any]
    verification: dict[str, Any] | None
    requested_at: datetime
    approved_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    events: list[TimelineEventRead] = Field(default_factory=list)
    playbook: str | None = None


class RunLock(SQLModel, table=True):
    """The database lock: one row per target while a run holds it (used when Redis is not configured)."""

    __tablename__ = "runbook_lock"

    target: str = Field(primary_key=True, max_length=200)
    token: str = Field(max_length=36)
    expires_at: float
