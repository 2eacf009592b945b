"""Synthetic probes against the live platform in-process: steps timed, outages seen per region."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamverse.clock import RealClock
from streamverse.collectors.probes import BUDGET_S, Prober, ProbeTarget
from streamverse.collectors.service import make_store
from streamverse.system.live_system import DEMO_PASSWORD
from tests.collectors.live_helpers import Live

pytestmark = pytest.mark.slow


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    running = Live(tmp_path, viewers=0, telemetry=False)
    try:
        yield running
    finally:
        running.stop()


def test_probes_record_steps_and_see_a_region_outage(live: Live) -> None:
    system = live.system
    store = make_store(live.settings)
    regions = [r.name for r in system.platform.topology.regions]
    target = ProbeTarget(
        gateway_url=system.urls["gateway"],
        resolve=system.platform.dns.resolve,
        edge_url_for=lambda pop: system.edges[pop],
        username="viewer0001",
        password=DEMO_PASSWORD,
    )
    prober = Prober(target=target, regions=regions, clock=RealClock(), store=store)

    first = live.call(prober.run("eu-west")).as_dict()
    assert first["journeys"]["playback"] == "ok" and first["journeys"]["browse"] == "ok", first
    steps = {s["step"]: s for s in first["steps"]}
    for name in (
        "dns",
        "connect",
        "login",
        "home",
        "search",
        "playback_session",
        "master_playlist",
        "media_playlist",
        "first_segment",
    ):
        assert steps[name]["status"] == "ok" and steps[name]["duration_s"] > 0, steps[name]
    assert first["pop"] in {p.name for p in system.platform.topology.region_by_name["eu-west"].pops}
    # Uploads are checked when the gateway serves them, and otherwise reported as skipped, not passed.
    assert steps["upload"]["status"] in ("ok", "skipped")
    if steps["upload"]["status"] == "skipped":
        assert "upload" not in first["journeys"] or first["journeys"]["upload"] == "skipped"
    budget = first["budget"]
    assert budget["complete"] and set(budget["phases"]) == set(BUDGET_S)
    assert budget["total_s"] == pytest.approx(sum(p["measured_s"] for p in budget["phases"].values()))

    admin = {"Authorization": f"Bearer {system.tokens['admin']}"}
    made = httpx.post(
        f"{system.urls['api']}/api/v1/platform/faults",
        headers=admin,
        timeout=10,
        json={"scenario": "region-outage", "target": "us-east", "duration": "2m"},
    )
    assert made.status_code == 201, made.text
    down = live.call(prober.run("us-east")).as_dict()
    up = live.call(prober.run("eu-west")).as_dict()
    assert down["journeys"]["playback"] == "failed", down
    assert up["journeys"]["playback"] == "ok", up
    failed = [s for s in down["steps"] if s["status"] == "failed"]
    assert failed and failed[0]["journey"] == "playback" and "HTTP 5" in failed[0]["detail"]

    store.flush()
    at = RealClock().now()
    ok = store.query('streamverse_probe_journey_success_total{journey="playback"}', at)
    runs = store.query('streamverse_probe_journey_total{journey="playback"}', at)
    by_region = {r["region"]: r["value"] for r in ok.to_dict("records")}
    runs_by_region = {r["region"]: r["value"] for r in runs.to_dict("records")}
    assert by_region == {"eu-west": 2.0, "us-east": 0.0} and runs_by_region == {
        "eu-west": 2.0,
        "us-east": 1.0,
    }
    lat = store.query('streamverse_probe_step_duration_seconds{region="eu-west",step="first_segment"}', at)
    assert float(lat["value"].iloc[0]) > 0
