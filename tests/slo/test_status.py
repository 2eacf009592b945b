"""`slo status` during a simulated region outage: the outage region burns far beyond 14.4x."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from streamverse.clock import RealClock
from streamverse.collectors.service import make_store
from streamverse.collectors.snapshots import SnapshotCollector
from streamverse.platform.fastforward import run_simulation
from streamverse.platform.topology import load_topology
from streamverse.settings import Settings
from streamverse.slo.cli import slo_app
from streamverse.slo.loader import default_slo_file, load_files
from streamverse.slo.service import status


@pytest.fixture(scope="module")
def outage_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """An hour of simulated traffic ending about now; us-east fails from 15 to 30 minutes in."""
    start = math.floor((RealClock().now() - 3600) / 60) * 60.0
    data = tmp_path_factory.mktemp("outage")
    settings = Settings(data_dir=data)
    store = make_store(settings)
    run_simulation(
        topology=load_topology(None),
        scenario="region-outage",
        target="us-east",
        duration_s=3600,
        viewers=1500,
        sink=SnapshotCollector(store),
        start_ts=start,
    )
    store.flush()
    return data, start


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(slo_app, name="slo")
    return app


def test_status_json_shows_outage_region_burning(
    outage_dir: tuple[Path, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMVERSE_DATA_DIR", str(outage_dir[0]))
    got = CliRunner().invoke(_app(), ["slo", "status", "--json"])
    assert got.exit_code == 0, got.output
    out = json.loads(got.output.strip().splitlines()[-1])
    edge = {r["slice"].get("region", "all"): r for r in out["slos"] if r["name"] == "edge-availability"}
    assert edge["us-east"]["burn_rate"]["1h"] > 14.4 and edge["us-east"]["burn_rate"]["period"] > 14.4
    assert edge["us-west"]["burn_rate"]["period"] < 1.0
    assert edge["us-east"]["policy"]["state"] == "frozen"
    api = next(r for r in out["slos"] if r["name"] == "api-latency")
    assert api["sli"] is None and api["policy"]["state"] == "no-data"  # no such series: no data, not 100%


def test_status_during_the_outage_pages(outage_dir: tuple[Path, float]) -> None:
    data, start = outage_dir
    store = make_store(Settings(data_dir=data))
    slos = [s for s in load_files([default_slo_file()]).slos if s.name == "edge-availability"]
    during = status(slos, store, now=start + 1500)  # inside the fault window
    rows = {r["slice"].get("region", "all"): r for r in during["slos"]}
    assert rows["us-east"]["burn_rate"]["1h"] > 14.4 and rows["us-east"]["burn_rate"]["5m"] > 14.4
    assert rows["us-east"]["alerts"]["page"]
    assert not rows["eu-west"]["alerts"]["page"]
    assert rows["us-east"]["exhausts_at"] is not None


def test_unknown_metric_is_an_error_naming_file_line_and_field_while_others_evaluate(tmp_path):
    from streamverse.collectors.embedded import EmbeddedStore
    from streamverse.metricstore import Sample
    from streamverse.slo.loader import load_files
    from streamverse.slo.service import status

    path = tmp_path / "mix.yaml"
    path.write_text(
        "version: streamverse/v1\nservice: web\nslos:\n"
        "  - name: good-one\n    objective: 99.9%\n    window: 30d\n    indicator:\n      ratio:\n"
        '        bad: http_requests_total{code=~"5.."}\n        total: http_requests_total\n'
        "  - name: typo\n    objective: 99.9%\n    window: 30d\n    indicator:\n      ratio:\n"
        '        bad: http_requsts_total{code=~"5.."}\n        total: http_requsts_total\n')
    store = EmbeddedStore(f"sqlite:///{tmp_path / 'm.db'}")
    now = 1_800_000_000.0
    store.write([Sample("http_requests_total", {"code": "200"}, now - 600 + 60 * i, 100.0 * i)
                 for i in range(10)])
    store.flush()
    out = status(load_files([path]).slos, store, now=now)
    assert [e["field"] for e in out["errors"]] == ["indicator.ratio.bad", "indicator.ratio.total"]
    assert all(e["id"] == "web-typo" and e["file"] == str(path) and e["line"] == "11" for e in out["errors"])
    assert "http_requsts_total" in out["errors"][0]["message"]
    good = next(r for r in out["slos"] if r["id"] == "web-good-one")
    assert good["sli"] == 1.0  # zero 5xx is zero bad events, not an unknown metric
