"""The control API over HTTP (TestClient and a live uvicorn) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlmodel import select

from streamverse.api import service
from streamverse.api.models import AuditRecord
from streamverse.client import ApiError, ControlClient
from streamverse.db import get_engine, session_scope
from streamverse.system.app import create_app
from tests.conftest import free_port


@pytest.fixture
def app(settings, db_url):
    boom = APIRouter()

    @boom.post("/boom")
    def _boom() -> None:
        raise RuntimeError("kaboom")

    return create_app(settings, engine=get_engine(db_url), extra_routers=[boom])


@pytest.fixture
def tokens(app) -> dict[str, str]:
    out = {}
    with session_scope(app.state.engine) as s:
        for role in ("viewer", "responder", "admin"):
            _, out[role] = service.create_token(session=s, role=role, name=f"test-{role}")
        revoked, out["revoked"] = service.create_token(session=s, role="admin", name="gone")
        service.revoke_token(session=s, token_id=revoked.id)
    return out


@pytest.fixture
def live_url(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def _audit(app) -> list[AuditRecord]:
    with session_scope(app.state.engine) as s:
        return list(s.exec(select(AuditRecord).order_by(AuditRecord.id)))


def _h(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _check_access(http: httpx.Client | TestClient, app, tokens: dict[str, str]) -> None:
    assert http.get("/api/v1/health").json()["status"] == "ok"
    # 401: missing, unknown, revoked; always with WWW-Authenticate and advice.
    for headers in ({}, _h("sv_a_" + "x" * 43), _h(tokens["revoked"]), {"Authorization": "Basic abc"}):
        r = http.get("/api/v1/whoami", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
        assert "streamverse token create" in r.json()["detail"]
    # 200 for every role on a viewer route.
    for role in ("viewer", "responder", "admin"):
        r = http.get("/api/v1/whoami", headers=_h(tokens[role]))
        assert r.status_code == 200 and r.json()["role"] == role
    # 403 for a role too low, naming the role needed.
    r = http.get("/api/v1/tokens", headers=_h(tokens["responder"]))
    assert r.status_code == 403 and "'admin'" in r.json()["detail"]
    assert http.get("/api/v1/tokens", headers=_h(tokens["admin"])).status_code == 200

    before = len(_audit(app))
    traceparent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    calls = [
        ("POST", "/api/v1/tokens", {}, 401),
        ("POST", "/api/v1/tokens", _h(tokens["viewer"]), 403),
        ("POST", "/api/v1/tokens", {**_h(tokens["admin"]), "traceparent": traceparent}, 201),
        ("POST", "/api/v1/tokens", _h(tokens["admin"]), 422),  # invalid role in the body
        ("DELETE", "/api/v1/tokens/999999", _h(tokens["admin"]), 404),
        ("DELETE", "/api/v1/tokens/1", _h(tokens["revoked"]), 401),
    ]
    bodies = [{"name": "ci", "role": "viewer"}] * 3 + [{"name": "ci", "role": "root"}] + [None, None]
    created = None
    for (method, path, headers, expect), body in zip(calls, bodies, strict=True):
        r = http.request(method, path, headers=headers, json=body)
        assert r.status_code == expect, (method, path, r.text)
        if expect == 201:
            created = r.json()
    # Reads are not audited; every state-changing call is, refused ones included.
    assert http.get("/api/v1/audit", headers=_h(tokens["admin"])).status_code == 200
    records = _audit(app)[before:]
    assert [(a.method, a.status_code) for a in records] == [(m, c) for m, _, _, c in calls]
    assert [a.outcome for a in records] == ["denied", "denied", "succeeded", "rejected", "rejected", "denied"]
    assert records[0].actor == "anonymous"
    assert records[1].actor == "test-viewer (viewer)"
    assert records[2].actor == "test-admin (admin)" and records[2].trace_id == "ab" * 16
    assert records[5].actor == "rejected token " + tokens["revoked"][:13]
    assert records[2].target["token_id"] == created["id"]
    assert all(len(a.trace_id or "") == 32 for a in records)
    # The new secret never reaches the audit trail.
    assert created["token"].startswith("sv_v_")
    assert all(created["token"] not in str(a.target) for a in _audit(app))
    # The new token works; revoking it through the API stops it at once.
    assert http.get("/api/v1/whoami", headers=_h(created["token"])).json()["name"] == "ci"
    r = http.delete(f"/api/v1/tokens/{created['id']}", headers=_h(tokens["admin"]))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert http.get("/api/v1/whoami", headers=_h(created["token"])).status_code == 401


def test_access_rules_and_audit_through_testclient(app, tokens):
    with TestClient(app) as http:
        _check_access(http, app, tokens)


def test_access_rules_and_audit_live_over_http(app, tokens, live_url):
    with httpx.Client(base_url=live_url, timeout=10) as http:
        _check_access(http, app, tokens)
        docs = http.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = http.get("/openapi.json").json()
        assert spec["paths"]["/api/v1/tokens"]["post"]["summary"]


def test_unhandled_errors_are_json_and_audited(app, tokens):
    with TestClient(app, raise_server_exceptions=False) as http:
        r = http.post("/api/v1/boom", headers=_h(tokens["admin"]))
        assert r.status_code == 500
        assert "trace id" in r.json()["detail"] and "kaboom" not in r.text
        assert r.headers["x-trace-id"] in r.json()["detail"]
    last = _audit(app)[-1]
    assert (last.path, last.status_code, last.outcome) == ("/api/v1/boom", 500, "failed")


def test_typed_client_against_live_server(app, tokens, live_url):
    with ControlClient(live_url, tokens["admin"]) as admin:
        assert admin.health().status == "ok"
        assert admin.whoami().role == "admin"
        made = admin.create_token(role="responder", name="pager")
        assert made.token.startswith("sv_r_")
        assert "pager" in [t.name for t in admin.list_tokens()]
        assert admin.audit(limit=1)[0].path == "/api/v1/tokens"
        with pytest.raises(ApiError) as err:
            admin.revoke_token(123456)
        assert err.value.status == 404 and "no token" in str(err.value)
    with ControlClient(live_url, made.token) as responder:
        with pytest.raises(ApiError) as err:
            responder.list_tokens()
        assert err.value.status == 403
    with ControlClient(live_url) as anonymous, pytest.raises(ApiError) as err:
        anonymous.whoami()
    assert err.value.status == 401
    nowhere = ControlClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with nowhere, pytest.raises(ApiError) as err:
        nowhere.health()
    assert err.value.status == 0 and "unreachable" in str(err.value)


def test_every_area_answers_under_api_v1(app):
    """Routers are imported by name, not discovered: each area's routes are really served."""
    paths = set(app.openapi()["paths"])
    for path in ("/api/v1/tokens", "/api/v1/platform/status", "/api/v1/metrics/query", "/api/v1/rum/beacons",
                 "/api/v1/slo", "/api/v1/alerts", "/api/v1/incidents", "/api/v1/runbooks",
                 "/api/v1/costs/summary", "/api/v1/reports/sla", "/api/v1/reports/cost"):
        assert path in paths, f"{path} is not served"
