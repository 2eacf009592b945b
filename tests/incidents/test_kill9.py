"""`kill -9` of the control plane in the middle of a runbook run: after restart the run is finished
or rolled back (never left running, never re-applied), through the real API process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.incidents.conftest import KEY, LivePlatform

SERVE = """
import sys, uvicorn
from streamverse.system.app import create_app
from streamverse.settings import Settings
uvicorn.run(create_app(Settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=0.5)
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "API died") from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the control API did not start")


def _token(env: dict[str, str], name: str) -> str:
    cmd = [sys.executable, "-m", "streamverse.system.cli", "token", "create", "--role", "admin",
           "--name", name, "--json"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    import json

    return str(json.loads(out.stdout.strip().splitlines()[-1])["token"])


@pytest.mark.slow
def test_kill9_mid_failback_then_restart_reconciles(live_platform: LivePlatform, tmp_path: Path) -> None:
    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(tmp_path / "data"),
           "STREAMVERSE_PLATFORM_CONTROL_URL": live_platform.url, "STREAMVERSE_PLATFORM_CONTROL_KEY": KEY,
           "STREAMVERSE_JWT_SECRET": "kill9-secret-" + "x" * 32}
    env.pop("STREAMVERSE_DATABASE_URL", None)
    token = _token(env, "ana")
    live_platform.platform.drain_region("us-east")
    port = free_port()
    api = _start(env, port)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        # Failback is gradual: 10 steps, 0.5 s apart; approve it (high blast) as a second person.
        r = httpx.post(f"{base}/runbooks/region-failback/runs", headers=headers, timeout=10,
                       json={"target": "us-east", "params": {"step": 0.1, "interval_s": 0.5}})
        assert r.status_code in (200, 201), r.text
        run: dict[str, Any] = r.json()
        if run["status"] == "awaiting_approval":
            other = _token(env, "bo")
            r = httpx.post(f"{base}/runs/{run['id']}/approve", headers={"Authorization": f"Bearer {other}"},
                           timeout=10)
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while live_platform.platform.dns.region_weight["us-east"] < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        mid = httpx.get(f"{base}/runs/{run['id']}", headers=headers, timeout=10).json()
        state = {k: mid[k] for k in ("status", "outcome", "phase")}
        assert 0.0 < live_platform.platform.dns.region_weight["us-east"] < 1.0, state  # mid-run
        api.send_signal(signal.SIGKILL)
        api.wait(10)
        weight_at_kill = live_platform.platform.dns.region_weight["us-east"]
        time.sleep(1.0)
        assert live_platform.platform.dns.region_weight["us-east"] == weight_at_kill  # nobody applies now

        api = _start(env, port)  # start-up reconciles in the background
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = httpx.get(f"{base}/runs/{run['id']}", headers=headers, timeout=10).json()
            if got["status"] not in ("running", "approved"):
                break
            time.sleep(0.2)
        assert got["status"] in ("succeeded", "rolled_back", "failed"), got
        assert "restart" in (got.get("outcome") or ""), got
        weight = live_platform.platform.dns.region_weight["us-east"]
        if got["status"] == "rolled_back":
            assert weight == 0.0  # back where the run started, not half-way
        # Never re-applied after the restart: the weight does not climb any more.
        time.sleep(1.5)
        assert live_platform.platform.dns.region_weight["us-east"] == weight
    finally:
        api.kill()
        api.wait(10)
