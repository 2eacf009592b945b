"""Incident and runbook routes over HTTP: roles, lifecycle errors, runs approved by a second person."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamverse.api import service as api_service
from streamverse.db import get_engine, session_scope
from streamverse.remediation.policies import parse_policies
from streamverse.settings import Settings
from streamverse.system.app import create_app
from tests.incidents.conftest import KEY, LivePlatform, make_remediator


@pytest.fixture
def api(tmp_path: Any, live_platform: LivePlatform) -> Any:
    settings = Settings(
        data_dir=tmp_path / "d",
        jwt_secret="x" * 40,
        platform_control_url=live_platform.url,
        platform_control_key=KEY,
    )
    engine = get_engine(settings.resolved_database_url)
    app = create_app(settings, engine=engine)
    app.state.reconcile_on_start = False
    app.state.remediator = make_remediator(live_platform, engine, settings)
    tokens = {}
    with session_scope(engine) as s:
        for name, role in (("vi", "viewer"), ("ana", "responder"), ("bo", "responder")):
            _, tokens[name] = api_service.create_token(session=s, role=role, name=name)
    with TestClient(app) as client:
        yield client, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


def test_incident_routes_and_roles(api: Any) -> None:
    client, h = api
    assert client.post("/api/v1/incidents", json={"title": "x"}, headers=h["vi"]).status_code == 403
    made = client.post(
        "/api/v1/incidents",
        json={"title": "edge errors", "severity": "sev2", "region": "us-east"},
        headers=h["ana"],
    )
    assert made.status_code == 201, made.text
    iid = made.json()["id"]
    assert client.post(f"/api/v1/incidents/{iid}/postmortem", headers=h["ana"]).status_code == 409
    assert (
        client.post(f"/api/v1/incidents/{iid}/ack", headers=h["bo"]).json()["commander"] == "bo (responder)"
    )
    assert (
        client.post(
            f"/api/v1/incidents/{iid}/notes", json={"message": "looking"}, headers=h["bo"]
        ).status_code
        == 201
    )
    assert client.post(f"/api/v1/incidents/{iid}/resolve", headers=h["bo"]).json()["status"] == "resolved"
    pm = client.post(
        f"/api/v1/incidents/{iid}/postmortem", json={"error_budget_burned": 0.1}, headers=h["bo"]
    )
    assert pm.status_code == 200 and pm.json()["impact"]["error_budget_burned"] == 0.1
    timeline = client.get(f"/api/v1/incidents/{iid}/timeline", headers=h["vi"]).json()
    assert [e["kind"] for e in timeline].count("status_changed") == 4
    assert client.get("/api/v1/incidents/999", headers=h["vi"]).status_code == 404


def test_run_needs_a_second_person_over_http(api: Any, live_platform: LivePlatform) -> None:
    client, h = api
    plan = client.post("/api/v1/runbooks/region-failover/plan", json={"target": "us-east"}, headers=h["ana"])
    assert plan.status_code == 200 and plan.json()["changes"][0]["new"] == 0.0
    asked = client.post(
        "/api/v1/runbooks/region-failover/runs",
        json={"target": "us-east"},
        headers={**h["ana"], "Idempotency-Key": "abc"},
    )
    assert asked.status_code == 201 and asked.json()["status"] == "awaiting_approval"
    rid = asked.json()["id"]
    again = client.post(
        "/api/v1/runbooks/region-failover/runs",
        json={"target": "us-east"},
        headers={**h["ana"], "Idempotency-Key": "abc"},
    )
    assert again.status_code == 200 and again.json()["id"] == rid
    assert client.post(f"/api/v1/runs/{rid}/approve", headers=h["vi"]).status_code == 403
    assert client.post(f"/api/v1/runs/{rid}/approve", headers=h["ana"]).status_code == 403
    done = client.post(f"/api/v1/runs/{rid}/approve", headers=h["bo"])
    assert done.status_code == 200 and done.json()["status"] == "succeeded", done.text
    assert live_platform.platform.dns.region_weight["us-east"] == 0.0
    run = client.get(f"/api/v1/runs/{rid}", headers=h["vi"]).json()
    assert run["approved_by"] == "bo (responder)" and run["playbook"] == "docs/runbooks/region-failover.md"
    assert "action_approved" in [e["kind"] for e in run["events"]]
    book = client.get("/api/v1/runbooks/region-failover/playbook", headers=h["vi"])
    assert book.status_code == 200 and "roll back by hand" in book.text


def test_alert_event_with_suggest_policy_links_the_playbook(api: Any) -> None:
    client, h = api
    client.app.state.incident_policies = parse_policies(
        "policies:\n  - name: pop\n    match: ['alertname=\"PopDown\"']\n    mode: suggest\n"
        '    actions: [{runbook: pop-drain, target: "{pop}"}]\n'
    )
    body = {"fingerprint": "f1", "name": "PopDown", "labels": {"pop": "tokyo-7", "region": "ap-northeast"}}
    inc = client.post("/api/v1/incidents/alerts", json=body, headers=h["ana"])
    assert inc.status_code == 200, inc.text
    assert inc.json()["runbook_links"][0]["playbook"] == "docs/runbooks/pop-drain.md"
    assert client.get("/api/v1/runs", headers=h["vi"]).json() == []  # suggested, not run


def test_policy_file_errors_name_line_and_field() -> None:
    from streamverse.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_policies(
            'policies:\n  - name: a\n    match: ["severity=page"]\n    mode: sometimes\n'
            "    actions: [{runbook: pop-drain, target: x}]\n",
            "p.yaml",
        )
    assert "p.yaml:4" in str(err.value) and "policies.0.mode" in str(err.value)
