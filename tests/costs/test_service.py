"""Metered usage to money, on a real embedded store filled by short fast-forward runs."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.snapshots import SnapshotCollector
from streamverse.costs.anomalies import detect_anomalies
from streamverse.costs.catalog import CATEGORIES, load_budgets, load_prices
from streamverse.costs.forecast import as_alerts
from streamverse.costs.report import build_report, render_html, write_report
from streamverse.costs.service import compute_month, summarize
from streamverse.metricstore import Sample
from streamverse.platform.fastforward import run_simulation
from streamverse.platform.topology import load_topology

START = 1_760_000_000.0  # 2025-10-09T08:53:20Z
DURATION = 3 * 3600.0
TOPO = load_topology()
VIRAL_TARGET = "2622"  # the mid-popularity title the engine picks for seed 11
CATALOG = load_prices(regions=[r.name for r in TOPO.regions])


def _store(path: Path, scenario: str | None) -> EmbeddedStore:
    store = EmbeddedStore.at_path(path)
    run_simulation(
        topology=TOPO,
        scenario=scenario,
        duration_s=DURATION,
        viewers=1500,
        sink=SnapshotCollector(store),
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


def test_missing_usage_is_no_data_not_zero(tmp_path: Path) -> None:
    # Only the edge byte counter: every other category, the titles and storage are "no data".
    edge_only = EmbeddedStore.at_path(tmp_path / "edge.db")
    edge_only.write(
        [
            Sample(
                "streamverse_edge_bytes_sent_total",
                {"region": "us-east", "pop": "ashburn-1"},
                START + t,
                1e9 * t,
            )
            for t in range(0, 7200, 60)
        ]
    )
    s = summarize(compute_month(store=edge_only, catalog=CATALOG, month="2025-10", now=START + DURATION))
    assert isinstance(s["by_category"]["cdn_egress"], float)
    for cat in ("storage", "cache_fill", "transcode", "compute"):
        assert s["by_category"][cat] == "no data" and s["sources"][cat] == "no data"
    assert isinstance(s["top_videos"], str) and s["top_videos"].startswith("no data")
    assert isinstance(s["storage_by_class"], str) and s["storage_by_class"].startswith("no data")
    empty = EmbeddedStore.at_path(tmp_path / "empty.db")
    s = summarize(compute_month(store=empty, catalog=CATALOG, month="2025-10", now=START + DURATION))
    assert s["total_usd"] is None
    assert all(v == "no data" for v in s["by_category"].values())
    assert set(s["by_category"]) == set(CATEGORIES)


def test_simulated_usage_prices_titles_storage_and_measured_fill(viral: EmbeddedStore) -> None:
    s = summarize(compute_month(store=viral, catalog=CATALOG, month="2025-10", now=START + DURATION))
    videos = s["top_videos"]
    assert isinstance(videos, list) and len(videos) == 10
    assert VIRAL_TARGET in {v["video_id"] for v in videos}  # the viral title is among the costliest
    assert "other" not in {v["video_id"] for v in videos}
    assert all(v["usd"] > 0 and v["usd"] == round(v["usd"], 2) for v in videos)
    assert set(s["storage_by_class"]) == {"hot", "warm", "cold", "archive"}
    assert s["storage_by_class"]["hot"]["mean_stored_gb"] > 0 and s["by_category"]["storage"] > 0
    # cache fill is the shield bytes the simulator moved, not misses x bytes per request
    assert s["sources"]["cache_fill"]["selector"] == "streamverse_shield_bytes_sent_total"
    assert not any("estimated" in n for n in s["notes"])
    # every edge byte is in one title series or in "other"
    window = f"[{int(DURATION)}s]"
    edge = viral.query(f"sum(increase(streamverse_edge_bytes_sent_total{window}))", START + DURATION)
    titles = viral.query(
        f"sum(increase(streamverse_usage_video_egress_bytes_total{window}))", START + DURATION
    )
    assert float(titles["value"].iloc[0]) == pytest.approx(float(edge["value"].iloc[0]), rel=0.005)


def test_cache_fill_estimate_is_labelled_as_one(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "est.db")
    pop = {"region": "us-east", "pop": "ashburn-1"}
    samples = []
    for t in range(0, 7200, 60):
        samples.append(Sample("streamverse_edge_bytes_sent_total", pop, START + t, 1e9 * t))
        samples.append(
            Sample(
                "streamverse_edge_requests_total", {**pop, "cache": "hit", "code": "200"}, START + t, 90.0 * t
            )
        )
        samples.append(
            Sample(
                "streamverse_edge_requests_total",
                {**pop, "cache": "miss", "code": "200"},
                START + t,
                10.0 * t,
            )
        )
    store.write(samples)
    data = build_report(
        store=store,
        catalog=CATALOG,
        budgets=load_budgets(),
        topology=TOPO,
        month="2025-10",
        now=START + DURATION,
    )
    assert data["sources"]["cache_fill"]["note"].startswith("estimated")
    assert any("estimated" in n for n in data["notes"])
    page = render_html(data)
    assert page.count("estimated") >= 2  # in the source column and in the notes


def test_viral_video_shows_up_as_a_spend_anomaly(viral: EmbeddedStore, normal: EmbeddedStore) -> None:
    found = detect_anomalies(viral, CATALOG, start=START, end=START + DURATION)
    assert [a.video_id for a in found] == [VIRAL_TARGET]
    a = found[0]
    assert a.category == "cdn_egress" and a.scope == f"video:{VIRAL_TARGET}"
    fault = (_iso(START + DURATION / 4), _iso(START + DURATION / 2))  # the scenario's window
    assert a.start < fault[1] and a.end > fault[0]
    assert a.excess_usd > 0 and a.peak_usd > a.baseline_usd
    assert detect_anomalies(normal, CATALOG, start=START, end=START + DURATION) == []
    alerts = as_alerts(anomalies=found, budgets=[])
    assert alerts[0]["labels"]["alertname"] == "CostSpendAnomaly" and alerts[0]["severity"] == "warning"
    assert alerts[0]["labels"]["video_id"] == VIRAL_TARGET
    assert f"video {VIRAL_TARGET}" in alerts[0]["annotations"]["summary"]


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
    assert any(a["video_id"] == VIRAL_TARGET for a in data["anomalies"])
    assert {s["name"] for s in data["savings"]} >= {"spot GPUs for transcoding", "raise the cache hit ratio"}
    assert all("assumptions" in s for s in data["savings"])
    j = json.loads(write_report(data, fmt="json", out=tmp_path / "r.json").read_text())
    assert j["total_usd"] == data["total_usd"]
    page = write_report(data, fmt="html", out=tmp_path / "r.html").read_text()
    assert page.count("<svg") == 3 and "Savings" in page and f"${data['total_usd']:,.2f}" in page
    assert "Most expensive videos" in page and f"<td>{VIRAL_TARGET}</td>" in page
    assert "Storage by class" in page and "<td>hot</td>" in page
    pdf = write_report(data, fmt="pdf", out=tmp_path / "r.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "2", str(pdf), str(tmp_path / "p")], check=True
    )
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 2000 for p in pngs)
