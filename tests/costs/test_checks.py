"""The cost check end to end: simulator -> store -> cost check -> alerts, as a user runs it.

Real console scripts, a real embedded store and database, the real alert service and API;
nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamverse.alerts.config import load_config
from streamverse.alerts.loop import AlertService
from streamverse.alerts.rules import default_rules
from streamverse.api import service as api_service
from streamverse.clock import RealClock
from streamverse.collectors.service import make_store
from streamverse.db import get_engine, init_db, session_scope
from streamverse.settings import Settings
from streamverse.system.app import create_app

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "streamverse"


def _cli(args: list[str], data: Path) -> dict[str, Any]:
    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(data)}
    exe = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "streamverse.system.cli"]
    proc = subprocess.run(
        [*exe, *args], capture_output=True, text=True, env=env, timeout=300, cwd=data.parent
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _client(settings: Settings, role: str) -> tuple[TestClient, dict[str, str]]:
    app = create_app(settings, engine=get_engine(settings.resolved_database_url))
    with session_scope(app.state.engine) as s:
        _, token = api_service.create_token(session=s, role=role, name=f"test-{role}")
    return TestClient(app), {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
def test_viral_simulation_then_cost_check_fires_an_alert_naming_the_video(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run = _cli(
        ["simulate", "--scenario", "viral-video", "--duration", "2h", "--viewers", "1500", "--json"], data
    )
    video = run["faults"][0]["target"]

    checked = _cli(["cost", "check", "--json"], data)
    spikes = [a for a in checked["alerts"] if a["labels"]["alertname"] == "CostSpendAnomaly"]
    assert [a["labels"].get("video_id") for a in spikes] == [video]
    assert f"video {video}" in spikes[0]["annotations"]["summary"]

    # The live loop's service, on the same database and store, turns the report into an alert.
    settings = Settings(data_dir=data)
    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    loop = AlertService(
        engine=engine,
        store=make_store(settings),
        clock=RealClock(),
        rules=default_rules(),
        config=load_config(),
    )
    loop.cycle()
    client, viewer = _client(settings, "viewer")
    alerts = client.get("/api/v1/alerts", headers=viewer).json()
    cost = [a for a in alerts if a["name"] == "CostSpendAnomaly"]
    assert len(cost) == 1 and cost[0]["status"] == "firing"
    assert cost[0]["labels"]["video_id"] == video and cost[0]["labels"]["area"] == "costs"
    reported = client.get("/api/v1/alerts/history", params={"kind": "reported"}, headers=viewer).json()
    assert reported and reported[0]["author"] == "costs"

    # The API triggers the same check: a responder may, a viewer may not.
    assert client.post("/api/v1/costs/check", headers=viewer).status_code == 403
    client, responder = _client(settings, "responder")
    r = client.post("/api/v1/costs/check", headers=responder)
    assert r.status_code == 200, r.text
    assert video in {a["labels"].get("video_id") for a in r.json()["alerts"]}
    assert loop.cycle().transitions == []  # the same finding: the alert stays as it is


@pytest.mark.slow
def test_backfilled_days_fill_most_expensive_videos_and_storage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _cli(["simulate", "--backfill", "2d", "--json"], data)
    month = datetime.now(UTC).strftime("%Y-%m")
    report = _cli(["cost", "report", "--month", month, "--format", "json", "--check"], data)
    videos = report["top_videos"]
    assert isinstance(videos, list) and len(videos) == 10
    assert all(v["usd"] > 0 and v["egress_bytes"] > 0 for v in videos)
    assert isinstance(report["by_category"]["storage"], float) and report["by_category"]["storage"] > 0
    classes = report["storage_by_class"]
    assert set(classes) == {"hot", "warm", "cold", "archive"} and classes["hot"]["mean_stored_gb"] > 0
    assert report["sources"]["cache_fill"]["note"] == "shield counter"  # measured, not estimated
    assert report["alert_check"]["source"] == "costs" and "reported" in report["alert_check"]
    quiet = _cli(["cost", "report", "--month", month, "--format", "json"], data)
    assert "alert_check" not in quiet  # a report changes nothing unless asked to check

    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(data)}
    exe = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "streamverse.system.cli"]
    out = tmp_path / "r.html"
    proc = subprocess.run(
        [*exe, "cost", "report", "--month", month, "--format", "html", "-o", str(out), "--no-check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert f"<td>{videos[0]['video_id']}</td>" in page
    assert "<td>hot</td>" in page and "Storage by class" in page
