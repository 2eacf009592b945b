"""The alerting loop (evaluate, persist, group, notify, hand to incidents) and plain service functions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    AlertEvent,
    AlertHandler,
    AlertHistory,
    AlertState,
    ExternalFinding,
    ExternalReport,
    Silence,
    SilenceCreate,
)
from streamverse.alerts.notify import Notifier, pagerduty_event, requests_for
from streamverse.alerts.rules import Rule
from streamverse.clock import Clock
from streamverse.collectors.selector import parse_matcher
from streamverse.db import session_scope
from streamverse.durations import parse_duration
from streamverse.errors import UsageError

log = logging.getLogger("streamverse.alerts")



def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _ts(d: datetime | None) -> float | None:
    if d is None:
        return None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def record(
    *,
    session: Session,
    kind: HistoryKind | str,
    at: float,
    message: str,
    author: str = "alerts",
    fingerprint: str | None = None,
    name: str | None = None,
    **data: Any,
) -> AlertHistory:
    """One history row."""
    row = AlertHistory(
        at=_dt(at),
        kind=str(kind),
        fingerprint=fingerprint,
        name=name,
        author=author,
        message=message,
        data=data,
    )
    session.add(row)
    return row


def event_of(alert: Alert, *, source: str = "alerts") -> AlertEvent:
    """The incidents area's view of an alert state change."""
    resolved = alert.status == AlertStatus.resolved
    return AlertEvent(
        fingerprint=alert.fingerprint,
        name=alert.name,
        labels=alert.labels,
        annotations=alert.annotations,
        severity=alert.labels.get("severity"),
        status="resolved" if resolved else "firing",
        starts_at=_dt(alert.fired_at or alert.active_at),
        ends_at=_dt(alert.resolved_at) if resolved else None,
        source=source,
    )


# -- plain service functions ---------------------------------------------------------------------
def list_alerts(*, session: Session, status: str | None = None, limit: int = 500) -> list[AlertState]:
    """Alert states, newest change first."""
    stmt = select(AlertState)
    if status:
        stmt = stmt.where(AlertState.status == status)
    return list(session.exec(stmt.order_by(col(AlertState.updated_at).desc()).limit(limit)))


