"""The SLA report from a simulated outage: JSON figures, HTML and a PDF whose pages render."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from streamverse.api import service as api_service
from streamverse.clock import VirtualClock
from streamverse.collectors.service import make_store
from streamverse.settings import Settings
from streamverse.slo.loader import default_slo_file, load_files
from streamverse.slo.report import build_report, render_html, render_pdf
from streamverse.system.app import create_app
from tests.slo.test_status import outage_dir  # noqa: F401 - shared module fixture


def _month(start: float) -> str:
    return datetime.fromtimestamp(start + 1800, UTC).strftime("%Y-%m")


def test_report_numbers_html_and_pdf(outage_dir: tuple[Path, float], tmp_path: Path) -> None:  # noqa: F811
    data, start = outage_dir
    store = make_store(Settings(data_dir=data))
    slos = load_files([default_slo_file()]).slos
    month = _month(start)
    rep = build_report(slos, store, month=month, cost_per_minute=100_000.0, now=start + 3600)
    rows = {(r["name"], r["region"]): r for r in rep["rows"]}
    east, west = rows[("edge-availability", "us-east")], rows[("edge-availability", "us-west")]
    assert east["met"] is False and west["met"] is True
    assert east["allowance_minutes"] == pytest.approx(0.0001 * rep["period"]["minutes"], abs=1e-3)
    # The outage failed us-east's edge for about 15 of the simulated 60 minutes.
    assert 5.0 < east["bad_minutes"] < 16.0
    assert east["revenue_impact_usd"] == pytest.approx(east["bad_minutes"] * 100_000.0, rel=1e-3)
    assert rows[("api-latency", "all")]["met"] is None  # no series: no data, never 100%
    agg = rows[("edge-availability", "all")]
    assert rep["summary"]["platform_availability"] == pytest.approx(
        min(agg["attainment"], rows[("gateway-availability", "all")]["attainment"])
    )
    assert rep["credits"][0]["tier"] == "enterprise" and rep["credits"][0]["credit_pct"] > 0
    assert all(round(c["credits_usd"], 2) == c["credits_usd"] for c in rep["credits"])
    json.dumps({k: v for k, v in rep.items() if not k.startswith("_")}, allow_nan=True)

    page = render_html(rep)
    assert "data:image/png;base64," in page and f"SLA report {month}" in page and "$100,000.00" in page
    pdf = tmp_path / "sla.pdf"
    render_pdf(rep, pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True
        )
        pngs = list(tmp_path.glob("p*.png"))
        assert pngs and pngs[0].stat().st_size > 5000


def test_api_lists_slos_for_viewers(outage_dir: tuple[Path, float], tmp_path: Path) -> None:  # noqa: F811
    data, start = outage_dir
    settings = Settings(data_dir=data)
    app = create_app(settings, clock=VirtualClock(start + 1500))
    with Session(app.state.engine) as s:
        _, token = api_service.create_token(session=s, role="viewer", name="slo-test")
        s.commit()
    client = TestClient(app)
    assert client.get("/api/v1/slo").status_code == 401
    got = client.get("/api/v1/slo", headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200, got.text
    rows = [r for r in got.json()["slos"] if r["name"] == "edge-availability"]
    east = next(r for r in rows if r["slice"].get("region") == "us-east")
    assert east["alerts"]["page"] and east["burn_rate"]["5m"] > 14.4
    one = client.get(
        "/api/v1/slo/streamverse-edge-availability", headers={"Authorization": f"Bearer {token}"}
    )
    assert one.status_code == 200 and {r["id"] for r in one.json()["slos"]} == {
        "streamverse-edge-availability"
    }
    assert client.get("/api/v1/slo/nope", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert not math.isnan(east["sli"])


def test_bad_and_future_months_are_clear_errors(tmp_path) -> None:
    from streamverse.clock import month_bounds
    from streamverse.collectors.embedded import EmbeddedStore
    from streamverse.errors import UsageError
    from streamverse.slo.loader import default_slo_file, load_files
    from streamverse.slo.report import build_report

    slos = load_files([default_slo_file()]).slos
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    for bad in ("2026-13", "2026-00", "13-2026", "2026-1", "soon"):
        with pytest.raises(UsageError, match="write it as YYYY-MM"):
            build_report(slos, store, month=bad, now=month_bounds("2026-12")[0])
    with pytest.raises(UsageError, match="2030-01 has not started yet"):
        build_report(slos, store, month="2030-01", now=month_bounds("2026-12")[0] + 3600)
