"""`streamverse drill region-outage --fast --json` in fast-forward: CONTRACT keys and real timings."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from streamverse.alerts.cli import drill

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
    assert report["mttd_s"] < report["mttr_s"] <= 180