def history(
    *,
    session: Session,
    fingerprint: str | None = None,
    name: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> list[AlertHistory]:
    """What happened to alerts, silences and notifications, newest first."""
    stmt = select(AlertHistory)
    if fingerprint:
        stmt = stmt.where(AlertHistory.fingerprint == fingerprint)
    if name:
        stmt = stmt.where(AlertHistory.name == name)
    if kind:
        stmt = stmt.where(AlertHistory.kind == kind)
    if since:
        stmt = stmt.where(col(AlertHistory.at) >= since)
    return list(session.exec(stmt.order_by(col(AlertHistory.id).desc()).limit(limit)))


def ack(*, session: Session, fingerprint: str, author: str, clock: Clock) -> AlertState | None:
    """Acknowledge a firing alert; the acknowledgement clears when the alert resolves."""
    row = session.get(AlertState, fingerprint)
    if row is None:
        return None
    if row.status != AlertStatus.firing:
        raise UsageError(f"alert {fingerprint} is {row.status}; only a firing alert can be acknowledged")
    row.acked_by, row.acked_at = author, _dt(clock.now())
    session.add(row)
    record(
        session=session,
        kind=HistoryKind.acknowledged,
        at=clock.now(),
        author=author,
        fingerprint=fingerprint,
        name=row.name,
        message=f"acknowledged by {author}",
    )
    return row


def create_silence(*, session: Session, silence_in: SilenceCreate, author: str, clock: Clock) -> Silence:
    """A silence; its creation is announced in the history (and to webhook targets by the loop)."""
    now = clock.now()
    try:
        [parse_matcher(m) for m in silence_in.matchers]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not silence_in.matchers:
        raise UsageError('a silence needs at least one matcher, e.g. alertname="PopDown"')
    start = _ts(silence_in.starts_at) or now
    if silence_in.ends_at is not None:
        end = _ts(silence_in.ends_at)
    elif silence_in.duration:
        end = start + parse_duration(silence_in.duration)
    else:
        raise UsageError("give the silence an end: `ends_at` or `duration` such as 2h")
    assert end is not None
    if end <= start:
        raise UsageError("a silence must end after it starts")
    row = Silence(
        matchers=list(silence_in.matchers),
        starts_at=_dt(start),
        ends_at=_dt(end),
        comment=silence_in.comment,
        author=author,
        created_at=_dt(now),
    )
    session.add(row)
    session.flush()
    record(
        session=session,
        kind=HistoryKind.silence_created,
        at=now,
        author=author,
        message=f"silence {row.id} created: {', '.join(row.matchers)} until {row.ends_at.isoformat()}",
        silence_id=row.id,
        matchers=row.matchers,
        comment=row.comment,
    )
    return row


def expire_silence(*, session: Session, silence_id: int, author: str, clock: Clock) -> Silence | None:
    """End a silence now (announced like a natural expiry)."""
    row = session.get(Silence, silence_id)
    if row is None:
        return None
    now = clock.now()
    if (_ts(row.ends_at) or 0) > now:
        row.ends_at = _dt(now)
        row.expired_announced = True
        session.add(row)
        record(
            session=session,
            kind=HistoryKind.silence_expired,
            at=now,
            author=author,
            message=f"silence {row.id} expired by {author}",
            silence_id=row.id,
        )
    return row


def list_silences(*, session: Session, include_expired: bool = False, clock: Clock) -> list[Silence]:
    """Silences, newest first."""
    rows = list(session.exec(select(Silence).order_by(col(Silence.id).desc())))
    now = clock.now()
    return rows if include_expired else [r for r in rows if (_ts(r.ends_at) or 0) > now]


def report_findings(
    *,
    session: Session,
    source: str,
    findings: Sequence[ExternalFinding | dict[str, Any]],
    at: float,
    ttl_s: float,
) -> ExternalReport:
    """Replace what `source` found (held as alerts for `ttl_s` unless reported again); history notes changes.

    The alert loop turns the findings into alerts on its next cycle, wherever the check ran.
    """
    if ttl_s <= 0:
        raise UsageError(f"a report must hold for a positive time, got ttl_s={ttl_s}")
    parsed = [external.parse_finding(f) for f in findings]
    row = session.get(ExternalReport, source)
    before = {str(d.get("fingerprint")) for d in row.findings} if row is not None else set()
    stored = [{**f.model_dump(), "fingerprint": external.fingerprint_of(f, source)} for f in parsed]
    after = {str(d["fingerprint"]) for d in stored}
    if row is None:
        row = ExternalReport(source=source, reported_at=_dt(at), expires_at=_dt(at + ttl_s))
    row.reported_at, row.expires_at, row.findings = _dt(at), _dt(at + ttl_s), stored
    session.add(row)
    if after != before:
        names = sorted({f.labels["alertname"] for f in parsed})
        message = f"{source} reported {len(parsed)} finding(s)"
        if names:
            message += ": " + ", ".join(names)
        record(
            session=session,
            kind=HistoryKind.reported,
            at=at,
            author=source,
            message=message,
            source=source,
            fingerprints=sorted(after),
            gone=sorted(before - after),
        )
    return row


def list_reports(*, session: Session) -> list[ExternalReport]:
    """The latest report of every checker."""
    return list(session.exec(select(ExternalReport).order_by(col(ExternalReport.source))))


# -- the loop ------------------------------------------------------------------------------------
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
        store: Any,
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
                _ts(r.active_at) or 0.0,
                None,
                r.value,
                _ts(r.fired_at),
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
        row.active_at, row.fired_at, row.resolved_at = _dt(a.active_at), _dt(a.fired_at), _dt(a.resolved_at)
        row.updated_at = _dt(tr.at)
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
        for t in self.config.targets:
            if t.kind == "pagerduty":
                nid = self.notifier.enqueue(
                    target=t.name,
                    dedup=f"ack:{a.fingerprint}:{a.fired_at}",
                    payload=pagerduty_event(a, "acknowledge", t.routing_key),
                )
                if nid:
                    self.spawn(lambda nid=nid: self.notifier.deliver(nid))
