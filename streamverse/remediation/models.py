"""Runbook runs and target locks: the remediation area's tables and their API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from streamverse.db import json_column, utc_column
from streamverse.incidents.models import TimelineEventRead
from streamverse.remediation.enums import RunStatus


class RunbookRunBase(SQLModel):
    runbook: str = Field(max_length=60)
    target: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)


class RunbookRun(RunbookRunBase, table=True):
    """A runbook run: its plan, who asked and approved, what changed, and how it ended."""

    __tablename__ = "runbook_run"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=36, unique=True, description="lock token; known before the row exists")
    params: dict[str, Any] = json_column()
    plan: dict[str, Any] = json_column()
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
    changes: dict[str, Any] = json_column()
    verification: dict[str, Any] | None = Field(None, sa_column=Column(JSON, nullable=True))
    requested_at: datetime = utc_column()
    approved_at: datetime | None = utc_column(default=None)
    started_at: datetime | None = utc_column(default=None)
    finished_at: datetime | None = utc_column(default=None, index=True)


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


class RunStop(SQLModel, table=True):
    """A request to stop a gradual run before its next step (the run reads it between steps)."""

    __tablename__ = "runbook_run_stop"

    run_id: int = Field(primary_key=True, foreign_key="runbook_run.id")
    requested_by: str = Field(max_length=200)
    requested_at: datetime = utc_column()


class RunLock(SQLModel, table=True):
    """The database lock: one row per target while a run holds it (used when Redis is not configured)."""

    __tablename__ = "runbook_lock"

    target: str = Field(primary_key=True, max_length=200)
    token: str = Field(max_length=36)
    expires_at: float
