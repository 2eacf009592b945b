"""Automatic failback, as the seed describes it: once a failed-over region has been healthy for a
while, its viewers return gradually, 10 % every 10 minutes, and the run stops (rolling back) if the
region's error ratio rises on the way.

Healthy means what the GeoDNS health checks observe (every PoP of the region answering its
probes); the gradual steps then check the region's real error ratio, which is what catches a
gray failure the probes cannot see. Only a region drained by a `region-failover` run fails
back by itself: a weight an operator set by hand is theirs to change. The run is requested by
the `auto-failback` policy and says so on the timeline; responders can stop it at any step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from streamverse.errors import StreamVerseError
from streamverse.remediation.enums import ACTIVE_RUN_STATUSES, RunStatus, TriggerKind
from streamverse.remediation.flows import Remediator
from streamverse.remediation.models import RunbookRun
from streamverse.remediation.runbooks import FAILBACK_INTERVAL_S, FAILBACK_STEP

log = logging.getLogger("streamverse.remediation.failback")
POLICY = "auto-failback"
HEALTHY_FOR_S = 600.0  # how long a region must pass its health checks before viewers return


@dataclass
class FailbackWatcher:
    """Checked periodically by the composition root's scheduler; starts at most one failback per region."""

    remediator: Remediator
    healthy_for_s: float = HEALTHY_FOR_S
    step: float = FAILBACK_STEP
    interval_s: float = FAILBACK_INTERVAL_S
    healthy_since: dict[str, float] = field(default_factory=dict)

    def _failed_over(self, session: Session, region: str) -> RunbookRun | None:
        """The succeeded failover of `region` that no failback followed yet (None: nothing to undo)."""
        last = session.exec(
            select(RunbookRun)
            .where(col(RunbookRun.target) == region,
                   col(RunbookRun.runbook).in_(["region-failover", "region-failback"]))
            .order_by(col(RunbookRun.id).desc())
        ).first()
        if last is None or last.runbook != "region-failover" or last.status != RunStatus.succeeded.value:
            return None
        return last

    def _busy(self, session: Session, region: str) -> bool:
        active = [s.value for s in ACTIVE_RUN_STATUSES]
        return session.exec(select(RunbookRun).where(col(RunbookRun.target) == region,
                                                     col(RunbookRun.status).in_(active))).first() is not None

    def check(self) -> list[int]:
        """Start the failbacks that are due; returns their run ids."""
        rem = self.remediator
        now = rem.clock.now()
        ctl = rem.client_factory()
        try:
            status = ctl.status()
        finally:
            ctl.close()
        started: list[int] = []
        for region, info in status["regions"].items():
            pops = [p for p, i in status["pops"].items() if i.get("region") == region]
            all_up = bool(pops) and all(status["pops"][p].get("healthy", False) for p in pops)
            if float(info.get("weight", 1.0)) >= 1.0 or not all_up:
                self.healthy_since.pop(region, None)
                continue
            since = self.healthy_since.setdefault(region, now)
            if now - since < self.healthy_for_s:
                continue
            with Session(rem.engine) as s:
                failover = self._failed_over(s, region)
                if failover is None or self._busy(s, region):
                    continue
            try:
                run, _ = rem.request(
                    runbook="region-failback", target=region,
                    params={"step": self.step, "interval_s": self.interval_s},
                    requested_by=f"policy:{POLICY}", incident_id=failover.incident_id,
                    trigger=TriggerKind.policy, trigger_ref=f"run:{failover.id}", rule=POLICY,
                    idempotency_key=f"failback:{failover.id}",
                    pre_approved_by=f"policy:{POLICY} (region healthy for {now - since:.0f}s after failover "
                                    f"run {failover.id}; gradual, stops on errors)",
                )
            except StreamVerseError as exc:
                log.warning("failback of %s not started: %s", region, exc)
                continue
            log.info("failback started", extra={"region": region, "run_id": run.id})
            started.append(int(run.id))
        return started
