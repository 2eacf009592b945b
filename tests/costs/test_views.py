"""The cost routes answer viewers and refuse anonymous callers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from streamverse.api import service
from streamverse.db import get_engine, session_scope
from streamverse.settings import Settings
from streamverse.system.app import create_app


def test_capacity_and_summary_routes(settings: Settings, tmp_path) -> None:
    app = create_app(settings, engine=get_engine(f"sqlite:///{tmp_path / 'api.db'}"))
    with session_scope(app.state.engine) as s:
        _, token = service.create_token(session=s, role="viewer", name="costs")
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/costs/capacity").status_code == 401
    r = client.get("/api/v1/costs/capacity", params={"users": 1_000_000}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["inputs"]["users"] == 1_000_000 and r.json()["monthly_cost_usd"] > 0
    r = client.get("/api/v1/costs/summary", params={"month": "2020-01"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["total_usd"] is None and r.json()["by_category"]["cdn_egress"] == "no data"
