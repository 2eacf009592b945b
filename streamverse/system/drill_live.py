"""Live drills: a real fault on a running system, timed from the outside through its APIs.

Against a running `streamverse up` (data_dir/live.json names its URLs, live_tokens.json its
tokens) or, when none runs, a live system started in this process on free ports with a
private data dir. The fault goes in through the platform's control endpoints; the drill then
polls the control API (alerts, incidents, runbook runs) and the metric store:
MTTD = fault -> first relevant alert's `fired_at`; MTTR = fault -> the affected users' error
ratio over 30 s back within the SLO objective (read from the store at each poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from streamverse.client import ControlClient as ApiClient
from streamverse.clock import utc_iso
from streamverse.errors import UsageError
from streamverse.livefile import read_live, read_tokens
from streamverse.metricstore import MetricStore
from streamverse.remediation.control import ControlClient
from streamverse.remediation.probes import error_ratio
from streamverse.system.drill_fast import DRILL_SCENARIOS
from streamverse.system.drill_report import (
    DEFAULT_OBJECTIVE,
    RECOVERY_WINDOW_S,
    RecoveryWatch,
    health_checked_pops,
)


@dataclass
class LiveTarget:
    """Where a live system answers and how to get in."""

    api_url: str
    control_url: str
    control_key: str
    token: str
    settings: Any
    topology: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def running_target(settings: Any) -> LiveTarget | None:
    """The `up` described by data_dir/live.json when it is alive and answering, else None."""
    from streamverse.platform.topology import load_topology

    live, tokens = read_live(settings.data_dir), read_tokens(settings.data_dir)
    if not live or "admin" not in tokens or not _pid_alive(int(live.get("pid", -1))):
        return None
    try:
        httpx.get(f"{live['platform_control_url']}/health", timeout=2.0).raise_for_status()
    except httpx.HTTPError:
        return None
    return LiveTarget(live["api_url"], live["platform_control_url"], settings.resolved_control_key,
                      tokens["admin"], settings, load_topology(settings.topology_file))


class LiveThread:
    """A live system on its own event loop in a thread (servers, viewers, telemetry, alert loop)."""

    def __init__(self, settings: Any, **options: Any) -> None:
        from streamverse.system.live import start_live_system

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="live-system")
        self.thread.start()
        try:
            self.system = self.call(start_live_system(settings, **options), timeout=120)
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the system's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop every server, then the loop."""
        try:
            self.call(self.system.stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def private_settings(settings: Any, data_dir: Path) -> Any:
    """The settings with a private data dir and free ports (SQLite there, embedded store there)."""
    from streamverse.settings import Settings

    values = settings.model_dump()
    values.update(data_dir=data_dir, base_port=0, database_url=None, platform_control_url=None,
                  metric_store="embedded", jwt_secret=None, platform_control_key=None)
    return Settings(**values)


@contextlib.contextmanager
def in_process_system(settings: Any, *, viewers: int = 24, scrape_s: float = 5.0,
                      alert_interval_s: float = 5.0) -> Iterator[tuple[LiveTarget, LiveThread]]:
    """A whole live system in this process on free ports, for a drill when no `up` runs."""
    work = Path(tempfile.mkdtemp(prefix="streamverse-live-drill-"))
    own = private_settings(settings, work)
    live = LiveThread(own, viewers=viewers, health_interval_s=1.0, watch_s=(20.0, 60.0),
                      telemetry_options={"scrape_interval_s": scrape_s, "probes": False},
                      alert_interval_s=alert_interval_s)
    try:
        system = live.system
        yield LiveTarget(system.urls["api"], system.urls["platform_control"], own.resolved_control_key,
                         system.tokens["admin"], own, system.platform.topology), live
    finally:
        live.stop()


def _ts(value: Any) -> float | None:
    if not value:
        return None
    d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if d.tzinfo is None:
        from datetime import UTC

        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def _scope(topology: Any, scenario: str, target: str) -> tuple[str | None, str | None, set[str]]:
    """(edge label, value, regions of the affected users) of a fault."""
    regions = {r.name for r in topology.regions}
    pop_region = {p.name: r.name for r in topology.regions for p in r.pops}
    if target in regions:
        return "region", target, {target}
    if target in pop_region:  # a dead PoP stops reporting: its region's edges and viewers tell
        return "region", pop_region[target], {pop_region[target]}
    return None, None, regions


def run_live(scenario: str, *, target: LiveTarget, fault_target: str | None = None, max_s: float = 300.0,
             poll_s: float = 1.0, objective: float = DEFAULT_OBJECTIVE, duration_s: float | None = None,
             on_step: Callable[[str, float], None] | None = None, clear_after: bool = True) -> dict[str, Any]:
    """Inject `scenario`, watch detection, incident, remediation and recovery; the CONTRACT report."""
    from streamverse.collectors.service import make_store

    if scenario not in DRILL_SCENARIOS:
        raise UsageError(f"no drill {scenario!r}; choose one of {', '.join(DRILL_SCENARIOS)}")
    store = make_store(target.settings)
    api = ApiClient(target.api_url, target.token, timeout=10.0)
    ctl = ControlClient(target.control_url, target.control_key)
    step = on_step or (lambda _m, _t: None)
    try:
        body: dict[str, Any] = {"scenario": scenario, "duration_s": duration_s or max_s * 2}
        if scenario == "viral-video" and not fault_target:
            fault_target = _mid_catalogue_video(target.settings)
        if fault_target:
            body["target"] = fault_target
        fault = ctl.post("/control/faults", body)
        fault_at = _ts(fault.get("start")) or time.time()
        where = str(fault.get("target") or fault_target or "")
        label, value, regions = _scope(target.topology, scenario, where)
        step(f"fault {scenario} on {where}", 0.0)
        watch = RecoveryWatch(objective=objective)
        state: dict[str, Any] = {"detected_at": None, "detected_by": None, "incident_id": None,
                                 "done_at": None, "actions": []}
        scope_pops = health_checked_pops(target.topology, scenario, where)

        def relevant(labels: dict[str, Any]) -> bool:
            region = labels.get("region")
            if label is None or scenario == "ddos":  # the live gateway is one, for every region
                return region is None or region in regions
            return region in regions or labels.get("pop") == value

        deadline = fault_at + max_s
        while time.time() < deadline:
            now = time.time()
            if state["detected_at"] is None:
                fired = sorted((t, a.name) for a in api.alerts(limit=5000) if relevant(a.labels or {})
                               if (t := _epoch(a.fired_at)) is not None and t >= fault_at - 1.0)
                down = _unhealthy(ctl, scope_pops)
                if fired:
                    state["detected_at"], state["detected_by"] = fired[0][0], f"alert {fired[0][1]}"
                elif down:  # the GeoDNS health checks probed and failed; the status reports what they saw
                    state["detected_at"] = now
                    state["detected_by"] = f"GeoDNS health checks ({', '.join(down)} down)"
                if state["detected_at"] is not None:
                    step(f"detected by {state['detected_by']}", state["detected_at"] - fault_at)
            if state["detected_at"] is not None and state["incident_id"] is None:
                for inc in sorted(api.incidents(), key=lambda i: i.id):
                    started = inc.started_at.timestamp()
                    if started >= fault_at - 1.0:
                        state["incident_id"] = int(inc.id)
                        step(f"incident {inc.id} opened", started - fault_at)
                        break
            if state["incident_id"] is not None and state["done_at"] is None:
                runs = [r for r in api.runs() if r.requested_at.timestamp() >= fault_at - 1.0]
                state["actions"] = runs
                finished = [r for r in runs if r.status in ("succeeded", "failed", "rolled_back")]
                if finished:
                    state["done_at"] = max(_epoch(r.finished_at) or now for r in finished)
                    step(f"remediation {finished[-1].runbook} {finished[-1].status}",
                         state["done_at"] - fault_at)
            if watch.observe(_affected_ratio(store, label, value, regions, now), now):
                step("affected viewers recovered", now - fault_at)
            settled = watch.settled(state["detected_at"], now)
            if settled and state["detected_at"] is not None and (
                    state["done_at"] is not None or state["incident_id"] is None or not watch.recovered_at
                    or (not state["actions"] and now - watch.recovered_at >= 15.0)):
                break  # recovered (or never hurt) with nothing automatic to wait for
            time.sleep(poll_s)
        if clear_after and fault.get("id"):
            with contextlib.suppress(Exception):
                ctl.request("DELETE", f"/control/faults/{fault['id']}")
        if state["incident_id"] is not None:
            state["actions"] = [r for r in api.runs() if r.requested_at.timestamp() >= fault_at - 1.0]
    finally:
        api.close()
        ctl.close()
    return _report(scenario, where, fault_at, state, watch)


def _epoch(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _mid_catalogue_video(settings: Any) -> str:
    """A title from the middle of the popular list: viewers rarely pick it until it goes viral."""
    from streamverse.db import get_engine, session_scope
    from streamverse.platform.catalog import list_videos

    with session_scope(get_engine(settings.resolved_database_url)) as s:
        videos = list_videos(session=s, limit=100)
    if not videos:
        raise UsageError("the catalogue has no playable video to make viral; pass --target VIDEO_ID")
    return str(videos[len(videos) // 2].id)


def _affected_ratio(store: MetricStore, label: str | None, value: str | None, regions: set[str],
                    at: float) -> float | None:
    """The affected users' error ratio over the recovery window (worst affected region)."""
    if label is not None and value is not None:
        viewers = next(iter(regions)) if len(regions) == 1 else None
        return error_ratio(store, label=label, value=value, at=at, window_s=RECOVERY_WINDOW_S,
                           viewers_region=viewers)
    ratios = [error_ratio(store, label="region", value=r, at=at, window_s=RECOVERY_WINDOW_S,
                          viewers_region=r) for r in sorted(regions)]
    known = [r for r in ratios if r is not None]
    return max(known) if known else None


def _unhealthy(ctl: ControlClient, pops: list[str]) -> list[str]:
    """Those of `pops` the platform's health checks have taken out of DNS answers now."""
    if not pops:
        return []
    status = ctl.status()["pops"]
    return [p for p in pops if p in status and not status[p].get("healthy", True)]


def _report(scenario: str, target: str, fault_at: float, state: dict[str, Any],
            watch: RecoveryWatch) -> dict[str, Any]:
    det = state["detected_at"]
    rec = watch.recovered_at
    actions = [{"action": r.runbook.replace("region-failover", "failover"), "runbook": r.runbook,
                "target": r.target, "status": r.status,
                "at": utc_iso((r.finished_at or r.started_at or r.requested_at).timestamp())}
               for r in sorted(state["actions"], key=lambda r: r.id)]
    done = state["done_at"]
    return {"scenario": scenario, "target": target, "fault_at": utc_iso(fault_at),
            "detected_at": utc_iso(det) if det else None, "detected_by": state["detected_by"],
            "incident_id": state["incident_id"],
            "actions": actions, "remediated_at": utc_iso(done) if done else None,
            "recovered_at": utc_iso(rec) if rec else None,
            "mttd_s": round(det - fault_at, 3) if det else None,
            **watch.fields(fault_at), "mode": "live"}
