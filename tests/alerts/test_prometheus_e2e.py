"""A real Prometheus + Alertmanager drive an incident end to end through the control API's webhook.

Prometheus (scrape 1 s, evaluation 1 s) scrapes a real uvicorn app exporting PlatformMetrics
edge counters that the test makes fail; its rule fires, Alertmanager (group_wait 1 s) posts
to /api/v1/webhooks/alertmanager?token=..., and the control plane opens an incident.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import Session

from streamverse.api import service as api_service
from streamverse.collectors.prometheus_process import start_alertmanager, start_prometheus
from streamverse.db import get_engine, init_db
from streamverse.platform.metrics import PlatformMetrics
from streamverse.system.app import create_app
from tests.conftest import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("prometheus") or Path("/usr/bin/prometheus").exists())
        or not (shutil.which("prometheus-alertmanager") or Path("/usr/bin/prometheus-alertmanager").exists()),
        reason="prometheus and prometheus-alertmanager are installed by `make test`",
    ),
]

RULES = {
    "groups": [
        {
            "name": "e2e",
            "rules": [
                {
                    "alert": "EdgeErrorsE2E",
                    "expr": 'sum by (region) (rate(streamverse_edge_requests_total{code=~"5.."}[5s])) '
                    "/ sum by (region) (rate(streamverse_edge_requests_total[5s])) > 0.5",
                    "for": "0s",
                    "labels": {"severity": "ticket", "service": "edge"},
                    "annotations": {"summary": "edge requests in {{ $labels.region }} fail"},
                }
            ],
        }
    ]
}


def _serve(app: Any) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
def failing_edge() -> Iterator[tuple[PlatformMetrics, str, threading.Event]]:
    """An edge-like /metrics: steady 200s, plus 503s once `failing` is set."""
    metrics = PlatformMetrics()
    failing = threading.Event()
    stop = threading.Event()
    app = FastAPI()

    @app.get("/metrics")
    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def traffic() -> None:
        while not stop.wait(0.05):
            metrics.edge_requests.labels(region="us-east", pop="nyc-1", cache="hit", code="200").inc(5)
            if failing.is_set():
                metrics.edge_requests.labels(region="us-east", pop="nyc-1", cache="miss", code="503").inc(50)

    threading.Thread(target=traffic, daemon=True).start()
    server, url = _serve(app)
    yield metrics, url, failing
    stop.set()
    server.should_exit = True


def test_alertmanager_webhook_opens_an_incident(
    settings: Any, tmp_path: Path, failing_edge: tuple[PlatformMetrics, str, threading.Event]
) -> None:
    _metrics, edge_url, failing = failing_edge
    engine = get_engine(settings.resolved_database_url)
    init_db(engine)
    with Session(engine) as s:
        _row, secret = api_service.create_token(session=s, role="responder", name="alertmanager")
        s.commit()
    api_app = create_app(settings, engine=engine)
    api_app.state.reconcile_on_start = False
    api_server, api_url = _serve(api_app)
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    am = start_alertmanager(
        data_dir=tmp_path / "am",
        config={
            "route": {"receiver": "sv", "group_by": ["alertname", "region"], "group_wait": "1s",
                      "group_interval": "5s", "repeat_interval": "1h"},
            "receivers": [{"name": "sv", "webhook_configs": [
                {"url": f"{api_url}/api/v1/webhooks/alertmanager?token={secret}", "send_resolved": True}]}],
        },
    )
    prom = None
    try:
        prom = start_prometheus(targets=[("edge", f"{edge_url}/metrics")], data_dir=tmp_path / "prom",
                                scrape_interval_s=1.0, rule_files=[rules], alertmanager_url=am.url)
        headers = {"Authorization": f"Bearer {secret}"}
        time.sleep(3)  # a few healthy scrapes first: the rule must not fire on good traffic
        assert httpx.get(f"{api_url}/api/v1/incidents", headers=headers).json() == []
        failing.set()
        t0 = time.monotonic()
        incidents: list[dict[str, Any]] = []
        while time.monotonic() - t0 < 30 and not incidents:
            time.sleep(0.5)
            incidents = httpx.get(f"{api_url}/api/v1/incidents", headers=headers).json()
        assert incidents, f"no incident 30 s after the fault: {prom.log_path.read_text()[-500:]}"
        inc = incidents[0]
        names = [a.get("name") or a.get("alertname") for a in inc.get("alerts", [])]
        labels = [a.get("labels", {}) for a in inc.get("alerts", [])]
        assert "EdgeErrorsE2E" in names or any(lb.get("alertname") == "EdgeErrorsE2E" for lb in labels), inc
        timeline = httpx.get(f"{api_url}/api/v1/incidents/{inc['id']}/timeline", headers=headers).json()
        assert timeline, "the incident has a timeline"
        # Alertmanager really delivered: the alert is active in its API with our labels.
        active = httpx.get(f"{am.url}/api/v2/alerts").json()
        assert any(a["labels"].get("alertname") == "EdgeErrorsE2E" and a["labels"].get("region") == "us-east"
                   for a in active)
    finally:
        if prom is not None:
            prom.stop()
        am.stop()
        api_server.should_exit = True
