"""Drills: inject a fault, let alerting, incidents and runbooks act, and time each step.

Fast-forward (`--fast`) runs the platform on a virtual clock with telemetry written to a
private store every scrape interval; the alert loop evaluates every `eval_interval_s`, an alert
opens an incident through the incidents area, whose policies run runbooks against the
platform's real control app (in-process). Recovery is the affected users' error ratio over a
30 s window back within the SLO objective.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from streamverse.clock import utc_iso
from streamverse.errors import UsageError
from streamverse.system.drill_report import (
    DEFAULT_OBJECTIVE,
    RECOVERY_WINDOW_S,
    RecoveryWatch,
    health_checked_pops,
)

DRILL_SCENARIOS = ("region-outage", "pop-outage", "origin-loss", "viral-video", "ddos")
KEY = "drill-control-key"


def _affected_regions(ff: Any, scenario: str, target: str) -> list[int]:
    if scenario in ("region-outage", "ddos"):
        return [ff.regions.index(target)] if target in ff.regions else list(range(len(ff.regions)))
    if scenario == "pop-outage" and target in ff.pop_index:
        return [int(ff.pop_region[ff.pop_index[target]])]
    return list(range(len(ff.regions)))


def run_fast(
    scenario: str,
    *,
    settings: Any,
    target: str | None = None,
    seed: int = 7,
    viewers: int = 2000,
    lead_s: float = 60.0,
    max_s: float = 900.0,
    scrape_s: float = 5.0,
    eval_interval_s: float = 5.0,
    objective: float = DEFAULT_OBJECTIVE,
    on_step: Callable[[str, float], None] | None = None,
    start_ts: float | None = None,
) -> dict[str, Any]:
    """One drill on the virtual clock; returns the CONTRACT's `drill --json` report."""
    from fastapi.testclient import TestClient

    from streamverse.alerts.config import load_config
    from streamverse.alerts.loop import AlertService
    from streamverse.alerts.rules import default_rules
    from streamverse.collectors.embedded import EmbeddedStore
    from streamverse.collectors.snapshots import SnapshotCollector
    from streamverse.db import get_engine, init_db
    from streamverse.platform.control_app import create_platform_control_app
    from streamverse.platform.fastforward import FastForward
    from streamverse.platform.faults import SCENARIOS
    from streamverse.platform.topology import load_topology
    from streamverse.remediation.control import ControlClient
    from streamverse.remediation.flows import Remediator
    from streamverse.remediation.guardrails import DbLock, GuardrailConfig
    from streamverse.system.tables import register_tables

    if scenario not in DRILL_SCENARIOS:
        raise UsageError(f"no drill {scenario!r}; choose one of {', '.join(DRILL_SCENARIOS)}")
    work = Path(tempfile.mkdtemp(prefix="streamverse-drill-"))
    store = EmbeddedStore.at_path(work / "metrics.db")
    engine = get_engine(f"sqlite:///{work / 'drill.db'}")
    init_db(engine, *register_tables())
    topology = load_topology(getattr(settings, "topology_file", None))
    # The virtual clock starts so the fault lands on the last whole minute of real now.
    start = start_ts if start_ts is not None else float(int(time.time() // 60 * 60)) - lead_s
    ff = FastForward(
        topology=topology,
        duration_s=lead_s + max_s,
        seed=seed,
        viewers=viewers,
        sink=SnapshotCollector(store),
        start_ts=start,
        telemetry_step_s=scrape_s,
        step_s=1.0,
    )
    ff.prewarm()
    target = target or SCENARIOS[scenario].default_target
    if scenario == "viral-video" and target is None:  # a mid-catalogue title: cold in every cache
        target = str(int(ff.catalog["video_id"][len(ff.catalog["video_id"]) // 2]))
    fault_at = start + lead_s
    fault = ff.platform.inject_fault(scenario, target=target, duration_s=max_s * 2, start=fault_at)
    target = fault.target
    tc = TestClient(create_platform_control_app(ff.platform, key=KEY, video_objects=ff.video_objects))

    affected = _affected_regions(ff, scenario, str(target))
    window: deque[tuple[float, float]] = deque(maxlen=int(RECOVERY_WINDOW_S))
    watch = RecoveryWatch(objective=objective)
    state: dict[str, Any] = {
        "detected_at": None,
        "detected_by": None,
        "incident_id": None,
        "next_eval": start + eval_interval_s,
    }
    scope_pops = health_checked_pops(ff.platform.topology, scenario, str(target))
    events: list[Any] = []

    names = {ff.regions[i] for i in affected}
    local = len(affected) < len(ff.regions)

    def relevant(labels: dict[str, str]) -> bool:
        region = labels.get("region")
        return region in names if local else (region is None or region in names)

    def hook(ev: Any) -> None:
        events.append(ev)

    alerts = AlertService(
        engine=engine,
        store=store,
        clock=ff.clock,
        rules=default_rules(),
        config=load_config(evaluation_interval=eval_interval_s),
        on_alert=hook,
    )

    def step() -> None:
        before_ok = ff.tot["ok"][affected].sum()
        before_fail = ff.tot["fail"][affected].sum()
        ff.step()
        now = ff.clock.now()
        window.append(
            (ff.tot["ok"][affected].sum() - before_ok, ff.tot["fail"][affected].sum() - before_fail)
        )
        if now >= fault_at and len(window) == window.maxlen:
            ok, fail = np.sum(list(window), axis=0)
            ratio = fail / (ok + fail) if ok + fail else 1.0  # nobody served is not a recovery
            if watch.observe(float(ratio), now) and on_step:
                on_step("affected viewers recovered", now - fault_at)
        if now >= fault_at and state["detected_at"] is None:
            down = [p for p in scope_pops if not ff.platform.health.healthy(p)]
            if down:  # the GeoDNS health checks saw it (they probe; they do not read the fault)
                state["detected_at"] = now
                state["detected_by"] = f"GeoDNS health checks ({', '.join(down)} down)"
                if on_step:
                    on_step(state["detected_by"], now - fault_at)
        if now >= state["next_eval"]:
            state["next_eval"] += eval_interval_s
            ff.telemetry.flush()
            res = alerts.cycle()
            for tr in res.transitions:
                if (
                    tr.to.value == "firing"
                    and now >= fault_at
                    and state["detected_at"] is None
                    and relevant(tr.alert.labels)
                ):
                    state["detected_at"], state["detected_by"] = now, f"alert {tr.alert.name}"
                    if on_step:
                        on_step(f"alert {tr.alert.name} firing", now - fault_at)

    def sleep(seconds: float) -> None:  # the runbooks' waits move the simulation, not the wall clock
        end = ff.clock.now() + seconds
        while ff.clock.now() < end - 1e-9:
            step()

    rem = Remediator(
        settings=settings,
        engine=engine,
        clock=ff.clock,
        lock=DbLock(engine, ff.clock),
        config=GuardrailConfig(),  # the real cooldown: a flapping alert does not run a runbook twice
        client_factory=lambda: ControlClient("http://testserver", KEY, http=tc),
        sleep=sleep,
        spawn=lambda fn: fn(),
        verify_window_s=30.0,
        verify_interval_s=5.0,
    )
    if on_step:
        on_step(f"fault {scenario} on {target}", 0.0)
    while ff.clock.now() < fault_at + max_s:
        step()
        while events:
            ev = events.pop(0)
            if ff.clock.now() < fault_at:
                continue  # background noise before the fault is not part of the drill
            incident = rem.on_alert(alert=ev)
            if (
                incident is not None
                and state["incident_id"] is None
                and ev.status == "firing"
                and relevant(ev.labels)
            ):
                state["incident_id"] = int(incident.id)
                if on_step:  # the runbooks ran inside on_alert: the incident opened before they did
                    opened = incident.started_at
                    opened_ts = (opened.replace(tzinfo=UTC) if opened.tzinfo is None else opened).timestamp()
                    on_step(f"incident {incident.id}", opened_ts - fault_at)
        if state["detected_at"] is not None and watch.settled(state["detected_at"], ff.clock.now()):
            break
    tc.close()
    return _report(scenario, str(target), fault_at, state, watch, engine)


def _report(
    scenario: str, target: str, fault_at: float, state: dict[str, Any], watch: RecoveryWatch, engine: Any
) -> dict[str, Any]:
    from sqlmodel import Session, col, select

    from streamverse.remediation.models import RunbookRun

    actions = []
    if state["incident_id"] is not None:  # every run the loop started after the fault, any incident
        since = datetime.fromtimestamp(fault_at, tz=UTC)
        with Session(engine) as s:
            for run in s.exec(
                select(RunbookRun)
                .where(col(RunbookRun.requested_at) >= since)
                .order_by(col(RunbookRun.id))
            ):
                at = run.finished_at or run.started_at or run.requested_at
                actions.append(
                    {
                        "action": run.runbook.replace("region-failover", "failover"),
                        "runbook": run.runbook,
                        "target": run.target,
                        "status": run.status,
                        "at": utc_iso(at.timestamp()) if at else None,
                    }
                )
    det, rec = state["detected_at"], watch.recovered_at
    return {
        "scenario": scenario,
        "target": target,
        "fault_at": utc_iso(fault_at),
        "detected_at": utc_iso(det) if det else None,
        "detected_by": state["detected_by"],
        "incident_id": state["incident_id"],
        "actions": actions,
        "recovered_at": utc_iso(rec) if rec else None,
        "mttd_s": round(det - fault_at, 3) if det else None,
        **watch.fields(fault_at),
        "mode": "fast-forward",
    }
