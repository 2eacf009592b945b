"""Notifiers (Alertmanager API v2, PagerDuty Events v2, generic webhooks) behind one outbox.

A notification is written (with a unique dedup key) before it is sent and marked after, so a
restart never sends one twice: the same content yields the same key and is skipped.
Failed sends are retried with exponential backoff; the final failure lands in the history.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from streamverse.alerts.config import AlertingConfig, Target
from streamverse.alerts.enums import HistoryKind, NotificationStatus
from streamverse.alerts.evaluator import Alert
from streamverse.alerts.models import AlertHistory, Notification
from streamverse.clock import Clock, utc_iso

Sleeper = Callable[[float], None]
PD_SEVERITY = {
    "page": "critical",
    "critical": "critical",
    "ticket": "warning",
    "warning": "warning",
    "info": "info",
    "error": "error",
}


def _iso(ts: float | None) -> str | None:
    return utc_iso(ts) if ts else None


def alert_json(a: Alert, *, resolved: bool = False) -> dict[str, Any]:
    """An alert as Alertmanager's webhook (and API v2) write it."""
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": _iso(a.fired_at or a.active_at),
        "endsAt": _iso(a.resolved_at) if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": a.fingerprint,
    }


def webhook_payload(
    *, group_key: str, group_labels: dict[str, str], firing: list[Alert], resolved: list[Alert], receiver: str
) -> dict[str, Any]:
    """Alertmanager webhook payload version 4, so anything that reads Alertmanager reads us."""
    alerts = [alert_json(a) for a in firing] + [alert_json(a, resolved=True) for a in resolved]
    common = dict(alerts[0]["labels"]) if alerts else {}
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": alerts,
    }


def alertmanager_payload(firing: list[Alert], resolved: list[Alert]) -> list[dict[str, Any]]:
    """POST /api/v2/alerts body: postable alerts; endsAt in the past resolves them."""
    out = []
    for a, is_resolved in [(x, False) for x in firing] + [(x, True) for x in resolved]:
        item = {
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "startsAt": _iso(a.fired_at or a.active_at),
            "generatorURL": "",
        }
        if is_resolved:
            item["endsAt"] = _iso(a.resolved_at)
        out.append(item)
    return out


def pagerduty_event(
    a: Alert | None,
    action: str,
    routing_key: str,
    *,
    fingerprint: str | None = None,
    summary: str | None = None,
) -> dict[str, Any]:
    """One PagerDuty Events v2 event; dedup_key is the alert's fingerprint so trigger/ack/resolve meet."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": fingerprint or (a.fingerprint if a else ""),
    }
    if action == "trigger" and a is not None:
        body["payload"] = {
            "summary": (summary or a.annotations.get("summary") or a.name)[:1024],
            "source": a.labels.get("region") or a.labels.get("sloth_service") or "streamverse",
            "severity": PD_SEVERITY.get(a.labels.get("severity", ""), "error"),
            "component": a.labels.get("sloth_service") or a.labels.get("service"),
            "custom_details": {"labels": dict(a.labels), "value": a.value},
        }
    return body


class TargetNotifier(ABC):
    """How one kind of target is spoken to: the bodies to POST and where; one class per kind.

    Chosen by name from alerting.yaml's `kind` (`NOTIFIERS`), as slo-generator picks its
    exporters: adding a kind of target adds one class here and touches nothing else.
    """

    kind: ClassVar[str]

    def __init__(self, target: Target) -> None:
        self.target = target

    @abstractmethod
    def requests(self, *, group_key: str, group_labels: dict[str, str], firing: list[Alert],
                 resolved: list[Alert]) -> list[tuple[str, Any]]:
        """(suffix of dedup key, body) pairs for one group's change; "" means one per group."""

    def acknowledge(self, alert: Alert) -> list[tuple[str, Any]]:
        """Bodies telling the target a person took the alert; most targets have no such call."""
        return []

    def endpoint(self) -> str:
        """Where this target's POSTs go."""
        return self.target.url


class WebhookNotifier(TargetNotifier):
    """Alertmanager's webhook payload v4, one POST per group: anything that reads Alertmanager reads us."""

    kind = "webhook"

    def requests(self, *, group_key: str, group_labels: dict[str, str], firing: list[Alert],
                 resolved: list[Alert]) -> list[tuple[str, Any]]:
        """One payload with the group's firing and resolved alerts."""
        return [("", webhook_payload(group_key=group_key, group_labels=group_labels, firing=firing,
                                     resolved=resolved, receiver=self.target.name))]


class AlertmanagerNotifier(TargetNotifier):
    """A real Alertmanager's API v2: it then groups, silences and routes as its users configured."""

    kind = "alertmanager"

    def requests(self, *, group_key: str, group_labels: dict[str, str], firing: list[Alert],
                 resolved: list[Alert]) -> list[tuple[str, Any]]:
        """Postable alerts; endsAt in the past resolves them."""
        return [("", alertmanager_payload(firing, resolved))] if firing or resolved else []

    def endpoint(self) -> str:
        """POST /api/v2/alerts under the configured base URL."""
        return self.target.url.rstrip("/") + "/api/v2/alerts"


