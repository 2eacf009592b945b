"""The alerting loop: evaluate rules on the store, persist transitions, group and notify,
and hand every firing or resolved alert to the alert handler (incidents and remediation,
wired by the composition root). One `cycle()` per evaluation interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from streamverse.alerts import external
from streamverse.alerts.config import AlertingConfig
from streamverse.alerts.enums import AlertStatus, HistoryKind
from streamverse.alerts.evaluator import Alert, Evaluator, Transition
from streamverse.alerts.grouping import (
    ActiveSilence,
    Dispatcher,
    GroupNotice,
    inhibited,
    inhibiting,
    silence_from_row,
)
from streamverse.alerts.models import (
    AlertHandler,
    AlertHistory,
    AlertState,
    ExternalReport,
    Silence,
)
from streamverse.alerts.notify import Notifier, notifier_for, requests_for
from streamverse.alerts.rules import Rule
from streamverse.alerts.service import dt_of, event_of, record, ts_of
from streamverse.clock import Clock
from streamverse.db import session_scope
from streamverse.metricstore import MetricStore

log = logging.getLogger("streamverse.alerts")


@dataclass
class CycleResult:
    """What one cycle did."""

    at: float
    transitions: list[Transition] = field(default_factory=list)
    notices: list[GroupNotice] = field(default_factory=list)
    notifications: list[int] = field(default_factory=list)
    wall_s: float = 0.0


class AlertService:
    """One evaluation cycle at a time: rules -> states -> history -> groups -> outbox -> incidents."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: MetricStore,
        clock: Clock,
        rules: Sequence[Rule],
        config: AlertingConfig,
        on_alert: AlertHandler | None = None,
        spawn: Callable[[Callable[[], Any]], Any] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.engine, self.clock, self.config = engine, clock, config
        self.evaluator = Evaluator(rules, store)
        self.dispatcher = Dispatcher(config)
        self.notifier = notifier or Notifier(engine=engine, config=config, clock=clock)
        self.on_alert = on_alert
        self.spawn = spawn or (lambda fn: fn())
        self._restore()
        for nid in self.notifier.pending():  # persisted before a crash, never marked: send now
            self.spawn(lambda nid=nid: self.notifier.deliver(nid))

    def _restore(self) -> None:
        with Session(self.engine) as s:
            rows = list(
                s.exec(
                    select(AlertState).where(
                        col(AlertState.status).in_([AlertStatus.pending.value, AlertStatus.firing.value])
                    )
                )
            )
        alerts = [
            Alert(
                r.fingerprint,
                r.name,
                dict(r.labels),
                dict(r.annotations),
                AlertStatus(r.status),
                ts_of(r.active_at) or 0.0,
                None,
                r.value,
                ts_of(r.fired_at),
                None,
                r.acked_by,
            )
            for r in rows
        ]
        self.evaluator.restore(alerts)
        now = self.clock.now()
        for a in alerts:
            if a.status == AlertStatus.firing:
                self.dispatcher.add(a, now)

    def _silences(self, s: Session, now: float) -> list[ActiveSilence]:
        out = []
        for row in s.exec(select(Silence).where(Silence.expired_announced == False)):  # noqa: E712
            sil = silence_from_row(row)
            if sil.ends_at <= now:
                row.expired_announced = True
                s.add(row)
                record(
                    session=s,
                    kind=HistoryKind.silence_expired,
                    at=now,
                    author="alerts",
                    message=f"silence {row.id} expired ({', '.join(row.matchers)})",
                    silence_id=row.id,
                )
                self._later.append(
                    (f"silence {row.id} expired", {"silence_id": row.id, "matchers": row.matchers})
                )
            else:
                out.append(sil)
        for h in s.exec(
            select(AlertHistory)
            .where(AlertHistory.kind == HistoryKind.silence_created.value)
            .where(col(AlertHistory.id) > getattr(self, "_last_created", 0))
        ):
            self._last_created = int(h.id)
            self._later.append((h.message, dict(h.data)))
        return out

    def _announce(self, message: str, data: dict[str, Any]) -> None:
        for t in self.config.targets:
            if t.kind == "webhook":
                nid = self.notifier.enqueue(
                    target=t.name,
                    dedup=f"announce:{message}",
                    payload={
                        "version": "4",
                        "status": "announcement",
                        "message": message,
                        "data": data,
                        "alerts": [],
                    },
                )
                if nid:
                    self.spawn(lambda nid=nid: self.notifier.deliver(nid))

    def cycle(self) -> CycleResult:
        """Evaluate every rule now and act on what changed."""
        import time as _time

        t0 = _time.perf_counter()
        now = self.clock.now()
        self._hold_reported(now)
        res = CycleResult(at=now, transitions=self.evaluator.cycle(now))
        self._later: list[tuple[str, dict[str, Any]]] = []
        to_ack: list[Alert] = []
        with session_scope(self.engine) as s:
            silences = self._silences(s, now)
            acks = {
                r.fingerprint: r.acked_by
                for r in s.exec(select(AlertState).where(col(AlertState.acked_by).is_not(None)))
            }
            for tr in res.transitions:
                self._persist(s, tr)
            for a in self.evaluator.alerts.values():
                if a.status == AlertStatus.firing and acks.get(a.fingerprint) and not a.acked_by:
                    a.acked_by = acks[a.fingerprint]
                    to_ack.append(a)
        for message, data in self._later:
            self._announce(message, data)
        for a in to_ack:
            self._pd_ack(a)
        for tr in res.transitions:
            if tr.to in (AlertStatus.firing, AlertStatus.resolved):
                self.dispatcher.add(tr.alert, now)
        firing = self.evaluator.firing()

        def muted(a: Alert) -> bool:
            return any(sil.mutes(a.labels, now) for sil in silences) or inhibited(
                a, firing, self.config.inhibit_rules
            )

        res.notices = self.dispatcher.flush(now, muted=muted)
        for notice in res.notices:
            res.notifications.extend(self._send(notice))
        if self.on_alert is not None:
            for tr in res.transitions:
                if tr.alert.rule is not None and not tr.alert.rule.incident:
                    continue  # notify-only alerts (cost findings) open no incident
                if tr.to in (AlertStatus.firing, AlertStatus.resolved):
                    try:
                        event = event_of(tr.alert)
                        if tr.to == AlertStatus.firing:  # e.g. OriginDown holds the region failovers
                            event.inhibited_by = inhibiting(tr.alert, firing, self.config.inhibit_rules)
                        self.on_alert(event)
                    except Exception:  # noqa: BLE001 - incidents failing must not stop alerting
                        log.exception("incident hook failed for %s", tr.alert.name)
        res.wall_s = _time.perf_counter() - t0
        return res

    def _hold_reported(self, now: float) -> None:
        """Findings other areas reported (the cost check), as conditions for this cycle."""
        try:
            with Session(self.engine) as s:
                reports = list(s.exec(select(ExternalReport)))
        except SQLAlchemyError:  # keep what was held; the next cycle retries
            log.warning("cannot read reported findings; keeping the previous ones", exc_info=True)
            return
        self.evaluator.hold_external(external.conditions(reports, now))

    def _persist(self, s: Session, tr: Transition) -> None:
        a = tr.alert
        row = s.get(AlertState, a.fingerprint) or AlertState(
            fingerprint=a.fingerprint, name=a.name, status=""
        )
        row.labels, row.annotations, row.status, row.value = a.labels, a.annotations, tr.to.value, a.value
        row.active_at, row.fired_at = dt_of(a.active_at), dt_of(a.fired_at)
        row.resolved_at = dt_of(a.resolved_at)
        row.updated_at = dt_of(tr.at)
        if tr.to == AlertStatus.resolved and row.acked_by:
            record(
                session=s,
                kind=HistoryKind.ack_cleared,
                at=tr.at,
                fingerprint=a.fingerprint,
                name=a.name,
                message=f"acknowledgement by {row.acked_by} cleared: the alert resolved",
            )
            row.acked_by, row.acked_at, a.acked_by = None, None, None
        s.add(row)
        if tr.to != AlertStatus.inactive:
            record(
                session=s,
                kind=tr.to.value,
                at=tr.at,
                fingerprint=a.fingerprint,
                name=a.name,
                message=f"{a.name} {tr.to.value}",
                labels=a.labels,
                value=a.value,
            )

    def _send(self, notice: GroupNotice) -> list[int]:
        out = []
        for name in notice.targets:
            target = self.config.target(name)
            for suffix, body in requests_for(
                target,
                group_key=notice.group_key,
                group_labels=notice.group_labels,
                firing=notice.firing,
                resolved=notice.resolved,
            ):
                dedup = suffix or f"{notice.group_key}:{notice.digest}:{notice.repeat}"
                nid = self.notifier.enqueue(
                    target=name, dedup=dedup, payload=body, group_key=notice.group_key
                )
                if nid is not None:
                    out.append(nid)
                    self.spawn(lambda nid=nid: self.notifier.deliver(nid))
        return out

    def _pd_ack(self, a: Alert) -> None:
        """Tell every target that has an acknowledge call (PagerDuty) that a person took the alert."""
        for t in self.config.targets:
            for dedup, body in notifier_for(t).acknowledge(a):
                nid = self.notifier.enqueue(target=t.name, dedup=dedup, payload=body)
                if nid:
                    self.spawn(lambda nid=nid: self.notifier.deliver(nid))
