"""The incidents area's view of remediation: what ran, or was suggested, for one incident."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from streamverse.incidents import service as incidents
from streamverse.incidents.enums import TimelineKind
from streamverse.remediation.models import RunbookRun
from streamverse.remediation.runbooks import RUNBOOKS


class RunbookActions:
    """`incidents.service.IncidentActions` answered from runbook runs and suggestions on the timeline."""

    def runbook_links(self, *, session: Session, incident_id: int) -> list[dict[str, str]]:
        """{runbook, playbook, url} of every runbook run or suggested for the incident."""
        runs = session.exec(select(RunbookRun).where(RunbookRun.incident_id == incident_id))
        names = {r.runbook for r in runs}
        names |= {
            e.data.get("runbook")
            for e in incidents.timeline(session=session, incident_id=incident_id)
            if e.kind == TimelineKind.action_suggested
        }
        return [
            {"runbook": n, "playbook": RUNBOOKS[n].playbook, "url": f"/api/v1/runbooks/{n}/playbook"}
            for n in sorted(x for x in names if x in RUNBOOKS)
        ]

    def actions(self, *, session: Session, incident_id: int) -> list[dict[str, Any]]:
        """The incident's runs, oldest first: who asked, who approved, which rule, what changed."""
        runs = session.exec(
            select(RunbookRun).where(RunbookRun.incident_id == incident_id).order_by(col(RunbookRun.id))
        )
        return [
            {
                "run_id": r.id,
                "runbook": r.runbook,
                "target": r.target,
                "status": r.status,
                "requested_by": r.requested_by,
                "approved_by": r.approved_by,
                "rule": r.rule,
                "changes": r.changes,
                "outcome": r.outcome,
            }
            for r in runs
        ]
