"""After a crash: runs left running are verified if their change held, else rolled back; never re-applied."""

from __future__ import annotations

from sqlmodel import Session, col, select

from streamverse.db import session_scope
from streamverse.errors import StreamVerseError
from streamverse.incidents.enums import TimelineKind
from streamverse.remediation.enums import RunPhase, RunStatus
from streamverse.remediation.execution import RunExecutor
from streamverse.remediation.models import RunbookRun
from streamverse.remediation.runbooks import get_runbook
from streamverse.remediation.runs import RunContext


class Reconciler:
    """Finishes what a restart interrupted."""

    def __init__(self, ctx: RunContext, executor: RunExecutor) -> None:
        self.ctx = ctx
        self.executor = executor

    def reconcile(self) -> list[RunbookRun]:
        """Finish or roll back runs a crash left running (never re-applying), and start approved ones."""
        with Session(self.ctx.engine, expire_on_commit=False) as s:
            stuck = list(
                s.exec(
                    select(RunbookRun)
                    .where(col(RunbookRun.status).in_([RunStatus.running.value, RunStatus.approved.value]))
                    .order_by(col(RunbookRun.id))
                )
            )
        out = []
        for run in stuck:
            if run.status == RunStatus.approved.value:
                out.append(self.executor.execute(run.id))
                continue
            out.append(self._reconcile_running(run))
        return out

    def _reconcile_running(self, run: RunbookRun) -> RunbookRun:
        rb = get_runbook(run.runbook)
        ctl = self.ctx.client_factory()
        author = "reconciler"
        try:
            with session_scope(self.ctx.engine) as s:
                self.ctx.event(
                    s,
                    run,
                    TimelineKind.action_reconciled,
                    f"found {run.status} in phase {run.phase} after a restart",
                    author,
                )
            in_place = (
                None if run.phase == RunPhase.rolling_back.value else rb.in_place(ctl, run.plan, run.changes)
            )
            if in_place:
                baseline = (run.verification or {}).get("baseline")
                self.ctx.save(run.id, phase=RunPhase.verifying.value)
                probe = self.executor.probe_for(rb, ctl)
                return self.executor.verify(run.id, rb, ctl, probe, baseline, run.changes)
            return self.executor.rollback(
                run,
                rb,
                ctl,
                run.changes,
                f"interrupted by a restart in phase {run.phase}; not re-applied",
                author,
            )
        except StreamVerseError as exc:
            return self.ctx.finish(run.id, RunStatus.failed, f"reconciliation failed: {exc}", author=author)
        finally:
            ctl.close()
