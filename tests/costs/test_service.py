"""Metered usage to money, on a real embedded store filled by short fast-forward runs."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.costs.catalog import CATEGORIES, load_budgets, load_prices
from streamverse.costs.forecast import as_alerts, detect_anomalies
from streamverse.costs.report import build_report, write_report
from streamverse.costs.service import compute_month, summarize
from streamverse.platform.fastforward import run_simulation
from streamverse.platform.topology import load_topology

START = 1_760_000_000.0  # 2025-10-09T08:53:20Z
DURATION = 3 * 3600.0
TOPO = load_topology()
CATALOG = load_prices(regions=[r.name for r in TOPO.regions])


def _store(path: Path, scenario: str | None) -> EmbeddedStore:
    store = EmbeddedStore.at_path(path)
    run_simulation(
        topology=TOPO,
        scenario=scenario,
        duration_s=DURATION,
        viewers=1500,
        store=store,
        start_ts=START,
        seed=11,
    )
    store.flush()
    return store


@pytest.fixture(scope="module")
def viral(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    return _store(tmp_path_factory.mktemp("viral") / "metrics.db", "viral-video")


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    return _store(tmp_path_factory.mktemp("normal") / "metrics.db", None)


def test_breakdowns_sum_to_the_total_to_the_cent(viral: EmbeddedStore) -> None:
    costs = compute_month(store=viral, catalog=CATALOG, month="2025-10", now=START + DURATION)
    total = costs.total()
    assert total is not None and total > 0
    for key in ("region", "pop", "service", "category", "day"):
        assert sum(costs.by(key).values(), Decimal(0)) == total
    # shared costs were spread over the PoPs that served traffic, by egress bytes
    shared = costs.ledger[costs.ledger["category"] == "compute"]
    assert shared["pop"].nunique() > 10
    eg = costs.by("pop", "category")
    top = max((k for k in eg if k[1] == "cdn_egress"), key=lambda k: eg[k])
    assert eg[(top[0], "compute")] == max(v for k, v in eg.items() if k[1] == "compute")
    s = summarize(costs)
    assert s["total_usd"] == float(total)
    assert s["unit_costs"]["usd_per_streamed_hour"] == pytest.approx(
        float(total) / s["unit_costs"]["streamed_hours"]
    )


def test_missing_usage_is_no_data_not_zero(viral: EmbeddedStore, tmp_path: Path) -> None:
    s = summarize(compute_month(store=viral, catalog=CATALOG, month="2025-10", now=START + DURATION))
    assert s["by_category"]["storage"] == "no data"  # the simulator exports no stored bytes
    assert s["sources"]["storage"] == "no data"
    assert isinstance(s["top_videos"], str) and s["top_videos"].startswith("no data")
    empty = EmbeddedStore.at_path(tmp_path / "empty.db")
    s = summarize(compute_month(store=empty, catalog=CATALOG, month="2025-10", now=START + DURATION))
    assert s["total_usd"] is None
    assert all(v == "no data" for v in s["by_category"].values())
    assert set(s["by_category"]) == set(CATEGORIES)


def test_viral_video_shows_up_as_a_spend_anomaly(viral: EmbeddedStore, normal: EmbeddedStore) -> None:
    found = detect_anomalies(viral, CATALOG, start=START, end=START + DURATION)
    assert found, "the viral title's cold-cache fill should spike"
    a = found[0]
    assert a.category == "cache_fill"
    viral_at = START + 2700  # the scenario's fault start
    assert a.start <= _iso(viral_at) < a.end
    assert detect_anomalies(normal, CATALOG, start=START, end=START + DURATION) == []
    alerts = as_alerts(anomalies=found, budgets=[])
    assert alerts[0]["labels"]["alertname"] == "CostSpendAnomaly" and alerts[0]["severity"] == "warning"
    assert "summary" in alerts[0]["annotations"]


def _iso(ts: float) -> str:
    from streamverse.clock import utc_iso

    return utc_iso(ts)


def test_cost_report_json_html_pdf(viral: EmbeddedStore, tmp_path: Path) -> None:
    data = build_report(
        store=viral,
        catalog=CATALOG,
        budgets=load_budgets(),
        topology=TOPO,
        month="2025-10",
        now=START + DURATION,
    )
    assert data["forecast"]["total"]["point_usd"] >= data["forecast"]["total"]["to_date_usd"] > 0
    assert any(a["category"] == "cache_fill" for a in data["anomalies"])
    assert {s["name"] for s in data["savings"]} >= {"spot GPUs for transcoding", "raise the cache hit ratio"}
    assert all("assumptions" in s for s in data["savings"])
    j = json.loads(write_report(data, fmt="json", out=tmp_path / "r.json").read_text())
    assert j["total_usd"] == data["total_usd"]
    page = write_report(data, fmt="html", out=tmp_path / "r.html").read_text()
    assert page.count("<svg") == 3 and "Savings" in page and f"${data['total_usd']:,.2f}" in page
    pdf = write_report(data, fmt="pdf", out=tmp_path / "r.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "p")], check=True
    )
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 2000 for p in pngs)
