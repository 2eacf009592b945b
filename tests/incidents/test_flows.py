"""Runbook runs against a real platform control app over HTTP: plans, guardrails, approval, verification,
concurrency (Redis and database locks), idempotency and crash reconciliation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session, select

from streamverse.db import get_engine, init_db, session_scope
from streamverse.remediation.enums import RunPhase, RunStatus
from streamverse.remediation.flows import ApprovalError
from streamverse.remediation.guardrails import GuardrailConfig, GuardrailError
from streamverse.remediation.models import RunbookRun
from tests.incidents.conftest import LivePlatform, make_remediator


def test_failover_plan_shows_exact_changes_and_refuses_last_region(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings, config=GuardrailConfig(max_drained_share=1.0))
    plan = rem.plan(runbook="region-failover", target="us-east")
    assert plan["changes"] == [{"what": "dns.region_weight[us-east]", "old": 1.0, "new": 0.0}]
    pops = {p.name for p in live_platform.platform.topology.region_by_name["us-east"].pops}
    assert set(plan["blast_radius"]["pops_affected"]) == pops
    assert 0.1 < plan["blast_radius"]["share_of_capacity"] < 0.5 and plan["needs_approval"]
    assert live_platform.platform.dns.region_weight["us-east"] == 1.0  # a dry run changes nothing
    others = [r for r in live_platform.platform.dns.region_weight if r != "us-east"]
    for r in others:
        live_platform.platform.drain_region(r)
    with pytest.raises(GuardrailError, match="last healthy region"):
        rem.plan(runbook="region-failover", target="us-east")


def test_capacity_share_limit(live_platform: LivePlatform, engine: Any, settings: Any) -> None:
    rem = make_remediator(live_platform, engine, settings, config=GuardrailConfig(max_drained_share=0.3))
    live_platform.platform.drain_region("eu-west")
    with pytest.raises(GuardrailError, match="edge capacity would be drained"):
        rem.plan(runbook="region-failover", target="us-east")


def test_approval_is_a_paused_state_needing_a_second_person(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings)
    run, created = rem.request(runbook="region-failover", target="us-east", requested_by="ana (responder)")
    assert created and run.status == RunStatus.awaiting_approval
    assert live_platform.platform.dns.region_weight["us-east"] == 1.0
    with Session(engine) as s:  # persisted, not a flag in memory
        assert s.get(RunbookRun, run.id).status == "awaiting_approval"
    with pytest.raises(ApprovalError, match="different person"):
        rem.approve(run_id=run.id, approver="ana (admin)")
    done = rem.approve(run_id=run.id, approver="bo (responder)")
    assert done.status == RunStatus.succeeded and done.approved_by == "bo (responder)"
    assert live_platform.platform.dns.region_weight["us-east"] == 0.0
    assert done.changes["drain"]["weight"] == {"old": 1.0, "new": 0.0}
    with pytest.raises(ApprovalError):
        rem.approve(run_id=run.id, approver="cy (responder)")


def test_rejection_frees_the_target(live_platform: LivePlatform, engine: Any, settings: Any) -> None:
    rem = make_remediator(live_platform, engine, settings)
    run, _ = rem.request(runbook="region-failover", target="us-east", requested_by="ana")
    assert rem.reject(run_id=run.id, rejecter="bo", reason="not yet").status == RunStatus.rejected
    again, created = rem.request(runbook="region-failover", target="us-east", requested_by="ana")
    assert created and again.id != run.id


def test_idempotency_key_returns_the_same_run(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings)
    first, created = rem.request(
        runbook="origin-scale-out",
        target="origin",
        params={"factor": 3},
        requested_by="ana",
        idempotency_key="k-1",
    )
    second, created2 = rem.request(
        runbook="origin-scale-out",
        target="origin",
        params={"factor": 3},
        requested_by="ana",
        idempotency_key="k-1",
    )
    assert created and not created2 and first.id == second.id and first.status == RunStatus.succeeded
    assert live_platform.platform.cdn.origin.capacity_factor == 3.0  # applied once, not 9


def test_verification_rolls_back_when_the_sli_got_worse(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    readings = iter([0.01] + [0.2] * 100)  # baseline, then worse after the change
    rem = make_remediator(live_platform, engine, settings, sli_probe=lambda target: next(readings))
    run, _ = rem.request(runbook="pop-drain", target="ashburn-1", requested_by="ana")
    assert run.status == RunStatus.rolled_back, run.outcome
    assert "worse" in run.outcome and run.verification["got_worse"]
    assert live_platform.platform.dns.pop_weight["ashburn-1"] == 1.0
    kinds = [e.kind for e in _events(engine, run.id)]
    assert kinds[-2:] == ["action_ran", "action_rolled_back"]


def test_verification_succeeds_when_the_sli_improves(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    readings = iter([0.5] + [0.0] * 100)
    rem = make_remediator(live_platform, engine, settings, sli_probe=lambda target: next(readings))
    run, _ = rem.request(runbook="pop-drain", target="ashburn-1", requested_by="ana")
    assert run.status == RunStatus.succeeded and live_platform.platform.dns.pop_weight["ashburn-1"] == 0.0


def _events(engine: Any, run_id: int) -> list[Any]:
    from streamverse.incidents import service

    with Session(engine) as s:
        return service.run_events(session=s, run_id=run_id)


def _concurrent_identical(rem: Any, n: int = 100) -> list[Any]:
    barrier = threading.Barrier(n)

    def ask(_: int) -> Any:
        barrier.wait()
        run, _created = rem.request(runbook="pop-drain", target="ashburn-1", requested_by="ana")
        return run.id

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(ask, range(n)))


def _held_remediator(live: LivePlatform, engine: Any, settings: Any, gate: threading.Event, **kw: Any) -> Any:
    """Runs execute in threads and sit in verification until `gate` opens."""
    return make_remediator(
        live,
        engine,
        settings,
        sleep=lambda s: gate.wait(30),
        spawn=lambda fn: threading.Thread(target=fn, daemon=True).start(),
        **kw,
    )


def test_100_concurrent_requests_one_run_redis(
    live_platform: LivePlatform, engine: Any, settings: Any, redis_url: str
) -> None:
    gate = threading.Event()
    rem = _held_remediator(live_platform, engine, settings, gate, redis_url=redis_url)
    ids = _concurrent_identical(rem)
    gate.set()
    assert len(set(ids)) == 1
    with Session(engine) as s:
        assert len(s.exec(select(RunbookRun)).all()) == 1


def test_100_concurrent_requests_one_run_database_lock(
    live_platform: LivePlatform, db_url: str, settings: Any
) -> None:
    engine = get_engine(db_url)
    init_db(engine)
    gate = threading.Event()
    rem = _held_remediator(live_platform, engine, settings, gate)
    ids = _concurrent_identical(rem)
    gate.set()
    assert len(set(ids)) == 1
    with Session(engine) as s:
        assert len(s.exec(select(RunbookRun)).all()) == 1


def test_reconciliation_finishes_an_applied_run_without_applying_twice(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings)
    plan = rem.plan(runbook="origin-scale-out", target="origin", params={"factor": 2})
    live_platform.platform.scale_origin(2.0)  # the crashed process had applied it
    with session_scope(engine) as s:
        s.add(
            RunbookRun(
                runbook="origin-scale-out",
                target="origin",
                params={"factor": 2},
                plan=plan,
                uid="u-1",
                status="running",
                phase=RunPhase.applying.value,
                requested_by="ana",
                requested_at=_dt(),
                changes={},
            )
        )
    calls: list[str] = []
    real = live_platform.client

    def counting_client() -> Any:
        c = real()
        orig = c.post
        c.post = lambda path, body=None: (calls.append(path), orig(path, body))[1]  # type: ignore[method-assign]
        return c

    rem.client_factory = counting_client
    [done] = rem.reconcile()
    assert done.status == RunStatus.succeeded and calls == []  # verified, never re-applied
    assert live_platform.platform.cdn.origin.capacity_factor == 2.0


def test_reconciliation_rolls_back_a_half_done_failback(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings)
    live_platform.platform.drain_region("us-east")
    plan = rem.plan(runbook="region-failback", target="us-east", params={"interval_s": 0})
    live_platform.platform.set_region_weight("us-east", 0.3)  # crashed after three steps
    with session_scope(engine) as s:
        s.add(
            RunbookRun(
                runbook="region-failback",
                target="us-east",
                params={},
                plan=plan,
                uid="u-2",
                status="running",
                phase=RunPhase.applying.value,
                requested_by="ana",
                requested_at=_dt(),
                changes={"weights_applied": [0.1, 0.2, 0.3]},
            )
        )
    [done] = rem.reconcile()
    assert done.status == RunStatus.rolled_back and "not re-applied" in done.outcome
    assert live_platform.platform.dns.region_weight["us-east"] == 0.0


def _dt() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
