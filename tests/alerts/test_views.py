"""Alertmanager webhook v4: accepted into incidents, malformed -> 422 with reasons, duplicates recognised."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from streamverse.api import service as api_service
from streamverse.db import get_engine
from streamverse.system.app import create_app


def _payload(status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="OriginDown"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "streamverse",
        "groupLabels": {"alertname": "OriginDown"},
        "commonLabels": {"alertname": "OriginDown"},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "OriginDown", "service": "origin", "severity": "page"},
                "annotations": {"summary": "origin gone"},
                "startsAt": "2024-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "abc123",
            }
        ],
    }


@pytest.fixture
def client(settings: Any) -> Any:
    app = create_app(settings, engine=get_engine(settings.resolved_database_url))
    app.state.reconcile_on_start = False
    app.state.incident_policies = []  # correlation only: no platform to act on here
    with Session(app.state.engine) as s:
        _, secret = api_service.create_token(session=s, role="responder", name="am")
        _, viewer = api_service.create_token(session=s, role="viewer", name="v")
        s.commit()
    with TestClient(app) as http:
        yield http, secret, viewer


def test_webhook_opens_incident_and_recognises_duplicate(client: Any) -> None:
    http, secret, _ = client
    h = {"Authorization": f"Bearer {secret}"}
    first = http.post("/api/v1/webhooks/alertmanager", json=_payload(), headers=h)
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False and len(first.json()["incident_ids"]) == 1
    again = http.post("/api/v1/webhooks/alertmanager", json=_payload(), headers=h)
    assert again.json() == {"duplicate": True, "incident_ids": first.json()["incident_ids"]}
    incidents = http.get("/api/v1/incidents", headers=h).json()
    assert len(incidents) == 1 and incidents[0]["alerts"][0]["fingerprint"] == "am:abc123"
    resolved = http.post(f"/api/v1/webhooks/alertmanager?token={secret}", json=_payload("resolved"))
    assert resolved.status_code == 200 and resolved.json()["duplicate"] is False
    assert http.get(f"/api/v1/incidents/{incidents[0]['id']}", headers=h).json()["status"] == "resolved"


def test_malformed_payload_is_422_with_reason(client: Any) -> None:
    http, secret, viewer = client
    h = {"Authorization": f"Bearer {secret}"}
    bad = _payload()
    bad["version"] = "3"
    del bad["alerts"][0]["startsAt"]
    r = http.post("/api/v1/webhooks/alertmanager", json=bad, headers=h)
    assert r.status_code == 422
    reasons = " ".join(r.json()["detail"]["reasons"])
    assert "version" in reasons and "startsAt" in reasons
    assert http.post("/api/v1/webhooks/alertmanager", json=_payload()).status_code == 401
    assert (
        http.post(
            "/api/v1/webhooks/alertmanager", json=_payload(), headers={"Authorization": f"Bearer {viewer}"}
        ).status_code
        == 403
    )


def test_silences_crud_and_alert_lists(client: Any) -> None:
    http, secret, viewer = client
    h, v = {"Authorization": f"Bearer {secret}"}, {"Authorization": f"Bearer {viewer}"}
    made = http.post(
        "/api/v1/silences",
        json={"matchers": ['alertname="PopDown"'], "duration": "1h", "comment": "maintenance"},
        headers=h,
    )
    assert made.status_code == 201 and made.json()["active"] is True
    assert (
        http.post(
            "/api/v1/silences", json={"matchers": ["nonsense"], "duration": "1h"}, headers=h
        ).status_code
        == 422
    )
    assert (
        http.post("/api/v1/silences", json={"matchers": ['a="b"'], "duration": "1h"}, headers=v).status_code
        == 403
    )
    assert [s["id"] for s in http.get("/api/v1/silences", headers=v).json()] == [made.json()["id"]]
    gone = http.delete(f"/api/v1/silences/{made.json()['id']}", headers=h)
    assert gone.json()["active"] is False
    assert http.get("/api/v1/silences", headers=v).json() == []
    kinds = [x["kind"] for x in http.get("/api/v1/alerts/history", headers=v).json()]
    assert kinds == ["silence_expired", "silence_created"]
    assert http.get("/api/v1/alerts", headers=v).json() == []
