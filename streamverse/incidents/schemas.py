"""The seam with the alerts area: what an alert looks like when it fires or resolves."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AlertEvent(BaseModel):
    """One alert state change, as the alerts area (or an Alertmanager webhook) reports it."""

    fingerprint: str = Field(min_length=1, max_length=200, description="stable id of the alert series")
    name: str = Field(min_length=1, max_length=300, description="alertname")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    severity: str | None = Field(None, description="page, ticket, critical, warning, ... or sevN")
    status: Literal["firing", "resolved"] = "firing"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source: str = Field("alerts", max_length=100, description="alerts, alertmanager, drill, ...")
    inhibited_by: str | None = Field(
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
