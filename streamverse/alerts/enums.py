"""Alert states, rule kinds and notification statuses."""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    """Where one alert series is in its life: Prometheus' states plus resolved."""

    inactive = "inactive"
    pending = "pending"
    firing = "firing"
    resolved = "resolved"


class RuleKind(StrEnum):
    """The kinds of rules: three over the metric store, one whose condition another area checks."""

    slo = "slo"
    threshold = "threshold"
    nodata = "nodata"
    external = "external"  # findings reported by another area's check (cost budgets and anomalies)


class NotificationStatus(StrEnum):
    """An outbox row: persisted before sending, marked after."""

    pending = "pending"
    sent = "sent"
    failed = "failed"


class HistoryKind(StrEnum):
    """What an alert history row records."""

    pending = "pending"
    firing = "firing"
    resolved = "resolved"
    acknowledged = "acknowledged"
    ack_cleared = "ack_cleared"
    silenced = "silenced"
    inhibited = "inhibited"
    silence_created = "silence_created"
    silence_expired = "silence_expired"
    notified = "notified"
    notify_failed = "notify_failed"
    reported = "reported"
