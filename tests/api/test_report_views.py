"""Report downloads through the control API: formats, month validation, roles."""

from __future__ import annotations

from fastapi.testclient import TestClient

from streamverse.api.service import create_token
from streamverse.db import get_engine, init_db, session_scope
from streamverse.system.app import create_app


def _client(settings):
    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    with session_scope(engine) as session:
        _, viewer = create_token(session=session, role="viewer", name="exec")
    return TestClient(create_app(settings, engine=engine)), {"Authorization": f"Bearer {viewer}"}


def test_sla_and_cost_reports_download_in_every_format(settings):
    client, auth = _client(settings)
    with client:
        sla = client.get("/api/v1/reports/sla", params={"month": "2026-11", "format": "json"}, headers=auth)
        assert sla.status_code == 200
        assert sla.json()["month"] == "2026-11"
        html = client.get("/api/v1/reports/sla", params={"month": "2026-11"}, headers=auth)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        pdf = client.get("/api/v1/reports/cost", params={"month": "2026-11", "format": "pdf"}, headers=auth)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert "attachment" in pdf.headers["content-disposition"]


def test_reports_refuse_bad_input_and_missing_tokens(settings):
    client, auth = _client(settings)
    with client:
        assert client.get("/api/v1/reports/sla", params={"month": "2026-11"}).status_code == 401
        bad = client.get("/api/v1/reports/cost", params={"month": "2026-13"}, headers=auth)
        assert bad.status_code == 422 and "YYYY-MM" in bad.text
        fmt = client.get("/api/v1/reports/sla", params={"month": "2026-11", "format": "docx"}, headers=auth)
        assert fmt.status_code == 422 and "html, pdf or json" in fmt.text
