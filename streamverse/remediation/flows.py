"""Runbook runs from request to outcome: guardrails, approval pause, apply, verification, rollback,
reconciliation after a crash, and alert-driven automation. Every step lands on the run's audit
trail and, when the run belongs to one, the incident's timeline.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from streamverse.alerts.models import AlertEvent
from streamverse.clock import Clock, VirtualClock
from streamverse.db import session_scope
from streamverse.errors import StreamVerseError
from streamverse.incidents import service
from streamverse.incidents.enums import OPEN_STATUSES, IncidentStatus, TimelineKind
from streamverse.incidents.models import Incident
from streamverse.remediation.control import ControlClient, PlatformControl
from streamverse.remediation.enums import PolicyMode, RunPhase, RunStatus, TriggerKind
from streamverse.remediation.guardrails import (
    GuardrailConfig,
    GuardrailError,
    TargetLock,
    check_cooldown,
    make_lock,
)
from streamverse.remediation.models import RunbookRun
from streamverse.remediation.runbooks import ApplyContext, Runbook, get_runbook

log = logging.getLogger("streamverse.remediation.flows")

SliProbe = Callable[[str], float | None]
Sleeper = Callable[[float], None]
Spawner = Callable[[Callable[[], Any]], None]
WAIT_FOR_HOLDER_S = 15.0


class ApprovalError(StreamVerseError):
    """An approval or rejection that is not allowed (own request, wrong state)."""


def sleeper_for(clock: Clock) -> Sleeper:
    """Waiting that matches the clock: real sleeps live, virtual time jumps in fast-forward."""
    if isinstance(clock, VirtualClock):
        return clock.advance
    return time.sleep


def spawn_thread(fn: Callable[[], Any]) -> None:
    """Run a run's execution in the background so the API answers at once."""
    threading.Thread(target=fn, daemon=True, name="runbook-run").start()


class StatusProbe:
    """Default SLI, read from /control/status as a badness in [0, 1] (higher is worse)."""

    def __init__(self, ctl: PlatformControl, kind: str) -> None:
        self.ctl = ctl
        self.kind = kind

    def __call__(self, target: str) -> float | None:
        """The share of the target's traffic that is being served badly now."""
        if self.kind == "none":
            return None
        status = self.ctl.status()
        if self.kind == "region" and target in status["regions"]:
            r = status["regions"][target]
            served_badly = 1.0 - (int(r.get("usable_pops", 0)) / max(1, int(r.get("pops", 1))))
            return round(float(r["weight"]) * served_badly, 6)
        if self.kind == "pop" and target in status["pops"]:
            p = status["pops"][target]
            return (
                0.0
                if float(p["weight"]) == 0
                else (0.0 if p.get("healthy") and not p.get("hard_down") else 1.0)
            )
        if self.kind == "cache":
            ratios = [float(p.get("hit_ratio", 0.0)) for p in status["pops"].values() if p.get("hits", 0)]
            return round(1.0 - fmean(ratios), 6) if ratios else None
        if self.kind == "origin":
            return 0.0 if status["origin"].get("up", True) else 1.0
        return None


def _now_dt(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), tz=UTC)


def identity(actor: str) -> str:
    """The person behind an actor string ("ana (responder)" -> "ana"), for the two-person rule."""
    return actor.rsplit(" (", 1)[0].strip().lower()


