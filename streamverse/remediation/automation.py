"""Alert-driven automation: an alert opens or joins an incident, and the policies it matches run
their runbooks (auto) or suggest them to the responder (suggest, or an inhibited alert).
"""

from __future__ import annotations

from typing import Any

from streamverse.alerts.models import AlertEvent
from streamverse.db import session_scope
from streamverse.errors import StreamVerseError
from streamverse.incidents import service
from streamverse.incidents.enums import OPEN_STATUSES, TimelineKind
from streamverse.incidents.models import Incident
from streamverse.remediation.enums import PolicyMode, TriggerKind
from streamverse.remediation.policies import Action, Policy, load_policies
from streamverse.remediation.requests import RunRequests
from streamverse.remediation.runbooks import get_runbook
from streamverse.remediation.runs import RunContext


class AlertAutomation:
    """Turns alert events into incidents and runbook runs or suggestions."""

    def __init__(self, ctx: RunContext, requests: RunRequests) -> None:
        self.ctx = ctx
        self.requests = requests

    def on_alert(self, *, alert: AlertEvent, policies: list[Policy] | None = None) -> Incident | None:
        """Open or correlate the incident, then run (auto) or suggest the runbooks the policies match."""
        with session_scope(self.ctx.engine) as s:
            incident = service.open_or_correlate(session=s, alert=alert, clock=self.ctx.clock)
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
                self.requests.request(
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
                with session_scope(self.ctx.engine) as s:
                    service.add_event(
                        session=s,
                        kind=TimelineKind.action_failed,
                        author=f"policy:{policy.name}",
                        incident_id=incident.id,
                        clock=self.ctx.clock,
                        message=f"{action.runbook} on {target} not started: {exc}",
                        data={"runbook": action.runbook, "target": target, "rule": policy.name},
                    )
        return incident

    def _suggest(
        self, incident: Incident, rule: str, runbook: str, target: str, params: dict[str, Any],
        because: str | None = None,
    ) -> None:
        with session_scope(self.ctx.engine) as s:
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
                clock=self.ctx.clock,
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


def _matches(policies: list[Policy] | None, alert: AlertEvent) -> list[tuple[Policy, Action]]:
    if policies is None:
        policies = load_policies()
    return [(p, a) for p in policies if p.matches(alert) for a in p.actions]
