"""States of incidents and runbook runs; transitions live in service.py and flows.py."""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    """An incident moves forward only: triggered -> acknowledged -> mitigated -> resolved -> postmortem."""

    triggered = "triggered"
    acknowledged = "acknowledged"
    mitigated = "mitigated"
    resolved = "resolved"
    postmortem = "postmortem"


OPEN_STATUSES = (IncidentStatus.triggered, IncidentStatus.acknowledged, IncidentStatus.mitigated)


class Severity(StrEnum):
    """sev1 pages everyone; sev4 is a ticket for working hours."""

    sev1 = "sev1"
    sev2 = "sev2"
    sev3 = "sev3"
    sev4 = "sev4"

    @classmethod
    def from_alert(cls, value: str | None) -> Severity:
        """Map alert severities (page/critical/ticket/warning/info or sevN) onto incident severities."""
        v = (value or "").lower()
        if v in cls.__members__:
            return cls(v)
        return {
            "page": cls.sev1,
            "critical": cls.sev1,
            "high": cls.sev2,
            "error": cls.sev2,
            "ticket": cls.sev3,
            "warning": cls.sev3,
            "medium": cls.sev3,
        }.get(v, cls.sev4)

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[-1])


class TimelineKind(StrEnum):
    """What a timeline entry records."""

    alert_fired = "alert_fired"
    alert_resolved = "alert_resolved"
    status_changed = "status_changed"
    note = "note"
    role_assigned = "role_assigned"
    action_suggested = "action_suggested"
    action_planned = "action_planned"
    action_awaiting_approval = "action_awaiting_approval"
    action_approved = "action_approved"
    action_rejected = "action_rejected"
    action_ran = "action_ran"
    action_verified = "action_verified"
    action_failed = "action_failed"
    action_rolled_back = "action_rolled_back"
    action_stopped = "action_stopped"
    action_reconciled = "action_reconciled"
