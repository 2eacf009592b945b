"""Alertmanager webhook payloads (version 4): validation and recognition of repeated deliveries."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from streamverse.alerts.models import AlertEvent

ZERO_TIME = "0001-01-01T00:00:00Z"


class AmAlert(BaseModel):
    """One alert in the payload."""

    model_config = ConfigDict(extra="allow")
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 - Alertmanager's field names
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""


class AmPayload(BaseModel):
    """The webhook body Alertmanager sends."""

    model_config = ConfigDict(extra="allow")
    version: Literal["4"]
    groupKey: str  # noqa: N815
    truncatedAlerts: int = 0  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    alerts: list[AmAlert]


def digest(raw: bytes) -> str:
    """Identity of a delivery: the same body delivered twice has the same digest."""
    try:
        canon = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canon = raw
    return hashlib.sha256(canon).hexdigest()


def events(payload: AmPayload) -> list[AlertEvent]:
    """The alert events the payload carries."""
    out = []
    for a in payload.alerts:
        fp = a.fingerprint or hashlib.sha256(json.dumps(a.labels, sort_keys=True).encode()).hexdigest()[:16]
        ends = a.endsAt if a.endsAt and a.endsAt.year > 1 and a.status == "resolved" else None
        out.append(
            AlertEvent(
                fingerprint=f"am:{fp}",
                name=a.labels.get("alertname", "alertmanager"),
                labels=a.labels,
                annotations=a.annotations,
                severity=a.labels.get("severity"),
                status=a.status,
                starts_at=a.startsAt,
                ends_at=ends,
                source="alertmanager",
            )
        )
    return out
