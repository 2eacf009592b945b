"""What every step of a runbook run shares: settings, the database, the clock, the platform client,
and the run's audit trail (each step lands on the run's events and its incident's timeline).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select, update

from streamverse.clock import Clock, VirtualClock
from streamverse.db import session_scope
from streamverse.incidents import service
from streamverse.incidents.enums import IncidentStatus, TimelineKind
from streamverse.incidents.models import Incident
from streamverse.remediation.control import ControlClient, PlatformControl
from streamverse.remediation.enums import RunPhase, RunStatus
from streamverse.remediation.guardrails import GuardrailConfig, TargetLock, make_lock
from streamverse.remediation.models import RunbookRun, RunStop
from streamverse.settings import Settings

SliProbe = Callable[[str], float | None]
Sleeper = Callable[[float], None]
Spawner = Callable[[Callable[[], Any]], None]


def sleeper_for(clock: Clock) -> Sleeper:
    """Waiting that matches the clock: real sleeps live, virtual time jumps in fast-forward."""
    if isinstance(clock, VirtualClock):
        return clock.advance
    return time.sleep


def spawn_thread(fn: Callable[[], Any]) -> None:
    """Run a run's execution in the background so the API answers at once."""
    threading.Thread(target=fn, daemon=True, name="runbook-run").start()


def now_dt(clock: Clock) -> datetime:
    """The clock's now as an aware UTC datetime, for the tables."""
    return datetime.fromtimestamp(clock.now(), UTC)


class RunContext:
    """The shared state of the four jobs (requests, execution, reconciliation, automation)."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        config: GuardrailConfig | None = None,
        lock: TargetLock | None = None,
        client_factory: Callable[[], PlatformControl] | None = None,
        sli_probe: SliProbe | None = None,
        sleep: Sleeper | None = None,
        spawn: Spawner | None = None,
        verify_window_s: float = 60.0,
        verify_interval_s: float = 5.0,
        tolerance: float = 0.02,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.config = config or GuardrailConfig.from_settings(settings)
        self.lock = lock or make_lock(settings, engine, clock)
        self.client_factory = client_factory or (lambda: ControlClient.from_settings(settings))
        self.sli_probe = sli_probe
        self.sleep = sleep or sleeper_for(clock)
        self.spawn = spawn or spawn_thread
        self.verify_window_s = verify_window_s
        self.verify_interval_s = verify_interval_s
        self.tolerance = tolerance

    def event(
        self, s: Session, run: RunbookRun, kind: TimelineKind, message: str, author: str, **data: Any
    ) -> None:
        service.add_event(
            session=s,
            kind=kind,
            message=f"{run.runbook} on {run.target}: {message}",
            author=author,
            incident_id=run.incident_id,
            run_id=run.id,
            data=data,
            clock=self.clock,
        )

    def get(self, run_id: int) -> RunbookRun | None:
        """One run by id."""
        with Session(self.engine, expire_on_commit=False) as s:
            return s.get(RunbookRun, run_id)

    def by(self, s: Session, **where: Any) -> RunbookRun | None:
        stmt = select(RunbookRun)
        for k, v in where.items():
            stmt = stmt.where(getattr(RunbookRun, k) == v)
        return s.exec(stmt).first()

    @staticmethod
    def move(s: Session, run_id: int, expected: RunStatus, **values: Any) -> bool:
        """Set `values` only if the run is still in `expected` (compare-and-set); False when it moved on.

        Every status change that must happen once (approve, reject, claim for execution) goes
        through this, so two people or two workers racing on one run cannot both win.
        """
        done = s.exec(
            update(RunbookRun)
            .where(col(RunbookRun.id) == run_id, col(RunbookRun.status) == expected.value)  # type: ignore[call-overload]
            .values(**values)
        )
        return bool(done.rowcount)

    def save(self, run_id: int, **values: Any) -> None:
        with session_scope(self.engine) as s:
            s.exec(update(RunbookRun).where(col(RunbookRun.id) == run_id).values(**values))  # type: ignore[call-overload]

    def finish(
        self,
        run_id: int,
        status: RunStatus,
        outcome: str,
        *,
        author: str,
        kind: TimelineKind | None = None,
        **data: Any,
    ) -> RunbookRun:
        with session_scope(self.engine) as s:
            run = s.get(RunbookRun, run_id)
            run.status, run.outcome, run.phase = status.value, outcome, RunPhase.done.value
            run.finished_at = now_dt(self.clock)
            kind = kind or {
                RunStatus.succeeded: TimelineKind.action_verified,
                RunStatus.rolled_back: TimelineKind.action_rolled_back,
            }.get(status, TimelineKind.action_failed)
            self.event(s, run, kind, f"{status.value}: {outcome}", author, **data)
            if status == RunStatus.succeeded and run.incident_id:
                incident = s.get(Incident, run.incident_id)
                if incident is not None and incident.status in (
                    IncidentStatus.triggered,
                    IncidentStatus.acknowledged,
                ):
                    service.transition(
                        session=s,
                        incident=incident,
                        to=IncidentStatus.mitigated,
                        clock=self.clock,
                        author=f"runbook:{run.runbook}",
                        note=f"run {run.id} verified",
                    )
        self.lock.release(run.target, run.uid)
        return self.get(run_id)  # type: ignore[return-value]

    def stop_requested(self, run_id: int) -> str | None:
        """Who asked to stop the run (None: nobody); gradual runbooks read it between steps."""
        with Session(self.engine) as s:
            row = s.get(RunStop, run_id)
            return row.requested_by if row is not None else None
