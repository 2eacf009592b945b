"""Failback as the seed describes it: refused while the region fails, automatic once it is healthy,
gradual, and stoppable, against a real platform control app."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from streamverse.remediation.failback import POLICY, FailbackWatcher
from streamverse.remediation.guardrails import GuardrailError
from tests.incidents.conftest import LivePlatform, make_remediator


def _wait(pred: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _failover(rem: Any, region: str = "us-east") -> Any:
    run, _ = rem.request(runbook="region-failover", target=region, requested_by="policy:region-down-failover",
                         pre_approved_by="policy:region-down-failover")
    run = rem.get(run.id)
    assert run.status == "succeeded", run.outcome
    return run


def test_failback_is_refused_while_the_region_still_fails(live_platform: LivePlatform, engine: Any,
                                                          settings: Any) -> None:
    rem = make_remediator(live_platform, engine, settings)
    fault = live_platform.platform.inject_fault("region-outage", target="us-east", duration_s=60,
                                                params={"mode": "hard"})
    _wait(lambda: not live_platform.platform.health.healthy("ashburn-1"))  # the probes saw it
    with pytest.raises(GuardrailError, match="still failing its health checks"):
        rem.plan(runbook="region-failback", target="us-east")
    live_platform.platform.clear_fault(fault.id)
    _wait(lambda: all(live_platform.platform.health.healthy(p.name)
                      for p in live_platform.platform.topology.region_by_name["us-east"].pops))
    assert rem.plan(runbook="region-failback", target="us-east")["changes"][0]["new"] == 1.0


def test_a_healthy_failed_over_region_fails_back_gradually_by_itself(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings)
    failover = _failover(rem)
    assert live_platform.platform.dns.region_weight["us-east"] == 0.0
    watcher = FailbackWatcher(rem, healthy_for_s=0.3, step=0.5, interval_s=0.05)
    assert watcher.check() == []  # healthy now, but not for long enough yet
    time.sleep(0.35)
    [run_id] = watcher.check()
    run = rem.get(run_id)
    assert (run.runbook, run.status, run.rule) == ("region-failback", "succeeded", POLICY)
    assert run.trigger == "policy"
    assert run.approved_by.startswith(f"policy:{POLICY}") and run.incident_id == failover.incident_id
    assert run.changes["weights_applied"] == [0.5, 1.0]
    assert live_platform.platform.dns.region_weight["us-east"] == 1.0
    assert watcher.check() == []  # nothing left to fail back


def test_a_region_drained_by_hand_is_left_alone(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    rem = make_remediator(live_platform, engine, settings)
    with live_platform.client() as ctl:
        ctl.post("/control/dns/regions/eu-west/weight", {"weight": 0.0})
    watcher = FailbackWatcher(rem, healthy_for_s=0.0, step=0.5, interval_s=0.05)
    assert watcher.check() == [] and watcher.check() == []
    assert live_platform.platform.dns.region_weight["eu-west"] == 0.0


def test_a_running_failback_stops_at_the_next_step_and_holds(live_platform: LivePlatform, engine: Any,
                                                             settings: Any) -> None:
    rem = make_remediator(live_platform, engine, settings,
                          spawn=lambda fn: threading.Thread(target=fn, daemon=True).start())
    first, _ = rem.request(runbook="region-failover", target="us-east", requested_by="ana",
                           pre_approved_by="ana")
    _wait(lambda: rem.get(first.id).status == "succeeded")
    run, _ = rem.request(runbook="region-failback", target="us-east",
                         params={"step": 0.25, "interval_s": 1.0}, requested_by="ana", pre_approved_by="bob")
    _wait(lambda: rem.get(run.id).changes.get("weights_applied") == [0.25])
    stopped = rem.request_stop(run_id=run.id, by="carla (responder)")
    assert stopped.status == "running"
    _wait(lambda: rem.get(run.id).status == "stopped")
    assert rem.get(run.id).outcome.startswith("stopped by carla")
    assert live_platform.platform.dns.region_weight["us-east"] == 0.25  # held, not rolled back
    with pytest.raises(Exception, match="only a running run can be stopped"):
        rem.request_stop(run_id=run.id, by="carla")
