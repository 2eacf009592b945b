"""The cost check's ways in: the live alert loop's periodic job and the API route."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from streamverse.alerts import service as alerts
from streamverse.api import service
from streamverse.clock import RealClock
from streamverse.collectors.service import make_store
from streamverse.db import get_engine, init_db, session_scope
from streamverse.settings import Settings
from streamverse.system.app import create_app
from streamverse.system.loops import default_checks, start_alert_loop


def _settings(tmp_path: Path, **kw: float) -> Settings:
    return Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 32, **kw)


def test_the_live_loop_runs_the_cost_check_every_interval(tmp_path: Path) -> None:
    settings = _settings(tmp_path, cost_check_interval_s=120.0)
    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    store = make_store(settings)
    disabled = default_checks(
        settings=_settings(tmp_path, cost_check_interval_s=0), engine=engine, clock=RealClock(), store=store
    )
    assert [c.name for c in disabled] == ["compaction"]  # no cost check; the embedded store still compacts
    check = {c.name: c for c in default_checks(settings=settings, engine=engine, clock=RealClock(),
                                               store=store)}["costs"]
    assert (check.name, check.interval_s) == ("costs", 120.0)
    result = check.run()  # an empty store: nothing to alert on, and nothing made up
    assert result["reported"] == 0 and result["anomalies"] == []
    assert all(b["status"] == "no data" for b in result["budgets"])
    with Session(engine) as s:
        [report] = alerts.list_reports(session=s)
        assert report.source == "costs" and report.findings == []
        held = (report.expires_at - report.reported_at).total_seconds()
        assert held == 3 * 120.0  # outlives two missed runs, not more

    loop = start_alert_loop(
        settings=settings, engine=engine, remediator=None, clock=RealClock(), store=store, rules=[]
    )
    try:
        job = loop.scheduler.scheduler.get_job("check-costs")
        assert job is not None and job.trigger.interval.total_seconds() == 120.0
    finally:
        loop.stop()


def test_the_check_route_needs_a_responder(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    app = create_app(settings, engine=get_engine(f"sqlite:///{tmp_path / 'api.db'}"))
    with session_scope(app.state.engine) as s:
        _, viewer = service.create_token(session=s, role="viewer", name="v")
        _, responder = service.create_token(session=s, role="responder", name="r")
    client = TestClient(app)
    assert client.post("/api/v1/costs/check").status_code == 401
    assert (
        client.post("/api/v1/costs/check", headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
    )
    r = client.post("/api/v1/costs/check", headers={"Authorization": f"Bearer {responder}"})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "costs" and r.json()["reported"] == 0