class Remediator:
    """Requests, approves, executes and reconciles runbook runs against the platform's control endpoints."""

    def __init__(
        self,
        *,
        settings: Any,
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

    # -- helpers -----------------------------------------------------------------------------------
    def _event(
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

    def _by(self, s: Session, **where: Any) -> RunbookRun | None:
        stmt = select(RunbookRun)
        for k, v in where.items():
            stmt = stmt.where(getattr(RunbookRun, k) == v)
        return s.exec(stmt).first()

    def _wait_for_uid(self, uid: str) -> RunbookRun | None:
        deadline = time.monotonic() + WAIT_FOR_HOLDER_S  # a real-time wait: the holder commits in ms
        while time.monotonic() < deadline:
            with Session(self.engine, expire_on_commit=False) as s:
                run = self._by(s, uid=uid)
            if run is not None:
                return run
            time.sleep(0.01)
        return None

    # -- planning and requests ---------------------------------------------------------------------
    def plan(self, *, runbook: str, target: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A dry run: exact changes and blast radius, guardrails applied, nothing changed."""
        rb = get_runbook(runbook)
        ctl = self.client_factory()
        try:
            plan = rb.plan(ctl, target, dict(params or {}), self.config).to_dict()
        finally:
            ctl.close()
        plan["needs_approval"] = self._needs_approval(plan)
        plan["playbook"] = rb.playbook
        return plan

    def _needs_approval(self, plan: dict[str, Any]) -> bool:
        share = float(plan["blast_radius"].get("share_of_capacity", 0.0) or 0.0)
        return bool(plan["high_blast"]) or share >= self.config.approval_share

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
            with Session(self.engine, expire_on_commit=False) as s:
                found = self._by(s, idempotency_key=idempotency_key)
            if found is not None:
                return found, False
        with Session(self.engine) as s:
            check_cooldown(
                session=s, runbook=runbook, target=target, now=self.clock.now(), config=self.config
            )
        uid = str(uuid.uuid4())
        if not self.lock.acquire(target, uid, self.config.lock_ttl_s):
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
            self.lock.release(target, uid)
            with Session(self.engine, expire_on_commit=False) as s:
                found = self._by(s, idempotency_key=idempotency_key)
            if found is None:
                raise
            return found, False
        return self._plan_and_route(rb, run, pre_approved_by), True

    def _holder_run(self, target: str, runbook: str, params: dict[str, Any], key: str | None) -> RunbookRun:
        holder = self.lock.holder(target)
        run = self._wait_for_uid(holder) if holder else None
        if run is None and key:
            with Session(self.engine, expire_on_commit=False) as s:
                run = self._by(s, idempotency_key=key)
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
        with session_scope(self.engine) as s:
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
                requested_at=_now_dt(self.clock),
            )
            s.add(run)
            s.flush()
            via = f" (rule {rule})" if rule else ""
            self._event(
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
            self._finish(run.id, RunStatus.rejected, f"refused before any change: {exc}", author="guardrails")
            raise
        needs = plan["needs_approval"] and pre_approved_by is None
        with session_scope(self.engine) as s:
            row = s.get(RunbookRun, run.id)
            row.plan, row.needs_approval = plan, bool(plan["needs_approval"])
            self._event(
                s,
                row,
                TimelineKind.action_planned,
                "planned: " + "; ".join(f"{c['what']} {c['old']} -> {c['new']}" for c in plan["changes"]),
                row.requested_by,
                plan=plan,
            )
            if needs:
                row.status = RunStatus.awaiting_approval.value
                self._event(
                    s,
                    row,
                    TimelineKind.action_awaiting_approval,
                    f"waiting for a second person to approve (blast {plan['blast_radius']})",
                    row.requested_by,
                )
            else:
                row.status = RunStatus.approved.value
                row.approved_by = pre_approved_by or "not required (low blast)"
                row.approved_at = _now_dt(self.clock)
                self._event(
                    s, row, TimelineKind.action_approved, f"approved by {row.approved_by}", row.approved_by
                )
        if not needs:
            self.spawn(lambda: self.execute(run.id))
        return self.get(run.id)  # type: ignore[return-value]

    # -- approval ------------------------------------------------------------------------------------
    def approve(self, *, run_id: int, approver: str) -> RunbookRun:
        """Approve a paused run (not by its requester) and start it."""
        with session_scope(self.engine) as s:
            run = s.get(RunbookRun, run_id)
            if run is None:
                raise ApprovalError(f"no run {run_id}")
            if run.status != RunStatus.awaiting_approval.value:
                raise ApprovalError(f"run {run_id} is {run.status}, not awaiting approval")
            if identity(approver) == identity(run.requested_by):
                raise ApprovalError(
                    f"run {run_id} was requested by {run.requested_by}; a different person must approve it"
                )
            holder = self.lock.holder(run.target)
            if holder != run.uid and not self.lock.acquire(run.target, run.uid, self.config.lock_ttl_s):
                raise GuardrailError(f"{run.target} is now held by another run", run_id=run.id)
            done = s.exec(
                update(RunbookRun)
                .where(
                    col(RunbookRun.id) == run_id,  # type: ignore[call-overload]
                    col(RunbookRun.status) == RunStatus.awaiting_approval.value,
                )
                .values(
                    status=RunStatus.approved.value, approved_by=approver, approved_at=_now_dt(self.clock)
                )
            )
            if not done.rowcount:
                raise ApprovalError(f"run {run_id} was decided by someone else meanwhile")
            s.refresh(run)
            self._event(s, run, TimelineKind.action_approved, f"approved by {approver}", approver)
        self.spawn(lambda: self.execute(run_id))
        return self.get(run_id)  # type: ignore[return-value]

    def reject(self, *, run_id: int, rejecter: str, reason: str | None = None) -> RunbookRun:
        """Reject a paused run; the target is free again."""
        with session_scope(self.engine) as s:
            run = s.get(RunbookRun, run_id)
            if run is None:
                raise ApprovalError(f"no run {run_id}")
            done = s.exec(
                update(RunbookRun)
                .where(
                    col(RunbookRun.id) == run_id,  # type: ignore[call-overload]
                    col(RunbookRun.status) == RunStatus.awaiting_approval.value,
                )
                .values(
                    status=RunStatus.rejected.value,
                    rejected_by=rejecter,
                    phase=RunPhase.done.value,
                    finished_at=_now_dt(self.clock),
                    outcome=f"rejected by {rejecter}" + (f": {reason}" if reason else ""),
                )
            )
            if not done.rowcount:
                raise ApprovalError(f"run {run_id} is {run.status}, not awaiting approval")
            s.refresh(run)
            self._event(s, run, TimelineKind.action_rejected, run.outcome or "rejected", rejecter)
        self.lock.release(run.target, run.uid)
        return self.get(run_id)  # type: ignore[return-value]

    # -- execution -----------------------------------------------------------------------------------
    def _save(self, run_id: int, **values: Any) -> None:
        with session_scope(self.engine) as s:
            s.exec(update(RunbookRun).where(col(RunbookRun.id) == run_id).values(**values))  # type: ignore[call-overload]

    def _finish(
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
            run.finished_at = _now_dt(self.clock)
            kind = kind or {
                RunStatus.succeeded: TimelineKind.action_verified,
                RunStatus.rolled_back: TimelineKind.action_rolled_back,
            }.get(status, TimelineKind.action_failed)
            self._event(s, run, kind, f"{status.value}: {outcome}", author, **data)
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

    def _probe_for(self, rb: Runbook, ctl: PlatformControl) -> SliProbe:
        return self.sli_probe or StatusProbe(ctl, rb.sli)

    def execute(self, run_id: int) -> RunbookRun:
        """Apply an approved run, verify it over the window, roll back if the SLI got worse."""
        with session_scope(self.engine) as s:
            claimed = s.exec(
                update(RunbookRun)
                .where(
                    col(RunbookRun.id) == run_id,  # type: ignore[call-overload]
                    col(RunbookRun.status) == RunStatus.approved.value,
                )
                .values(
                    status=RunStatus.running.value,
                    phase=RunPhase.applying.value,
                    started_at=_now_dt(self.clock),
                )
            ).rowcount
        if not claimed:  # someone else runs it, or it is not approved: never apply twice
            return self.get(run_id)  # type: ignore[return-value]
        run = self.get(run_id)
        rb = get_runbook(run.runbook)
        ctl = self.client_factory()
        try:
            return self._apply_and_verify(run, rb, ctl)
        except Exception as exc:  # any surprise must still end the run and free the target
            log.exception("runbook run %s crashed", run_id)
            return self._finish(
                run_id, RunStatus.failed, f"internal error: {exc}", author=f"runbook:{run.runbook}"
            )
        finally:
            ctl.close()

    def _apply_and_verify(self, run: RunbookRun, rb: Runbook, ctl: PlatformControl) -> RunbookRun:
        probe = self._probe_for(rb, ctl)
        baseline = _safe_probe(probe, run.target)
        self._save(run.id, verification={"baseline": baseline, "samples": []})
        author = f"runbook:{rb.name}"

        def healthy() -> bool:
            value = _safe_probe(probe, run.target)
            return value is None or baseline is None or value <= baseline + self.tolerance

        ctx = ApplyContext(
            sleep=self.sleep, healthy=healthy, progress=lambda changes: self._save(run.id, changes=changes)
        )
        try:
            changes = rb.apply(ctl, run.plan, ctx)
        except StreamVerseError as exc:
            undo = _safe_rollback(rb, ctl, run.plan, {})
            return self._finish(
                run.id, RunStatus.failed, f"apply failed: {exc}; rollback: {undo}", author=author
            )
        self._save(run.id, changes=changes, phase=RunPhase.verifying.value)
        with session_scope(self.engine) as s:
            self._event(s, run, TimelineKind.action_ran, "applied", author, changes=changes)
        return self._verify(run.id, rb, ctl, probe, baseline, changes)

    def _verify(
        self,
        run_id: int,
        rb: Runbook,
        ctl: PlatformControl,
        probe: SliProbe,
        baseline: float | None,
        changes: dict[str, Any],
    ) -> RunbookRun:
        run = self.get(run_id)
        author = f"runbook:{rb.name}"
        if changes.get("stopped_early"):
            return self._rollback(
                run, rb, ctl, changes, "the SLI got worse during the gradual change", author
            )
        samples: list[float] = []
        waited = 0.0
        while waited < self.verify_window_s - 1e-9:
            step = min(self.verify_interval_s, self.verify_window_s - waited)
            self.sleep(step)
            waited += step
            value = _safe_probe(probe, run.target)
            if value is not None:
                samples.append(value)
            self._save(run_id, verification={"baseline": baseline, "samples": samples, "window_s": waited})
        in_place = rb.in_place(ctl, run.plan, changes)
        result = {
            "baseline": baseline,
            "samples": samples,
            "window_s": waited,
            "in_place": in_place,
            "tolerance": self.tolerance,
        }
        worse = bool(samples) and baseline is not None and fmean(samples) > baseline + self.tolerance
        result["after"] = round(fmean(samples), 6) if samples else None
        result["got_worse"] = worse
        self._save(run_id, verification=result)
        if in_place is False:
            return self._rollback(
                run,
                rb,
                ctl,
                changes,
                "the change did not hold on the platform",
                author,
                status=RunStatus.failed,
            )
        if worse:
            return self._rollback(
                run, rb, ctl, changes, f"SLI got worse ({baseline} -> {result['after']})", author
            )
        told = f"SLI {baseline} -> {result['after']}" if samples else "no SLI signal; change is in place"
        return self._finish(
            run_id,
            RunStatus.succeeded,
            f"verified over {waited:g}s: {told}",
            author=author,
            verification=result,
        )

    def _rollback(
        self,
        run: RunbookRun,
        rb: Runbook,
        ctl: PlatformControl,
        changes: dict[str, Any],
        why: str,
        author: str,
        status: RunStatus = RunStatus.rolled_back,
    ) -> RunbookRun:
        self._save(run.id, phase=RunPhase.rolling_back.value)
        undo = _safe_rollback(rb, ctl, run.plan, changes)
        if isinstance(undo, str):
            return self._finish(run.id, RunStatus.failed, f"{why}; rollback FAILED: {undo}", author=author)
        return self._finish(run.id, status, f"{why}; rolled back", author=author, rollback=undo)

    # -- crash recovery ------------------------------------------------------------------------------
    def reconcile(self) -> list[RunbookRun]:
        """Finish or roll back runs a crash left running (never re-applying), and start approved ones."""
        with Session(self.engine, expire_on_commit=False) as s:
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
                out.append(self.execute(run.id))
                continue
            out.append(self._reconcile_running(run))
        return out

    def _reconcile_running(self, run: RunbookRun) -> RunbookRun:
        rb = get_runbook(run.runbook)
        ctl = self.client_factory()
        author = "reconciler"
        try:
            with session_scope(self.engine) as s:
                self._event(
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
                self._save(run.id, phase=RunPhase.verifying.value)
                return self._verify(run.id, rb, ctl, self._probe_for(rb, ctl), baseline, run.changes)
            return self._rollback(
                run,
                rb,
                ctl,
                run.changes,
                f"interrupted by a restart in phase {run.phase}; not re-applied",
                author,
            )
        except StreamVerseError as exc:
            return self._finish(run.id, RunStatus.failed, f"reconciliation failed: {exc}", author=author)
        finally:
            ctl.close()

    # -- alert-driven automation ---------------------------------------------------------------------
    def on_alert(self, *, alert: AlertEvent, policies: list[Any] | None = None) -> Incident | None:
        """Open or correlate the incident, then run (auto) or suggest the runbooks the policies match."""
        with session_scope(self.engine) as s:
            incident = service.open_or_correlate(session=s, alert=alert, clock=self.clock)
        if incident is None or alert.status != "firing" or incident.status not in OPEN_STATUSES:
            return incident
        for policy, action in _matches(policies, alert):
            target = action.render_target(alert)
            params = action.render_params(alert)
            # An inhibited alert is a symptom of another (no region failover while the origin is
            # down: every region shares it); a responder may still run the runbook.
            if policy.mode in (PolicyMode.suggest, PolicyMode.suggest.value) or alert.inhibited_by:
                self._suggest(incident, policy.name, action.runbook, target, params,
                              because=f"inhibited by {alert.inhibited_by}" if alert.inhibited_by else None)
                continue
            key = f"alert:{alert.fingerprint}:incident:{incident.id}:{action.runbook}:{target}"
            try:
                self.request(
                    runbook=action.runbook,
                    target=target,
                    params=params,
                    requested_by=f"policy:{policy.name}",
                    idempotency_key=key,
                    incident_id=incident.id,
                    trigger=TriggerKind.alert,
                    trigger_ref=alert.fingerprint,
                    rule=policy.name,
                    pre_approved_by=None if policy.require_approval else f"policy:{policy.name}",
                )
            except StreamVerseError as exc:
                with session_scope(self.engine) as s:
                    service.add_event(
                        session=s,
                        kind=TimelineKind.action_failed,
                        author=f"policy:{policy.name}",
                        incident_id=incident.id,
                        clock=self.clock,
                        message=f"{action.runbook} on {target} not started: {exc}",
                        data={"runbook": action.runbook, "target": target, "rule": policy.name},
                    )
        return incident

    def _suggest(
        self, incident: Incident, rule: str, runbook: str, target: str, params: dict[str, Any],
        because: str | None = None,
    ) -> None:
        with session_scope(self.engine) as s:
            for e in service.timeline(session=s, incident_id=incident.id):
                if (
                    e.kind == TimelineKind.action_suggested
                    and e.data.get("runbook") == runbook
                    and e.data.get("target") == target
                ):
                    return
            service.add_event(
                session=s,
                kind=TimelineKind.action_suggested,
                author=f"policy:{rule}",
                incident_id=incident.id,
                clock=self.clock,
                message=f"suggested: {runbook} on {target} (a responder may run it)"
                + (f"; not automatic: {because}" if because else ""),
                data={
                    "runbook": runbook,
                    "target": target,
                    "params": params,
                    "rule": rule,
                    "playbook": get_runbook(runbook).playbook,
                },
            )


def _matches(policies: list[Any] | None, alert: AlertEvent) -> list[tuple[Any, Any]]:
    if policies is None:
        from streamverse.remediation.policies import load_policies

        policies = load_policies()
    return [(p, a) for p in policies if p.matches(alert) for a in p.actions]


def _safe_probe(probe: SliProbe, target: str) -> float | None:
    try:
        return probe(target)
    except StreamVerseError as exc:
        log.warning("SLI probe failed for %s: %s", target, exc)
        return None


def _safe_rollback(rb: Runbook, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> Any:
    try:
        return rb.rollback(ctl, plan, changes)
    except StreamVerseError as exc:
        return f"{exc}"
