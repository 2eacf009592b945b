"""Runbook runs from request to outcome, as one object for the API, the alert loop and drills.

The four jobs live in their own modules, sharing one `RunContext`:
`requests` (plan, guardrails, approval), `execution` (apply, verify, roll back),
`reconcile` (after a crash) and `automation` (alerts -> incidents -> runbooks).
Every step lands on the run's audit trail and, when the run belongs to one, the incident's timeline.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from streamverse.alerts.models import AlertEvent
from streamverse.incidents.models import Incident
from streamverse.remediation.automation import AlertAutomation
from streamverse.remediation.enums import TriggerKind
from streamverse.remediation.execution import RunExecutor
from streamverse.remediation.models import RunbookRun
from streamverse.remediation.policies import Policy
from streamverse.remediation.probes import StatusProbe
from streamverse.remediation.reconcile import Reconciler
from streamverse.remediation.requests import ApprovalError, RunRequests, identity
from streamverse.remediation.runs import RunContext, SliProbe, sleeper_for, spawn_thread

__all__ = [
    "ApprovalError", "Remediator", "SliProbe", "StatusProbe", "identity", "sleeper_for", "spawn_thread",
]


class Remediator(RunContext):
    """Requests, approves, executes and reconciles runbook runs against the platform's control endpoints."""

    @cached_property
    def executor(self) -> RunExecutor:
        """Apply, verify, roll back."""
        return RunExecutor(self)

    @cached_property
    def requests(self) -> RunRequests:
        """Plans, guardrails, approvals."""
        return RunRequests(self, self.executor)

    @cached_property
    def reconciler(self) -> Reconciler:
        """What a restart interrupted."""
        return Reconciler(self, self.executor)

    @cached_property
    def automation(self) -> AlertAutomation:
        """Alerts to incidents to runbooks."""
        return AlertAutomation(self, self.requests)

    def plan(self, *, runbook: str, target: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A dry run: exact changes and blast radius, guardrails applied, nothing changed."""
        return self.requests.plan(runbook=runbook, target=target, params=params)

    def request(self, *, runbook: str, target: str, params: dict[str, Any] | None = None, requested_by: str,
                idempotency_key: str | None = None, incident_id: int | None = None,
                trigger: TriggerKind = TriggerKind.user, trigger_ref: str | None = None,
                rule: str | None = None, pre_approved_by: str | None = None) -> tuple[RunbookRun, bool]:
        """Ask for a run; returns (run, created). Identical concurrent asks get the run holding the target."""
        return self.requests.request(
            runbook=runbook, target=target, params=params, requested_by=requested_by,
            idempotency_key=idempotency_key, incident_id=incident_id, trigger=trigger,
            trigger_ref=trigger_ref, rule=rule, pre_approved_by=pre_approved_by)

    def approve(self, *, run_id: int, approver: str) -> RunbookRun:
        """Approve a paused run (not by its requester) and start it."""
        return self.requests.approve(run_id=run_id, approver=approver)

    def reject(self, *, run_id: int, rejecter: str, reason: str | None = None) -> RunbookRun:
        """Reject a paused run; the target is free again."""
        return self.requests.reject(run_id=run_id, rejecter=rejecter, reason=reason)

    def request_stop(self, *, run_id: int, by: str) -> RunbookRun:
        """Stop a running gradual run before its next step (a failback, say); what it applied stays."""
        return self.requests.request_stop(run_id=run_id, by=by)

    def execute(self, run_id: int) -> RunbookRun:
        """Apply an approved run, verify it over the window, roll back if the SLI got worse."""
        return self.executor.execute(run_id)

    def reconcile(self) -> list[RunbookRun]:
        """Finish or roll back runs a crash left running (never re-applying), and start approved ones."""
        return self.reconciler.reconcile()

    def on_alert(self, *, alert: AlertEvent, policies: list[Policy] | None = None) -> Incident | None:
        """Open or correlate the incident, then run (auto) or suggest the runbooks the policies match."""
        return self.automation.on_alert(alert=alert, policies=policies)

    def handle_alert(self, event: AlertEvent, policies: list[Policy] | None = None) -> int | None:
        """The alerts area's AlertHandler: the id of the incident the alert opened or joined."""
        incident = self.on_alert(alert=event, policies=policies)
        return None if incident is None else int(incident.id)
