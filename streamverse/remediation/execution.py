"""Executing an approved run: apply, verify the SLI over a window, roll back when it got worse.

A run is claimed by a conditional update (approved -> running), so two workers, or a
restart, never apply it twice.
"""

from __future__ import annotations

import logging
from statistics import fmean
from typing import Any

from streamverse.db import session_scope
from streamverse.errors import StreamVerseError
from streamverse.incidents.enums import TimelineKind
from streamverse.remediation.control import PlatformControl
from streamverse.remediation.enums import RunPhase, RunStatus
from streamverse.remediation.models import RunbookRun
from streamverse.remediation.probes import StatusProbe
from streamverse.remediation.runbooks import ApplyContext, Runbook, get_runbook
from streamverse.remediation.runs import RunContext, SliProbe, now_dt

log = logging.getLogger("streamverse.remediation.execution")


class RunExecutor:
    """Applies, verifies and rolls back runs."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def probe_for(self, rb: Runbook, ctl: PlatformControl) -> SliProbe:
        return self.ctx.sli_probe or StatusProbe(ctl, rb.sli)

    def execute(self, run_id: int) -> RunbookRun:
        """Apply an approved run, verify it over the window, roll back if the SLI got worse."""
        with session_scope(self.ctx.engine) as s:
            claimed = self.ctx.move(s, run_id, RunStatus.approved, status=RunStatus.running.value,
                                    phase=RunPhase.applying.value, started_at=now_dt(self.ctx.clock))
        if not claimed:  # someone else runs it, or it is not approved: never apply twice
            return self.ctx.get(run_id)  # type: ignore[return-value]
        run = self.ctx.get(run_id)
        rb = get_runbook(run.runbook)
        ctl = self.ctx.client_factory()
        try:
            return self._apply_and_verify(run, rb, ctl)
        except Exception as exc:  # any surprise must still end the run and free the target
            log.exception("runbook run %s crashed", run_id)
            return self.ctx.finish(
                run_id, RunStatus.failed, f"internal error: {exc}", author=f"runbook:{run.runbook}"
            )
        finally:
            ctl.close()

    def _apply_and_verify(self, run: RunbookRun, rb: Runbook, ctl: PlatformControl) -> RunbookRun:
        probe = self.probe_for(rb, ctl)
        baseline = _safe_probe(probe, run.target)
        self.ctx.save(run.id, verification={"baseline": baseline, "samples": []})
        author = f"runbook:{rb.name}"

        def healthy() -> bool:
            value = _safe_probe(probe, run.target)
            return value is None or baseline is None or value <= baseline + self.ctx.tolerance

        ctx = ApplyContext(
            sleep=self.ctx.sleep, healthy=healthy,
            progress=lambda changes: self.ctx.save(run.id, changes=changes),
            stopped=lambda: self.ctx.stop_requested(run.id),
        )
        try:
            changes = rb.apply(ctl, run.plan, ctx)
        except StreamVerseError as exc:
            undo = safe_rollback(rb, ctl, run.plan, {})
            return self.ctx.finish(
                run.id, RunStatus.failed, f"apply failed: {exc}; rollback: {undo}", author=author
            )
        self.ctx.save(run.id, changes=changes, phase=RunPhase.verifying.value)
        with session_scope(self.ctx.engine) as s:
            self.ctx.event(s, run, TimelineKind.action_ran, "applied", author, changes=changes)
        return self.verify(run.id, rb, ctl, probe, baseline, changes)

    def verify(
        self,
        run_id: int,
        rb: Runbook,
        ctl: PlatformControl,
        probe: SliProbe,
        baseline: float | None,
        changes: dict[str, Any],
    ) -> RunbookRun:
        run = self.ctx.get(run_id)
        author = f"runbook:{rb.name}"
        if changes.get("stopped_by"):  # a person stopped it between steps: hold what was applied
            return self.ctx.finish(
                run_id, RunStatus.stopped,
                f"stopped by {changes['stopped_by']} after {len(changes.get('weights_applied', []))} "
                "step(s); what was applied stays, nothing further changes", author=changes["stopped_by"],
                kind=TimelineKind.action_stopped)
        if changes.get("stopped_early"):
            return self.rollback(
                run, rb, ctl, changes, "the SLI got worse during the gradual change", author
            )
        samples: list[float] = []
        waited = 0.0
        while waited < self.ctx.verify_window_s - 1e-9:
            step = min(self.ctx.verify_interval_s, self.ctx.verify_window_s - waited)
            self.ctx.sleep(step)
            waited += step
            value = _safe_probe(probe, run.target)
            if value is not None:
                samples.append(value)
            self.ctx.save(run_id, verification={"baseline": baseline, "samples": samples, "window_s": waited})
        in_place = rb.in_place(ctl, run.plan, changes)
        result = {
            "baseline": baseline,
            "samples": samples,
            "window_s": waited,
            "in_place": in_place,
            "tolerance": self.ctx.tolerance,
        }
        worse = bool(samples) and baseline is not None and fmean(samples) > baseline + self.ctx.tolerance
        result["after"] = round(fmean(samples), 6) if samples else None
        result["got_worse"] = worse
        self.ctx.save(run_id, verification=result)
        if in_place is False:
            return self.rollback(
                run,
                rb,
                ctl,
                changes,
                "the change did not hold on the platform",
                author,
                status=RunStatus.failed,
            )
        if worse:
            return self.rollback(
                run, rb, ctl, changes, f"SLI got worse ({baseline} -> {result['after']})", author
            )
        told = f"SLI {baseline} -> {result['after']}" if samples else "no SLI signal; change is in place"
        return self.ctx.finish(
            run_id,
            RunStatus.succeeded,
            f"verified over {waited:g}s: {told}",
            author=author,
            verification=result,
        )

    def rollback(
        self,
        run: RunbookRun,
        rb: Runbook,
        ctl: PlatformControl,
        changes: dict[str, Any],
        why: str,
        author: str,
        status: RunStatus = RunStatus.rolled_back,
    ) -> RunbookRun:
        self.ctx.save(run.id, phase=RunPhase.rolling_back.value)
        undo = safe_rollback(rb, ctl, run.plan, changes)
        if isinstance(undo, str):
            return self.ctx.finish(run.id, RunStatus.failed, f"{why}; rollback FAILED: {undo}", author=author)
        return self.ctx.finish(run.id, status, f"{why}; rolled back", author=author, rollback=undo)


def _safe_probe(probe: SliProbe, target: str) -> float | None:
    try:
        return probe(target)
    except StreamVerseError as exc:
        log.warning("SLI probe failed for %s: %s", target, exc)
        return None


def safe_rollback(rb: Runbook, ctl: PlatformControl, plan: dict[str, Any], changes: dict[str, Any]) -> Any:
    """Undo a run's changes; the error text instead of raising, so the run still ends."""
    try:
        return rb.rollback(ctl, plan, changes)
    except StreamVerseError as exc:
        return f"{exc}"
