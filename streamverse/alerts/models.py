"""Alert tables (current state per fingerprint, history, silences, the notification outbox) and
the AlertEvent that incidents and remediation consume."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), **kw))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON))


class AlertRule(SQLModel, table=True):
    """A rule as loaded (kept so history can name where a rule came from)."""

    __tablename__ = "alert_rules"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=300)
    kind: str = Field(max_length=20)
    expr: str = ""
    spec: dict[str, Any] = _json()


class AlertState(SQLModel, table=True):
    """The present state of one alert series (a rule plus one label set)."""

    __tablename__ = "alert_states"
    fingerprint: str = Field(primary_key=True, max_length=64)
    name: str = Field(index=True, max_length=300)
    labels: dict[str, Any] = _json()
    annotations: dict[str, Any] = _json()
    status: str = Field(index=True, max_length=20)
    value: float | None = None
    active_at: datetime | None = _ts(nullable=True)
    fired_at: datetime | None = _ts(nullable=True)
    resolved_at: datetime | None = _ts(nullable=True)
    acked_by: str | None = Field(default=None, max_length=200)
    acked_at: datetime | None = _ts(nullable=True)
    updated_at: datetime | None = _ts(nullable=True)


class AlertStateRead(SQLModel):
    """An alert as the API shows it."""

    fingerprint: str
    name: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    status: str
    value: float | None = None
    active_at: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    silenced_by: list[int] = []
    inhibited: bool = False


class AlertHistory(SQLModel, table=True):
    """One thing that happened to an alert, a silence or a notification."""

    __tablename__ = "alert_history"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(nullable=False, index=True)
    kind: str = Field(index=True, max_length=30)
    fingerprint: str | None = Field(default=None, index=True, max_length=64)
    name: str | None = Field(default=None, index=True, max_length=300)
    author: str = Field(default="alerts", max_length=200)
    message: str = ""
    data: dict[str, Any] = _json()


class SilenceBase(SQLModel):
    """Matchers plus a time window; matching alerts are not notified."""

    matchers: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    starts_at: datetime | None = _ts(nullable=True)
    ends_at: datetime = _ts(nullable=False)
    comment: str = ""


class Silence(SilenceBase, table=True):
    """A stored silence; `expired_announced` makes its expiry announced once."""

    __tablename__ = "alert_silences"
    id: int | None = Field(default=None, primary_key=True)
    author: str = Field(max_length=200)
    created_at: datetime = _ts(nullable=False)
    expired_announced: bool = False


class SilenceCreate(SQLModel):
    """What a responder sends to silence alerts."""

    matchers: list[str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration: str | None = None
    comment: str = ""


class SilenceRead(SilenceBase):
    """A silence as the API shows it."""

    id: int
    author: str
    created_at: datetime
    active: bool = False


class Notification(SQLModel, table=True):
    """The outbox: one message to one target, written before it is sent and marked after."""

    __tablename__ = "alert_notifications"
    __table_args__ = (UniqueConstraint("dedup", name="uq_alert_notification_dedup"),)
    id: int | None = Field(default=None, primary_key=True)
    dedup: str = Field(max_length=200)
    target: str = Field(index=True, max_length=200)
    kind: str = Field(max_length=30)
    group_key: str = Field(default="", max_length=500)
    payload: dict[str, Any] = _json()
    attempts: int = 0
    status: str = Field(default="pending", index=True, max_length=20)
    last_error: str | None = None
    created_at: datetime = _ts(nullable=False)
    sent_at: datetime | None = _ts(nullable=True)


class WebhookDelivery(SQLModel, table=True):
    """An Alertmanager webhook already received, so a repeated delivery is recognised."""

    __tablename__ = "alert_webhook_deliveries"
    digest: str = Field(primary_key=True, max_length=64)
    group_key: str = Field(default="", max_length=500)
    received_at: datetime = _ts(nullable=False)
    incident_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON))


class ExternalReport(SQLModel, table=True):
    """The latest findings one checker (e.g. the cost check) reported; held as alert conditions.

    Kept in the database, not in the evaluator, so a check run from the CLI or the API reaches the
    live loop, and a restart of the loop neither loses nor flaps alerts whose check has not rerun.
    """

    __tablename__ = "alert_external_reports"
    source: str = Field(primary_key=True, max_length=100)
    reported_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False, index=True)
    findings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))


class ExternalFinding(SQLModel):
    """One condition a checker found; its labels (alertname included) identify the alert series."""

    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    value: float | None = None
    for_s: float = Field(0.0, ge=0)
    incident: bool = True  # False: notify only, never open an incident


# -- the event other areas consume ---------------------------------------------------------
class AlertEvent(BaseModel):
    """One alert state change, as the alerts area (or an Alertmanager webhook) reports it."""

    fingerprint: str = PydanticField(min_length=1, max_length=200,
                                     description="stable id of the alert series")
    name: str = PydanticField(min_length=1, max_length=300, description="alertname")
    labels: dict[str, str] = PydanticField(default_factory=dict)
    annotations: dict[str, str] = PydanticField(default_factory=dict)
    severity: str | None = PydanticField(None, description="page, ticket, critical, warning, ... or sevN")
    status: Literal["firing", "resolved"] = "firing"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source: str = PydanticField("alerts", max_length=100, description="alerts, alertmanager, drill, ...")
    inhibited_by: str | None = PydanticField(
        None, max_length=300, description="the firing alert that inhibits this one; automation only suggests")

    @property
    def service(self) -> str | None:
        """The affected service, from the usual labels."""
        return self.labels.get("service") or self.labels.get("sloth_service") or self.labels.get("job")

    @property
    def region(self) -> str | None:
        """The affected region, when the alert has one."""
        return self.labels.get("region")

    @property
    def effective_severity(self) -> str | None:
        """Severity given directly, else the label Prometheus rules carry."""
        return self.severity or self.labels.get("severity") or self.labels.get("sloth_severity")


AlertHandler = Callable[[AlertEvent], "int | None"]
"""Who takes alert events (the composition root wires incidents and remediation): returns the incident id."""
