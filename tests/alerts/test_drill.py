"""`streamverse drill region-outage --fast --json` in fast-forward: CONTRACT keys and real timings."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from streamverse.system.drill_cli import drill

KEYS = {
    "scenario",
    "target",
    "fault_at",
    "detected_at",
    "incident_id",
    "actions",
    "recovered_at",
    "mttd_s",
    "mttr_s",
    "detected_by",
    "recovered_by",
    "users_hurt",
}


@pytest.mark.slow
def test_region_outage_fast_drill(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMVERSE_DATA_DIR", str(settings.data_dir))
    app = typer.Typer()
    app.command()(drill)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["drill", "region-outage", "--fast", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert KEYS <= set(report)
    assert report["scenario"] == "region-outage" and report["target"] == "us-east"
    assert 0 < report["mttd_s"] <= 30
    assert report["incident_id"] is not None
    assert [a["action"] for a in report["actions"]] == ["failover"]
    assert report["actions"][0]["status"] == "succeeded"
    assert report["detected_by"].startswith("alert ") and report["users_hurt"] is True
    assert report["mttd_s"] < report["mttr_s"] <= 90
    assert "30 s window" in report["recovered_by"]


# Each crisis gets its own remediation, chosen by the alert that says what broke; the SLO
# burn-rate pages only suggest. pop-outage needs none: the health checks drain the dead PoP.
EXPECTED = {
    "pop-outage": ("tokyo-7", []),
    "origin-loss": ("california-hq", [("backup-origin", "origin")]),
    "viral-video": (
        None,
        [("cdn-prewarm", "video:"), ("ttl-extension", "video:"), ("origin-scale-out", "origin")],
    ),
    "ddos": ("eu-west", [("rate-limit-tightening", "ip")]),
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_every_crisis_drill_detects_remediates_and_recovers(scenario: str, settings: Any) -> None:
    from streamverse.system.drill_fast import run_fast

    target, runs = EXPECTED[scenario]
    report = run_fast(scenario, settings=settings)
    if target is not None:
        assert report["target"] == target
    # A surge needs its 30 s window to fill: a viral title is caught within a minute.
    assert report["mttd_s"] is not None and 0 <= report["mttd_s"] <= (60 if scenario == "viral-video" else 30)
    assert report["incident_id"] is not None
    got = [(a["runbook"], a["target"], a["status"]) for a in report["actions"]]
    assert [(rb, t[: len(want)]) for (rb, t, _), (_, want) in zip(got, runs, strict=False)] == runs
    assert len(got) == len(runs)
    assert all(status == "succeeded" for *_, status in got)
    # Never the region failover: that would move healthy viewers for a problem it cannot fix.
    assert "region-failover" not in {rb for rb, *_ in got}
    assert report["detected_by"]
    # MTTR only from what the affected viewers saw: hurt, then back within the objective
    if report["users_hurt"]:
        assert report["mttr_s"] is not None and report["mttr_s"] <= 90 and report["recovered_by"]
    else:
        assert report["mttr_s"] is None and report["recovered_by"] is None and "no MTTR" in report["note"]
