"""Asking for runs: the dry-run plan, guardrails and locks, the approval pause, approve and reject.

StackStorm's model: an approval is a persisted state of the run (awaiting_approval), and
the person who approves is never the one who asked.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from streamverse.db import session_scope
from streamverse.errors import StreamVerseError
from streamverse.incidents.enums import TimelineKind
from streamverse.remediation.enums import RunPhase, RunStatus, TriggerKind
from streamverse.remediation.execution import RunExecutor
from streamverse.remediation.guardrails import GuardrailError, check_cooldown
from streamverse.remediation.models import RunbookRun, RunStop
from streamverse.remediation.runbooks import Runbook, get_runbook
from streamverse.remediation.runs import RunContext, now_dt

WAIT_FOR_HOLDER_S = 15.0


class ApprovalError(StreamVerseError):
    """An approval or rejection that is not allowed (own request, wrong state)."""


def identity(actor: str) -> str:
    """The person behind an actor string ("ana (responder)" -> "ana"), for the two-person rule."""
    return actor.rsplit(" (", 1)[0].strip().lower()


class RunRequests:
    """Plans, requests, approvals and rejections of runs."""

    def __init__(self, ctx: RunContext, executor: RunExecutor) -> None:
        self.ctx = ctx
        self.executor = executor

    def plan(self, *, runbook: str, target: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A dry run: exact changes and blast radius, guardrails applied, nothing changed."""
        rb = get_runbook(runbook)
        ctl = self.ctx.client_factory()
        try:
            plan = rb.plan(ctl, target, dict(params or {}), self.ctx.config).to_dict()
        finally:
            ctl.close()
        plan["needs_approval"] = self._needs_approval(plan)
        plan["playbook"] = rb.playbook
        return plan

    def _needs_approval(self, plan: dict[str, Any]) -> bool:
        share = float(plan["blast_radius"].get("share_of_capacity", 0.0) or 0.0)
        return bool(plan["high_blast"]) or share >= self.ctx.config.approval_share

    def request(
        self,
        *,
        runbook: str,
        target: str,
        params: dict[str, Any] | None = None,
        requested_by: str,
        idempotency_key: str | None = None,
        incident_id: int | None = None,
        trigger: TriggerKind = TriggerKind.user,
        trigger_ref: str | None = None,
        rule: str | None = None,
        pre_approved_by: str | None = None,
    ) -> tuple[RunbookRun, bool]:
        """Ask for a run; returns (run, created). Identical concurrent asks get the run holding the target."""
        rb = get_runbook(runbook)
        params = dict(params or {})
        if idempotency_key:
            with Session(self.ctx.engine, expire_on_commit=False) as s:
                found = self.ctx.by(s, idempotency_key=idempotency_key)
            if found is not None:
                return found, False
        with Session(self.ctx.engine) as s:
            check_cooldown(
                session=s, runbook=runbook, target=target, now=self.ctx.clock.now(), config=self.ctx.config
            )
        uid = str(uuid.uuid4())
        if not self.ctx.lock.acquire(target, uid, self.ctx.config.lock_ttl_s):
            return self._holder_run(target, runbook, params, idempotency_key), False
        try:
            run = self._insert(
                rb,
                target,
                params,
                uid,
                requested_by,
                idempotency_key,
                incident_id,
                trigger,
                trigger_ref,
                rule,
            )
        except IntegrityError:
            self.ctx.lock.release(target, uid)
            with Session(self.ctx.engine, expire_on_commit=False) as s:
                found = self.ctx.by(s, idempotency_key=idempotency_key)
            if found is None:
                raise
            return found, False
        return self._plan_and_route(rb, run, pre_approved_by), True

    def _wait_for_uid(self, uid: str) -> RunbookRun | None:
        deadline = time.monotonic() + WAIT_FOR_HOLDER_S  # a real-time wait: the holder commits in ms
        while time.monotonic() < deadline:
            with Session(self.ctx.engine, expire_on_commit=False) as s:
                run = self.ctx.by(s, uid=uid)
            if run is not None:
                return run
            time.sleep(0.01)
        return None

    def _holder_run(self, target: str, runbook: str, params: dict[str, Any], key: str | None) -> RunbookRun:
        holder = self.ctx.lock.holder(target)
        run = self._wait_for_uid(holder) if holder else None
        if run is None and key:
            with Session(self.ctx.engine, expire_on_commit=False) as s:
                run = self.ctx.by(s, idempotency_key=key)
        if run is None:
            raise GuardrailError(f"{target} is locked by another run that could not be found; retry shortly")
        if run.runbook == runbook and run.params == params or (key and run.idempotency_key == key):
            return run
        raise GuardrailError(
            f"{target} already has run {run.id} ({run.runbook}, {run.status}); one run per target at a time",
            run_id=run.id,
        )

    def _insert(
        self,
        rb: Runbook,
        target: str,
        params: dict[str, Any],
        uid: str,
        requested_by: str,
        key: str | None,
        incident_id: int | None,
        trigger: TriggerKind,
        trigger_ref: str | None,
        rule: str | None,
    ) -> RunbookRun:
        with session_scope(self.ctx.engine) as s:
            run = RunbookRun(
                runbook=rb.name,
                target=target,
                params=params,
                uid=uid,
                requested_by=requested_by,
                idempotency_key=key,
                incident_id=incident_id,
                trigger=trigger.value,
                trigger_ref=trigger_ref or (requested_by if trigger == TriggerKind.user else None),
                rule=rule,
                requested_at=now_dt(self.ctx.clock),
            )
            s.add(run)
            s.flush()
            via = f" (rule {rule})" if rule else ""
            self.ctx.event(
                s,
                run,
                TimelineKind.action_planned,
                f"requested by {requested_by}{via}",
                requested_by,
                trigger=trigger.value,
                trigger_ref=run.trigger_ref,
                rule=rule,
                params=params,
            )
        return run

    def _plan_and_route(self, rb: Runbook, run: RunbookRun, pre_approved_by: str | None) -> RunbookRun:
        try:
            plan = self.plan(runbook=rb.name, target=run.target, params=run.params)
        except StreamVerseError as exc:
            self.ctx.finish(run.id, RunStatus.rejected, f"refused before any change: {exc}",
                            author="guardrails")
            raise
        needs = plan["needs_approval"] and pre_approved_by is None
        with session_scope(self.ctx.engine) as s:
            row = s.get(RunbookRun, run.id)
            row.plan, row.needs_approval = plan, bool(plan["needs_approval"])
            self.ctx.event(
                s,
                row,
                TimelineKind.action_planned,
                "planned: " + "; ".join(f"{c['what']} {c['old']} -> {c['new']}" for c in plan["changes"]),
                row.requested_by,
                plan=plan,
            )
            if needs:
                row.status = RunStatus.awaiting_approval.value
                self.ctx.event(
                    s,
                    row,
                    TimelineKind.action_awaiting_approval,
                    f"waiting for a second person to approve (blast {plan['blast_radius']})",
                    row.requested_by,
                )
            else:
                row.status = RunStatus.approved.value
                row.approved_by = pre_approved_by or "not required (low blast)"
                row.approved_at = now_dt(self.ctx.clock)
                self.ctx.event(
                    s, row, TimelineKind.action_approved, f"approved by {row.approved_by}", row.approved_by
                )
        if not needs:
            self.ctx.spawn(lambda: self.executor.execute(run.id))
        return self.ctx.get(run.id)  # type: ignore[return-value]

    def approve(self, *, run_id: int, approver: str) -> RunbookRun:
        """Approve a paused run (not by its requester) and start it."""
        with session_scope(self.ctx.engine) as s:
            run = s.get(RunbookRun, run_id)
            if run is None:
                raise ApprovalError(f"no run {run_id}")
            if run.status != RunStatus.awaiting_approval.value:
                raise ApprovalError(f"run {run_id} is {run.status}, not awaiting approval")
            if identity(approver) == identity(run.requested_by):
                raise ApprovalError(
                    f"run {run_id} was requested by {run.requested_by}; a different person must approve it"
                )
            holder = self.ctx.lock.holder(run.target)
            ttl = self.ctx.config.lock_ttl_s
            if holder != run.uid and not self.ctx.lock.acquire(run.target, run.uid, ttl):
                raise GuardrailError(f"{run.target} is now held by another run", run_id=run.id)
            done = self.ctx.move(s, run_id, RunStatus.awaiting_approval, status=RunStatus.approved.value,
                                 approved_by=approver, approved_at=now_dt(self.ctx.clock))
            if not done:
                raise ApprovalError(f"run {run_id} was decided by someone else meanwhile")
            s.refresh(run)
            self.ctx.event(s, run, TimelineKind.action_approved, f"approved by {approver}", approver)
        self.ctx.spawn(lambda: self.executor.execute(run_id))
        return self.ctx.get(run_id)  # type: ignore[return-value]

    def reject(self, *, run_id: int, rejecter: str, reason: str | None = None) -> RunbookRun:
        """Reject a paused run; the target is free again."""
        with session_scope(self.ctx.engine) as s:
            run = s.get(RunbookRun, run_id)
            if run is None:
                raise ApprovalError(f"no run {run_id}")
            done = self.ctx.move(s, run_id, RunStatus.awaiting_approval, status=RunStatus.rejected.value,
                                 rejected_by=rejecter, phase=RunPhase.done.value,
                                 finished_at=now_dt(self.ctx.clock),
                                 outcome=f"rejected by {rejecter}" + (f": {reason}" if reason else ""))
            if not done:
                raise ApprovalError(f"run {run_id} is {run.status}, not awaiting approval")
            s.refresh(run)
            self.ctx.event(s, run, TimelineKind.action_rejected, run.outcome or "rejected", rejecter)
        self.ctx.lock.release(run.target, run.uid)
        return self.ctx.get(run_id)  # type: ignore[return-value]

    def request_stop(self, *, run_id: int, by: str) -> RunbookRun:
        """Ask a running gradual run to stop before its next step; what it applied stays (idempotent)."""
        with session_scope(self.ctx.engine) as s:
            run = s.get(RunbookRun, run_id)
            if run is None:
                raise ApprovalError(f"no run {run_id}")
            if run.status not in (RunStatus.running.value, RunStatus.approved.value):
                raise ApprovalError(f"run {run_id} is {run.status}; only a running run can be stopped")
            if s.get(RunStop, run_id) is None:
                s.add(RunStop(run_id=run_id, requested_by=by, requested_at=now_dt(self.ctx.clock)))
                self.ctx.event(s, run, TimelineKind.note, f"stop requested by {by}; it stops before its "
                               "next step", by)
        return self.ctx.get(run_id)  # type: ignore[return-value]
