"""Plain service functions over the alerts tables: list, history, ack, silences, external findings.

The evaluation loop that writes them lives in `alerts.loop`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from streamverse.alerts import external
from streamverse.alerts.enums import AlertStatus, HistoryKind
from streamverse.alerts.evaluator import Alert
from streamverse.alerts.models import (
    AlertEvent,
    AlertHistory,
    AlertState,
    ExternalFinding,
    ExternalReport,
    Silence,
    SilenceCreate,
)
from streamverse.clock import Clock
from streamverse.collectors.selector import parse_matcher
from streamverse.durations import parse_duration
from streamverse.errors import UsageError

log = logging.getLogger("streamverse.alerts")



def dt_of(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def ts_of(d: datetime | None) -> float | None:
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
        at=dt_of(at),
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
        starts_at=dt_of(alert.fired_at or alert.active_at),
        ends_at=dt_of(alert.resolved_at) if resolved else None,
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
    row.acked_by, row.acked_at = author, dt_of(clock.now())
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
    start = ts_of(silence_in.starts_at) or now
    if silence_in.ends_at is not None:
        end = ts_of(silence_in.ends_at)
    elif silence_in.duration:
        end = start + parse_duration(silence_in.duration)
    else:
        raise UsageError("give the silence an end: `ends_at` or `duration` such as 2h")
    assert end is not None
    if end <= start:
        raise UsageError("a silence must end after it starts")
    row = Silence(
        matchers=list(silence_in.matchers),
        starts_at=dt_of(start),
        ends_at=dt_of(end),
        comment=silence_in.comment,
        author=author,
        created_at=dt_of(now),
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
    if (ts_of(row.ends_at) or 0) > now:
        row.ends_at = dt_of(now)
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
    return rows if include_expired else [r for r in rows if (ts_of(r.ends_at) or 0) > now]


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
        row = ExternalReport(source=source, reported_at=dt_of(at), expires_at=dt_of(at + ttl_s))
    row.reported_at, row.expires_at, row.findings = dt_of(at), dt_of(at + ttl_s), stored
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