class PagerDutyNotifier(TargetNotifier):
    """PagerDuty Events v2: one event per alert, deduplicated by fingerprint so trigger/ack/resolve meet."""

    kind = "pagerduty"

    def requests(self, *, group_key: str, group_labels: dict[str, str], firing: list[Alert],
                 resolved: list[Alert]) -> list[tuple[str, Any]]:
        """A trigger per firing alert, a resolve per resolved one."""
        key = self.target.routing_key
        triggers = [(f"trigger:{a.fingerprint}:{a.fired_at}", pagerduty_event(a, "trigger", key))
                    for a in firing]
        resolves = [(f"resolve:{a.fingerprint}:{a.fired_at}", pagerduty_event(a, "resolve", key))
                    for a in resolved]
        return triggers + resolves

    def acknowledge(self, alert: Alert) -> list[tuple[str, Any]]:
        """PagerDuty stops escalating once someone acknowledged."""
        return [(f"ack:{alert.fingerprint}:{alert.fired_at}",
                 pagerduty_event(alert, "acknowledge", self.target.routing_key))]


NOTIFIERS: dict[str, type[TargetNotifier]] = {
    cls.kind: cls for cls in (WebhookNotifier, AlertmanagerNotifier, PagerDutyNotifier)
}


def notifier_for(target: Target) -> TargetNotifier:
    """The notifier class named by the target's kind."""
    try:
        return NOTIFIERS[target.kind](target)
    except KeyError:
        raise ValueError(f"unknown target kind {target.kind!r}; choose one of {sorted(NOTIFIERS)}") from None


def requests_for(
    target: Target,
    *,
    group_key: str,
    group_labels: dict[str, str],
    firing: list[Alert],
    resolved: list[Alert],
) -> list[tuple[str, Any]]:
    """(suffix of dedup key, body) pairs for a target; resolved alerts only where it wants them."""
    return notifier_for(target).requests(group_key=group_key, group_labels=group_labels, firing=firing,
                                         resolved=resolved if target.send_resolved else [])


class Notifier:
    """Writes notifications to the outbox and delivers them with retries."""

    def __init__(
        self,
        *,
        engine: Engine,
        config: AlertingConfig,
        clock: Clock,
        sleep: Sleeper | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.engine, self.config, self.clock = engine, config, clock
        self.sleep = sleep or time.sleep
        self.transport = transport

    def enqueue(self, *, target: str, dedup: str, payload: Any, group_key: str = "") -> int | None:
        """Persist one notification; None when that exact notification exists already (a restart)."""
        t = self.config.target(target)
        with Session(self.engine) as s:
            row = Notification(
                dedup=f"{target}:{dedup}"[:200],
                target=target,
                kind=t.kind,
                group_key=group_key[:500],
                payload={"body": payload},
                created_at=datetime.fromtimestamp(self.clock.now(), UTC),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return None
            return row.id

    def deliver(self, notification_id: int) -> Notification:
        """Send one pending notification, retrying with backoff; the outcome is stored and in the history."""
        retry = self.config.retry
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.get(Notification, notification_id)
            assert row is not None
            if row.status != NotificationStatus.pending:
                return row
            target = self.config.target(row.target)
            url, body = notifier_for(target).endpoint(), row.payload["body"]
            error = None
            with httpx.Client(timeout=target.timeout, transport=self.transport) as http:
                while row.attempts < retry.attempts:
                    row.attempts += 1
                    try:
                        reply = http.post(url, json=body)
                        if reply.status_code < 300:
                            error = None
                            break
                        error = f"HTTP {reply.status_code}: {reply.text[:200]}"
                        if 400 <= reply.status_code < 500 and reply.status_code != 429:
                            break  # the receiver refuses this body; repeating will not help
                    except httpx.HTTPError as exc:
                        error = f"{type(exc).__name__}: {exc}"[:300]
                    s.add(row)
                    s.commit()
                    if row.attempts < retry.attempts:
                        self.sleep(retry.delay(row.attempts))
            now = datetime.fromtimestamp(self.clock.now(), UTC)
            row.status = NotificationStatus.failed if error else NotificationStatus.sent
            row.last_error, row.sent_at = error, None if error else now
            s.add(row)
            s.add(
                AlertHistory(
                    at=now,
                    kind=HistoryKind.notify_failed if error else HistoryKind.notified,
                    author="notifier",
                    message=(
                        f"{row.target}: failed after {row.attempts} attempts: {error}"
                        if error
                        else f"{row.target}: delivered ({row.attempts} attempt(s))"
                    ),
                    data={"notification_id": row.id, "target": row.target, "group_key": row.group_key},
                )
            )
            s.commit()
            return row

    def pending(self) -> list[int]:
        """Notifications persisted but not yet sent (for example when a crash came between)."""
        from sqlmodel import select

        with Session(self.engine) as s:
            return [
                int(n.id)
                for n in s.exec(
                    select(Notification).where(Notification.status == NotificationStatus.pending.value)
                )
            ]
