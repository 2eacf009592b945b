"""A live platform over HTTP: an alert drains a region by policy, then failback returns it gradually."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from streamverse.alerts.models import AlertEvent
from streamverse.remediation.enums import RunStatus
from streamverse.remediation.flows import StatusProbe
from streamverse.remediation.guardrails import GuardrailError
from streamverse.remediation.policies import load_policies
from tests.incidents.conftest import LivePlatform, make_remediator


def test_alert_drains_region_then_failback_is_gradual(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    platform = live_platform.platform
    platform.inject_fault("region-outage", target="us-east", duration_s=600, params={"mode": "hard"})
    rem = make_remediator(live_platform, engine, settings, verify_window_s=0.3, verify_interval_s=0.1)
    deadline = time.monotonic() + 5  # the health checker needs a few probes to mark the region down
    while StatusProbe(live_platform.client(), "region")("us-east") != 1.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    # The burn-rate page says users hurt, not why: it only suggests a failover to a responder.
    slo_page = AlertEvent(
        fingerprint="edge-slo-us-east",
        name="EdgeAvailabilityPageBurnRate",
        severity="page",
        labels={
            "sloth_slo": "edge-availability",
            "sloth_severity": "page",
            "region": "us-east",
            "sloth_service": "streamverse",
        },
    )
    suggested = rem.on_alert(alert=slo_page, policies=load_policies())
    assert platform.dns.region_weight["us-east"] == 1.0 and rem.get(1) is None
    # RegionOutage (most of the region's requests failing) is unambiguous: the failover runs.
    page = AlertEvent(
        fingerprint="edge-us-east",
        name="RegionOutage",
        severity="page",
        labels={"region": "us-east", "service": "streamverse", "severity": "page"},
    )
    incident = rem.on_alert(alert=page, policies=load_policies())
    assert incident.id == suggested.id  # same service and region: one incident
    assert platform.dns.region_weight["us-east"] == 0.0
    run = rem.get(1)
    assert run.status == RunStatus.succeeded and run.rule == "region-down-failover"
    assert run.approved_by == "policy:region-down-failover" and run.trigger_ref == "edge-us-east"
    assert run.verification["baseline"] == 1.0 and run.verification["after"] == 0.0
    assert rem.get(1).incident_id == incident.id
    # A repeated delivery of the same alert does not run the failover again.
    rem.on_alert(alert=page, policies=load_policies())
    assert rem.get(2) is None

    platform.clear_fault(None)
    seen: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            w = platform.dns.region_weight["us-east"]
            if not seen or seen[-1] != w:
                seen.append(w)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    deadline = time.monotonic() + 5  # health checks must see the region back first
    while not platform.dns.region_healthy("us-east") and time.monotonic() < deadline:
        time.sleep(0.05)
    asked, _ = rem.request(
        runbook="region-failback",
        target="us-east",
        params={"step": 0.1, "interval_s": 0.05},
        requested_by="ana",
        incident_id=incident.id,
    )
    assert asked.status == RunStatus.awaiting_approval and platform.dns.region_weight["us-east"] == 0.0
    back = rem.approve(run_id=asked.id, approver="bo")
    stop.set()
    watcher.join(2)
    assert back.status == RunStatus.succeeded, back.outcome
    assert platform.dns.region_weight["us-east"] == 1.0
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 8  # ten steps of 10%, watched over HTTP pacing
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False))
    assert back.changes["weights_applied"] == [round(0.1 * i, 6) for i in range(1, 11)]


def test_failback_is_refused_while_hard_down_and_rolls_back_when_the_sli_worsens(
    live_platform: LivePlatform, engine: Any, settings: Any
) -> None:
    platform = live_platform.platform
    platform.drain_region("us-east")
    hard = platform.inject_fault("region-outage", target="us-east", duration_s=600, params={"mode": "hard"})
    deadline = time.monotonic() + 5
    while platform.dns.region_healthy("us-east") and time.monotonic() < deadline:
        time.sleep(0.05)
    rem = make_remediator(live_platform, engine, settings)
    with pytest.raises(GuardrailError, match="still failing its health checks"):
        rem.request(runbook="region-failback", target="us-east", params={"interval_s": 0.01},
                    requested_by="ana")
    assert platform.dns.region_weight["us-east"] == 0.0  # refused before any change
    platform.clear_fault(hard.id)
    while not all(platform.health.healthy(p.name) for p in platform.topology.region_by_name["us-east"].pops):
        assert time.monotonic() < deadline + 10
        time.sleep(0.05)
    # A gray failure passes the health checks; the region's error ratio (here a probe that
    # worsens once viewers return) is what stops the failback and rolls it back.
    worse = iter([0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    rem = make_remediator(live_platform, engine, settings, sli_probe=lambda _t: next(worse, 0.5))
    asked, _ = rem.request(
        runbook="region-failback", target="us-east", params={"interval_s": 0.01}, requested_by="ana"
    )
    run = rem.approve(run_id=asked.id, approver="bo")
    assert run.status == RunStatus.rolled_back, run.outcome
    assert len(run.changes["weights_applied"]) == 1 and platform.dns.region_weight["us-east"] == 0.0
