"""Every ControlClient method against the real control API, after a fast-forward viral-video simulation.

The API runs under uvicorn with a running platform behind it, the metric store holds two hours
of simulated traffic, and each test checks that the parsed models carry the figures the server
computed (often recomputed here from the store or the shipped files, not read back from the reply).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from streamverse.client import ApiError, ControlClient, ReplyShapeError
from streamverse.client.models import InstantAnswer
from streamverse.settings import Settings
from tests.conftest import running_platform, serve

KEY = "client-tests-control-key-0123456789abcdef"
SCENARIOS = {"viral-video", "region-outage", "origin-loss", "pop-outage", "ddos", "latency-spike",
             "transcode-backlog", "edge-cache-failure"}


@dataclass
class System:
    url: str
    tokens: dict[str, str]
    settings: Settings
    viral_video: str
    start: float

    def client(self, role: str) -> ControlClient:
        return ControlClient(self.url, self.tokens[role])


@pytest.fixture(scope="module")
def platform_url() -> Iterator[str]:
    """A real platform behind its control app, health-checked as the live runner does."""
    with running_platform(KEY) as (_platform, url):
        yield url


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, platform_url: str,
           make_control_app: Callable[..., FastAPI]) -> Iterator[System]:
    """Two hours of simulated viral-video traffic ending now, the API on top, one token per role."""
    from streamverse.api import service
    from streamverse.clock import RealClock
    from streamverse.collectors.service import make_store
    from streamverse.collectors.snapshots import SnapshotCollector
    from streamverse.platform.fastforward import run_simulation
    from streamverse.platform.topology import load_topology

    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("client")) / "data",
                        jwt_secret="test-secret-" + "x" * 32, platform_control_url=platform_url,
                        platform_control_key=KEY)
    start = math.floor((RealClock().now() - 7200) / 60) * 60.0
    store = make_store(settings)
    result = run_simulation(topology=load_topology(None), scenario="viral-video", duration_s=7200,
                            viewers=1500, sink=SnapshotCollector(store), start_ts=start, seed=11)
    store.flush()
    app = make_control_app(settings)
    tokens = {}
    with Session(app.state.engine) as s:
        for role in ("viewer", "responder", "admin"):
            tokens[role] = service.create_token(session=s, role=role, name=f"client-{role}")[1]
        tokens["responder2"] = service.create_token(session=s, role="responder", name="client-second")[1]
        s.commit()
    server, thread, url = serve(app)
    yield System(url, tokens, settings, str(result.summary["faults"][0]["target"]), start)
    server.should_exit = True
    thread.join(10)


def test_control_plane_health_whoami_tokens_and_audit(system: System) -> None:
    with system.client("admin") as admin:
        health = admin.health()
        assert health.status == "ok" and health.database == "sqlite"
        assert abs(health.time - datetime.now(UTC)) < timedelta(seconds=30)
        me = admin.whoami()
        assert (me.name, me.role, me.can) == ("client-admin", "admin", ["viewer", "responder", "admin"])
        made = admin.create_token(role="viewer", name="script", expires_in_s=3600)
        assert made.token.startswith("sv_v_") and made.token.startswith(made.prefix)
        assert made.expires_at is not None and made.expires_at - made.created_at == timedelta(hours=1)
        listed = {t.id: t for t in admin.list_tokens()}
        assert listed[made.id].name == "script" and listed[made.id].revoked_at is None
        assert admin.revoke_token(made.id).revoked_at is not None
        assert made.id not in {t.id for t in admin.list_tokens(include_revoked=False)}
        newest = admin.audit(limit=1)[0]
        assert (newest.method, newest.outcome) == ("DELETE", "succeeded")
        assert newest.path == f"/api/v1/tokens/{made.id}"
        assert newest.actor == "client-admin (admin)" and newest.target["token_id"] == made.id
        assert all(e.at >= newest.at - timedelta(minutes=5) for e in admin.audit(since=newest.at, limit=10))
    with ControlClient(system.url, made.token) as revoked, pytest.raises(ApiError) as err:
        revoked.whoami()
    assert err.value.status == 401


def test_platform_status_scenarios_and_faults(system: System) -> None:
    from streamverse.platform.topology import load_topology

    topology = load_topology()
    with system.client("admin") as admin:
        status = admin.platform_status()
        assert set(status.regions) == {r.name for r in topology.regions}
        assert set(status.pops) == set(topology.pops)
        assert status.pops["tokyo-7"].region == "ap-northeast" and status.origin.up
        scenarios = {s.name: s for s in admin.scenarios()}
        assert set(scenarios) == SCENARIOS and scenarios["pop-outage"].default_target == "tokyo-7"
        fault = admin.inject_fault(scenario="pop-outage", duration="5m")
        assert (fault.scenario, fault.target, fault.active) == ("pop-outage", "tokyo-7", True)
        assert fault.end - fault.start == timedelta(minutes=5)
        assert fault.id in {f.id for f in admin.faults(active_only=True)}
        deadline = time.monotonic() + 5  # hard_down is what the next health probe observes
        while not (now := admin.platform_status()).pops["tokyo-7"].hard_down and time.monotonic() < deadline:
            time.sleep(0.05)
        assert now.pops["tokyo-7"].hard_down and fault.id in {f.id for f in now.faults}
        assert [f.id for f in admin.clear_faults(fault.id)] == [fault.id]
        assert fault.id not in {f.id for f in admin.faults(active_only=True)}
        spike = admin.inject_fault(scenario="latency-spike", target="ap-northeast", duration_s=60)
        assert spike.params["extra_ms"] == 400.0
        assert spike.id in {f.id for f in admin.clear_faults()}
        assert admin.faults(active_only=True) == []
    with system.client("viewer") as viewer, pytest.raises(ApiError) as err:
        viewer.inject_fault(scenario="pop-outage")
    assert err.value.status == 403


def test_runbooks_plan_run_approve_and_reject(system: System) -> None:
    with system.client("responder") as responder, system.client("responder2") as second:
        books = {b.name: b for b in responder.runbooks()}
        assert {"region-failover", "pop-drain", "backup-origin"} <= set(books)
        assert books["region-failover"].playbook_url == "/api/v1/runbooks/region-failover/playbook"
        incident = responder.create_incident(title="us-west degraded", severity="sev2", region="us-west")
        plan = responder.plan_runbook("region-failover", target="us-west", incident_id=incident.id)
        assert (plan.runbook, plan.target) == ("region-failover", "us-west")
        assert plan.changes and plan.steps and plan.playbook == books["region-failover"].playbook
        run = responder.request_run("region-failover", target="us-west", incident_id=incident.id,
                                    idempotency_key="client-test-1")
        assert (run.runbook, run.target, run.incident_id, run.requested_by) == (
            "region-failover", "us-west", incident.id, "client-responder (responder)")
        assert run.needs_approval == plan.needs_approval
        again = responder.request_run("region-failover", target="us-west", idempotency_key="client-test-1")
        assert again.id == run.id  # the same key gets the same run
        assert run.id in {r.id for r in responder.runs()}
        assert responder.run(run.id).plan["changes"] == [dict(c) for c in plan.changes]
        assert run.status == "awaiting_approval"  # a whole region is a high blast radius
        with pytest.raises(ApiError) as err:
            responder.approve_run(run.id)  # never the requester
        assert err.value.status == 403
        rejected = second.reject_run(run.id, reason="not needed after all")
        assert rejected.status == "rejected" and rejected.rejected_by == "client-second (responder)"
        other = responder.request_run("region-failover", target="me-central")
        assert other.status == "awaiting_approval"
        approved = second.approve_run(other.id)
        assert approved.approved_by == "client-second (responder)" and approved.approved_at is not None
        assert [r.id for r in responder.runs(limit=2)] == [other.id, run.id]


def test_remediation_actions_change_the_platform(system: System) -> None:
    with system.client("responder") as responder:
        out = responder.set_pop_weight("osaka-1", 0.5)
        assert out.action == "set-pop-weight" and out.result["weight"] == {"old": 1.0, "new": 0.5}  # type: ignore[index]
        responder.set_region_weight("eu-west", 0.5)
        responder.drain_pop("seoul-1")
        responder.drain_region("sa-east")
        responder.scale_origin(2.0)
        responder.switch_origin("texas")
        status = responder.platform_status()
        assert status.pops["osaka-1"].weight == 0.5 and status.pops["seoul-1"].weight == 0.0
        assert status.regions["eu-west"].weight == 0.5 and status.regions["sa-east"].weight == 0.0
        assert status.origin.capacity_factor == 2.0 and status.origin.active == "texas"
        assert responder.set_ttl("videos/", ttl="1h").model_extra["ttl_s"] == 3600.0  # type: ignore[index]
        assert responder.purge("videos/").action == "purge"
        limit = responder.set_rate_limit("ip", rate_per_s=50.0, burst=100)
        assert limit.model_extra["rate_per_s"] == 50.0  # type: ignore[index]
        with pytest.raises(ApiError) as err:
            responder.prewarm(video_id=int(system.viral_video))
        assert err.value.status == 400 and "objects" in str(err.value.detail)  # no media in this platform


def test_metrics_instant_and_range_match_the_store(system: System) -> None:
    from streamverse.collectors.service import make_store

    expr = "sum by (region) (rate(streamverse_playback_seconds_total[15m]))"
    with system.client("viewer") as viewer:
        now = viewer.metrics_query(expr)
        assert isinstance(now, InstantAnswer) and now.reachable and not now.stale
        assert now.backend == "embedded"
        direct = make_store(system.settings).query(expr, now.at)
        want = {row["region"]: row["value"] for _, row in direct.iterrows()}
        got = {s.labels["region"]: s.values[-1] for s in now.series}
        assert got.keys() == want.keys() and len(got) == 6
        assert all(math.isclose(got[r], want[r], rel_tol=1e-9) for r in want)  # type: ignore[arg-type]
        end = now.at
        span = viewer.metrics_query_range(expr, start=end - 3600, end=end, step=300, max_points=10)
        assert (span.start, span.end, span.step) == (end - 3600, end, 300.0)
        assert all(len(s.timestamps) == len(s.values) <= 13 for s in span.series)
        assert {s.labels["region"] for s in span.series} == set(want)
        with pytest.raises(ApiError) as err:
            viewer.metrics_query("sum(rate(")
        assert err.value.status == 422


def test_qoe_counts_the_beacons_sent(system: System) -> None:
    now = time.time()
    beacons: list[dict[str, object]] = []
    for i, (region, startup) in enumerate([("us-east", 800), ("us-east", 1200), ("eu-west", 400)]):
        common = {"session_id": f"s{i}", "region": region, "pop": "p1", "device": "tv", "video_id": 7}
        beacons += [{**common, "event": "start", "startup_ms": startup, "ts": now},
                    {**common, "event": "end", "played_s": 60, "ts": now + 60}]
    with system.client("viewer") as viewer:
        receipt = viewer.send_beacons("client-batch-1", beacons)  # type: ignore[arg-type]
        assert (receipt.accepted, receipt.rejected, receipt.duplicate) == (6, 0, False)
        assert viewer.send_beacons("client-batch-1", beacons).duplicate  # type: ignore[arg-type]
        qoe = viewer.qoe(by="region")
        assert qoe.by == "region" and qoe.groups["us-east"].views == 2 and qoe.groups["eu-west"].views == 1
        assert qoe.groups["eu-west"].startup_p50_s == 0.4 and qoe.beacons["duplicate"] == 6
        assert viewer.qoe(by="device").groups["tv"].views == 3


def test_slo_status_one_slo_and_history(system: System) -> None:
    from streamverse.slo.loader import default_slo_file, load_files

    ids = {s.id for s in load_files([default_slo_file()]).slos}
    with system.client("viewer") as viewer:
        status = viewer.slo_status()
        assert {s.id for s in status.slos} | {p.id for p in status.errors} == ids
        assert abs(status.at - datetime.now(UTC)) < timedelta(minutes=2)
        edge = [s for s in status.slos if s.id == "streamverse-edge-availability" and not s.slice][0]
        assert edge.sli is not None and 0.9 < edge.sli <= 1.0 and edge.window == "30d"
        assert edge.error_budget.remaining_ratio is not None and edge.alerts.conditions
        one = viewer.slo(edge.id)
        assert {s.id for s in one.slos} == {edge.id}
        assert [s.sli for s in one.slos if not s.slice] == [edge.sli]
        history = viewer.slo_history(edge.id)
        assert history.id == edge.id and history.objective == edge.objective
        assert len(history.timestamps) == len(history.sli) == len(history.budget_left)
        recent = [v for t, v in zip(history.timestamps, history.sli, strict=True) if t >= system.start]
        assert recent and all(v is not None for v in recent[1:])
        with pytest.raises(ApiError) as err:
            viewer.slo("no-such-slo")
        assert err.value.status == 404


def test_sla_report_as_data_and_as_files(system: System) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    with system.client("viewer") as viewer:
        report = viewer.sla_report(month=month)
        assert report.month == month and report.rows
        met = sum(1 for r in report.rows if r.met)
        assert report.summary.slos_met == met
        assert report.summary.slos_no_data == sum(1 for r in report.rows if r.met is None)
        html = viewer.download_sla_report(month=month)
        assert html.content_type.startswith("text/html") and html.filename == f"sla-{month}.html"
        assert b"<html" in html.content.lower()
        pdf = viewer.download_sla_report(month=month, fmt="pdf")
        assert pdf.content.startswith(b"%PDF") and pdf.content_type == "application/pdf"


def test_costs_summary_report_check_and_capacity(system: System) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    with system.client("responder") as responder:
        summary = responder.cost_summary(month=month)
        priced = [v for v in summary.by_category.values() if v is not None]
        assert summary.total_usd is not None and summary.total_usd > 0
        assert math.isclose(sum(priced), summary.total_usd, abs_tol=0.05)
        assert math.isclose(sum(summary.by_region.values()), summary.total_usd, abs_tol=0.05)
        assert summary.forecast.total is not None and summary.forecast.total.point_usd >= summary.total_usd
        assert isinstance(summary.top_videos, list)  # the viral title is among the most expensive
        assert system.viral_video in {v.video_id for v in summary.top_videos[:3]}
        report = responder.cost_report(month=month)
        assert report.month == month and set(report.by_category) == set(summary.by_category)
        cost_html = responder.download_cost_report(month=month)
        assert cost_html.filename == f"cost-report-{month}.html" and b"<html" in cost_html.content.lower()
        check = responder.cost_check()
        assert check.month == month and check.source == "costs"
        spikes = [a for a in check.alerts if a.labels["alertname"] == "CostSpendAnomaly"]
        assert system.viral_video in {a.labels.get("video_id") for a in spikes}
        small = responder.capacity_plan(users=1_000_000)
        big = responder.capacity_plan(users=10_000_000, cache_hit_ratio=0.9)
        assert small.inputs["users"] == 1_000_000 and big.inputs["cache_hit_ratio"] == 0.9
        assert big.monthly_cost_usd > small.monthly_cost_usd and big.peak_egress_tbps > small.peak_egress_tbps
        assert math.isclose(sum(small.cost_breakdown_usd.values()), small.monthly_cost_usd, rel_tol=1e-3)
        assert {s.name for s in small.steps} >= {"avg_bitrate_mbps"}


def test_alerts_from_the_cost_check_can_be_acked_and_silenced(system: System) -> None:
    from streamverse.alerts.config import load_config
    from streamverse.alerts.loop import AlertService
    from streamverse.alerts.rules import default_rules
    from streamverse.clock import RealClock
    from streamverse.collectors.service import make_store
    from streamverse.db import get_engine

    with system.client("responder") as responder:
        responder.cost_check()
        # The live loop's service on the same database and store turns the report into an alert.
        engine = get_engine(system.settings.resolved_database_url)
        loop = AlertService(engine=engine, store=make_store(system.settings), clock=RealClock(),
                            rules=default_rules(), config=load_config())
        loop.cycle()
        alerts = [a for a in responder.alerts() if a.name == "CostSpendAnomaly"]
        assert alerts and alerts[0].status == "firing" and alerts[0].labels["video_id"] == system.viral_video
        assert [a.name for a in responder.alerts(status="firing", limit=1)]
        acked = responder.ack_alert(alerts[0].fingerprint)
        assert acked.acked_by == "client-responder (responder)" and acked.acked_at is not None
        silence = responder.create_silence(matchers=['alertname="CostSpendAnomaly"'], duration="1h",
                                           comment="known launch")
        assert silence.active and silence.ends_at - silence.starts_at == timedelta(hours=1)  # type: ignore[operator]
        assert silence.id in {s.id for s in responder.silences()}
        assert not responder.expire_silence(silence.id).active
        assert silence.id in {s.id for s in responder.silences(include_expired=True)}


def test_incident_lifecycle(system: System) -> None:
    with system.client("responder") as responder:
        made = responder.create_incident(title="tokyo-7 dark", severity="sev2", region="ap-northeast")
        assert (made.status, made.severity, made.region) == ("triggered", "sev2", "ap-northeast")
        assert made.commander is None
        assert made.id in {i.id for i in responder.incidents(status="triggered")}
        assert responder.incident(made.id).title == "tokyo-7 dark"
        note = responder.add_note(made.id, "looking at the PoP")
        assert (note.kind, note.incident_id, note.message) == ("note", made.id, "looking at the PoP")
        acked = responder.ack_incident(made.id)
        assert acked.status == "acknowledged" and acked.commander == "client-responder (responder)"
        assert responder.mitigate_incident(made.id).status == "mitigated"
        assert responder.resolve_incident(made.id).resolved_at is not None
        kinds = [e.kind for e in responder.incident_timeline(made.id)]
        assert kinds[0] == "status_changed" and "note" in kinds
        assert made.id not in {i.id for i in responder.incidents(status="triggered", limit=1000)}


def test_a_renamed_field_fails_loudly_naming_it(system: System) -> None:
    from streamverse.client.models import Health

    class Renamed(Health):
        uptime_s: float  # a field this server does not send

    with system.client("viewer") as viewer:
        raw = viewer.request("GET", "/health")
        assert isinstance(raw, dict) and raw["status"] == "ok"  # the raw call stays for scripts
        with pytest.raises(ReplyShapeError) as err:
            viewer._call(Renamed, "GET", "/health")
    assert "uptime_s" in str(err.value) and "Renamed" in str(err.value)
    extra = Health.model_validate({"status": "ok", "time": "2026-01-01T00:00:00Z", "database": "x", "new": 1})
    assert extra.model_extra == {"new": 1}  # fields added later are kept, not refused
