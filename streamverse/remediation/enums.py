"""States of runbook runs and automation policies."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """StackStorm-style run states; awaiting_approval is a real, persisted pause."""

    requested = "requested"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"
    rejected = "rejected"
    stopped = "stopped"  # a person stopped a gradual run between steps; what was applied stays


FINAL_RUN_STATUSES = (RunStatus.succeeded, RunStatus.failed, RunStatus.rolled_back, RunStatus.rejected,
                      RunStatus.stopped)
ACTIVE_RUN_STATUSES = (
    RunStatus.requested,
    RunStatus.awaiting_approval,
    RunStatus.approved,
    RunStatus.running,
)


class RunPhase(StrEnum):
    """Where a running run is, so reconciliation after a crash knows what may already have changed."""

    pending = "pending"
    applying = "applying"
    verifying = "verifying"
    rolling_back = "rolling_back"
    done = "done"


class TriggerKind(StrEnum):
    """Who or what asked for a run."""

    user = "user"
    alert = "alert"
    policy = "policy"


class PolicyMode(StrEnum):
    """auto runs the runbook at once; suggest waits for a responder to click."""

    auto = "auto"
    suggest = "suggest"
