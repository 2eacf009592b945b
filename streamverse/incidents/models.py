"""Incident tables (incident, its alerts, timeline) and their API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from streamverse.db import json_column, utc_column
from streamverse.incidents.enums import IncidentStatus, Severity


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
    roles: dict[str, str] = json_column()
    created_by: str = Field(max_length=200)
    description: str | None = Field(None, sa_column=Column(Text))
    started_at: datetime = utc_column()
    acknowledged_at: datetime | None = utc_column(default=None)
    mitigated_at: datetime | None = utc_column(default=None)
    resolved_at: datetime | None = utc_column(default=None)
    postmortem_at: datetime | None = utc_column(default=None)
    updated_at: datetime = utc_column()
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
    labels: dict[str, str] = json_column()
    source: str = Field(default="alerts", max_length=100)
    first_fired_at: datetime = utc_column()
    last_seen_at: datetime = utc_column()
    resolved_at: datetime | None = utc_column(default=None)


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
    at: datetime = utc_column()
    author: str = Field(max_length=200)
    data: dict[str, Any] = json_column()


class TimelineEventRead(TimelineEventBase):
    id: int
    incident_id: int | None
    run_id: int | None
    at: datetime
    author: str
    data: dict[str, Any]


class NoteCreate(SQLModel):
    message: str = Field(min_length=1, max_length=5000)
