"""Grouping, silences, inhibition and acknowledgements, with Alertmanager's timing rules.

A new group waits `group_wait` before its first notification (so alerts that fire together
arrive together); later changes go out at most every `group_interval`; an unchanged group of
firing alerts is repeated every `repeat_interval`. Silenced and inhibited alerts are left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamverse.alerts.config import AlertingConfig, InhibitRule, Route, matches
from streamverse.alerts.enums import AlertStatus
from streamverse.alerts.evaluator import Alert
from streamverse.collectors.selector import Matcher, parse_matcher


@dataclass
class ActiveSilence:
    """A silence as the dispatcher needs it."""

    id: int
    matchers: list[Matcher]
    starts_at: float
    ends_at: float

    def active(self, now: float) -> bool:
        """In its window now (a silence expires by itself)."""
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: dict[str, str], now: float) -> bool:
        """Silences this alert now."""
        return self.active(now) and matches(self.matchers, labels)


def silence_from_row(row: Any) -> ActiveSilence:
    """From the stored Silence."""

    def ts(d: datetime | None) -> float:
        return d.timestamp() if d else 0.0

    return ActiveSilence(
        int(row.id), [parse_matcher(m) for m in row.matchers], ts(row.starts_at), ts(row.ends_at)
    )


@dataclass
class Group:
    """Alerts of one route sharing the group_by label values."""

    key: str
    route_index: int
    labels: dict[str, str]
    created_at: float
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    sent_digest: str = ""
    sent_at: float | None = None
    sent_firing: set[str] = field(default_factory=set)
    repeats: int = 0


@dataclass(frozen=True)
class GroupNotice:
    """A notification to send: a group's visible alerts and the targets of its route."""

    group_key: str
    group_labels: dict[str, str]
    targets: list[str]
    firing: list[Alert]
    resolved: list[Alert]
    digest: str
    repeat: int
    at: float


def inhibited(alert: Alert, firing: Iterable[Alert], rules: list[InhibitRule]) -> bool:
    """A firing source alert mutes this one (a page mutes the ticket for the same SLO)."""
    return any(
        r.inhibits(src.labels, alert.labels)
        for src in firing
        for r in rules
        if src.fingerprint != alert.fingerprint
    )


def inhibiting(alert: Alert, firing: Iterable[Alert], rules: list[InhibitRule]) -> str | None:
    """The name of a firing alert that inhibits this one, if any (for the incident's record)."""
    for src in firing:
        if src.fingerprint != alert.fingerprint and any(r.inhibits(src.labels, alert.labels) for r in rules):
            return src.name
    return None


class Dispatcher:
    """Routes alerts into groups and decides when each group is notified."""

    def __init__(self, config: AlertingConfig) -> None:
        self.config = config
        self.groups: dict[str, Group] = {}

    def _routes(self, labels: dict[str, str]) -> list[tuple[int, Route]]:
        out = []
        for i, route in enumerate(self.config.routes):
            if matches(route.matchers(), labels):
                out.append((i, route))
                if not route.continue_:
                    break
        return out

    def add(self, alert: Alert, now: float) -> None:
        """A firing or resolved alert enters (or updates) its groups."""
        for i, route in self._routes(alert.labels):
            glabels = {k: alert.labels.get(k, "") for k in route.group_by}
            key = f"{i}:" + ",".join(f"{k}={v}" for k, v in sorted(glabels.items()))
            g = self.groups.get(key)
            if g is None:
                if alert.status != AlertStatus.firing:
                    continue  # a resolved alert never notified needs no group
                g = self.groups[key] = Group(key, i, glabels, now, now + route.group_wait)
            g.alerts[alert.fingerprint] = alert

    def flush(self, now: float, *, muted: Callable[[Alert], bool]) -> list[GroupNotice]:
        """Notices due now; resolved alerts leave their group once announced."""
        out = []
        for key, g in list(self.groups.items()):
            if now < g.next_flush:
                continue
            route = self.config.routes[g.route_index]
            firing = sorted(
                (a for a in g.alerts.values() if a.status == AlertStatus.firing and not muted(a)),
                key=lambda a: a.fingerprint,
            )
            resolved = sorted(
                (
                    a
                    for a in g.alerts.values()
                    if a.status == AlertStatus.resolved and a.fingerprint in g.sent_firing
                ),
                key=lambda a: a.fingerprint,
            )
            fps = {a.fingerprint for a in firing}
            digest = hashlib.sha256(
                "|".join(
                    [f"F{a.fingerprint}@{a.fired_at}" for a in firing]
                    + [f"R{a.fingerprint}" for a in resolved]
                ).encode()
            ).hexdigest()[:16]
            changed = fps != g.sent_firing or bool(resolved)
            unacked = [a for a in firing if not a.acked_by]
            repeat_due = bool(unacked) and g.sent_at is not None and now - g.sent_at >= route.repeat_interval
            if (changed and (firing or resolved)) or repeat_due:
                g.repeats = 0 if changed else g.repeats + 1
                out.append(
                    GroupNotice(key, g.labels, list(route.targets), firing, resolved, digest, g.repeats, now)
                )
                g.sent_digest, g.sent_at, g.sent_firing = digest, now, fps
            g.next_flush = now + route.group_interval
            for a in [a for a in g.alerts.values() if a.status == AlertStatus.resolved]:
                del g.alerts[a.fingerprint]
            if not g.alerts:
                del self.groups[key]
        return out
