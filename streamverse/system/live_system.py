"""A running live system: its URLs, tokens, processes and the files that tell the CLI where it is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamverse.clock import RealClock, utc_iso
from streamverse.livefile import LIVE_FILE, TOKENS_FILE, read_tokens
from streamverse.platform.live.serving import Served
from streamverse.settings import Settings

DEMO_PASSWORD = "streamverse-demo"
CATALOG_TITLES = 3000
ROLES = ("viewer", "responder", "admin")
# Offsets from base_port; edges take base_port + EDGE_OFFSET onwards, in topology order.
PORTS = {"api": 0, "gateway": 1, "platform_control": 2, "accounts": 3, "catalog": 4, "playback": 5,
         "prometheus": 6, "alertmanager": 7, "uploads": 8}
EDGE_OFFSET = 10



@dataclass
class LiveSystem:
    """A running live system: its URLs, tokens and the platform, and how to stop it."""

    settings: Settings
    platform: Any
    urls: dict[str, str]
    edges: dict[str, str]
    tokens: dict[str, str]
    metrics: dict[str, Any]
    viewers: list[Any] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    telemetry: Any = None
    alerts: Any = None
    remediator: Any = None

    @property
    def live_file(self) -> Path:
        """Where the URLs are written for the CLI and the control plane."""
        return self.settings.data_dir / LIVE_FILE

    def beacons(self) -> list[dict[str, Any]]:
        """The newest QoE beacons of every live viewer, oldest first."""
        out: list[dict[str, Any]] = []
        for viewer in self.viewers:
            out.extend(viewer.beacons_as_dicts())
        return sorted(out, key=lambda b: b.get("ts", 0))

    async def stop(self) -> None:
        """Stop viewers, tickers, servers and child processes; remove live.json."""
        self.stop_event.set()
        if self.alerts is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.alerts.stop)
        if self.telemetry is not None:
            with contextlib.suppress(Exception):
                await self.telemetry.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for proc in self.processes:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), timeout=5)
                except TimeoutError:
                    proc.kill()
        for served in reversed(self.served):
            await served.stop()
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.live_file.read_text()).get("pid") == os.getpid():
                self.live_file.unlink()



def ensure_tokens(settings: Settings, engine: Any) -> dict[str, str]:
    """One control-plane token per role, made on the first run and reused while still valid."""
    from streamverse.api import service
    from streamverse.db import session_scope

    path = settings.data_dir / TOKENS_FILE
    tokens = read_tokens(settings.data_dir)
    changed = False
    with session_scope(engine) as session:
        for role in ROLES:
            secret = tokens.get(role)
            token = service.authenticate(session=session, secret=secret) if secret else None
            if token is None or token.role != role:
                _row, tokens[role] = service.create_token(session=session, role=role, name=f"live-{role}")
                changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({r: tokens[r] for r in ROLES}, indent=2))
        path.chmod(0o600)
    return {r: tokens[r] for r in ROLES}



def write_live_file(system: LiveSystem) -> None:
    data = {"pid": os.getpid(), "started_at": utc_iso(RealClock().now()), "api_url": system.urls["api"],
            "docs_url": system.urls["docs"], "gateway_url": system.urls["gateway"],
            "platform_control_url": system.urls["platform_control"], "edges": system.edges,
            "metrics": metrics_targets(system)}
    system.live_file.write_text(json.dumps(data, indent=2))


def metrics_targets(system: LiveSystem) -> dict[str, list[str]]:
    """Every /metrics endpoint by job, for Prometheus and the printed table."""
    out = {"gateway": [f"{system.urls['gateway']}/metrics"],
           "platform": [f"{system.urls['platform_control']}/metrics"],
           "edge": [f"{url}/metrics" for url in system.edges.values()]}
    if "upstream_uploads" in system.urls:
        out["uploads"] = [f"{system.urls['upstream_uploads']}/metrics"]
    return out


