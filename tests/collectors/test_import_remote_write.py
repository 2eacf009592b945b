"""History in, as Prometheus users move it: OpenMetrics files promtool reads, remote write from Prometheus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from streamverse.api import service as api_service
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.openmetrics_import import OpenMetricsError, import_file
from streamverse.collectors.remote_write import encode
from streamverse.db import session_scope
from streamverse.metricstore import Sample
from tests.conftest import free_port, serve

T0 = 1_700_000_000


def _openmetrics(path: Path, *, series: int = 3, points: int = 120) -> dict[tuple[str, str], list[float]]:
    """Counters with a reset and gauges, one sample a minute, the way promtool's docs write the format."""
    truth: dict[tuple[str, str], list[float]] = {}
    lines = ["# HELP http_requests_total Requests served.", "# TYPE http_requests_total counter"]
    for s in range(series):
        values = []
        total = 0.0
        for i in range(points):
            total = 0.0 if i == 60 else total + (s + 1) * 10  # a restart at minute 60
            values.append(total)
            lines.append(f'http_requests_total{{code="200",pod="p{s}"}} {total} {T0 + 60 * i}')
        truth[("http_requests_total", f"p{s}")] = values
    lines += ["# TYPE queue_depth gauge"]
    depth = [float((i * 7) % 13) for i in range(points)]
    lines += [f'queue_depth{{pod="p0",note="a \\"quoted\\" value"}} {v} {T0 + 60 * i}.5'
              for i, v in enumerate(depth)]
    truth[("queue_depth", "p0")] = depth
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return truth


def test_a_file_promtool_reads_loads_with_the_same_values(tmp_path):
    path = tmp_path / "history.om"
    truth = _openmetrics(path)
    if shutil.which("promtool"):  # the reference reads the same file
        out = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path),
                              str(tmp_path / "blocks")], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    store = EmbeddedStore.at_path(tmp_path / "metrics.db")
    result = import_file(store, path)
    assert (result.samples, result.series) == (3 * 120 + 120, 4)
    for (name, pod), values in truth.items():
        for i in (0, 59, 60, 119):
            got = store.query(f'{name}{{pod="{pod}"}}', T0 + 60 * i + 1)
            assert float(got["value"].iloc[0]) == values[i]
    quoted = store.series('queue_depth{pod="p0"}')
    assert quoted[0]["note"] == 'a "quoted" value'


def test_a_bad_line_imports_nothing_and_is_named(tmp_path):
    path = tmp_path / "bad.om"
    _openmetrics(path, series=1, points=10)
    lines = path.read_text().splitlines()
    lines[7] = lines[7].replace(f" {T0 + 60 * 5}", "")  # line 8 loses its timestamp
    path.write_text("\n".join(lines) + "\n")
    store = EmbeddedStore.at_path(tmp_path / "metrics.db")
    with pytest.raises(OpenMetricsError, match=r"bad\.om:8: sample http_requests_total has no timestamp"):
        import_file(store, path)
    assert store.series("http_requests_total") == []

    no_eof = tmp_path / "no_eof.om"
    good = (tmp_path / "good.om")
    _openmetrics(good, series=1, points=10)
    no_eof.write_text("\n".join(good.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(OpenMetricsError, match="must end with '# EOF'"):
        import_file(store, no_eof)
    assert store.series("http_requests_total") == []


def test_metrics_import_command(tmp_path):
    path = tmp_path / "history.om"
    _openmetrics(path, series=2, points=30)
    env = {**os.environ, "STREAMVERSE_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "streamverse.system.cli", "metrics", "import"]
    ok = subprocess.run([*cmd, str(path), "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1])["samples"] == 2 * 30 + 30
    bad = subprocess.run([*cmd, str(tmp_path / "missing.om")], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_remote_write_body_checks(tmp_path, settings, make_control_app):
    from fastapi.testclient import TestClient

    app = make_control_app(settings)
    with session_scope(app.state.engine) as s:
        _, admin = api_service.create_token(session=s, role="admin", name="writer")
        _, viewer = api_service.create_token(session=s, role="viewer", name="reader")
    client = TestClient(app)
    body = encode([Sample("rw_test", {"job": "t"}, T0 + i, float(i)) for i in range(5)])
    assert client.post("/api/v1/write", content=body).status_code == 401
    assert client.post("/api/v1/write", content=body, headers={"Authorization": f"Bearer {viewer}"}
                       ).status_code == 403
    bad = client.post("/api/v1/write", content=b"not snappy", headers={"Authorization": f"Bearer {admin}"})
    assert bad.status_code == 400 and "snappy" in bad.json()["detail"]
    assert app.state.metric_store.series("rw_test") == []
    good = client.post("/api/v1/write", content=body, headers={"Authorization": f"Bearer {admin}",
                                                                "Content-Encoding": "snappy"})
    assert good.status_code == 204
    assert float(app.state.metric_store.query("rw_test", T0 + 4)["value"].iloc[0]) == 4.0


@pytest.mark.slow
def test_a_real_prometheus_remote_writes_into_the_store(tmp_path, settings, make_control_app):
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.skip("prometheus is not installed (scripts/test-deps.sh installs it)")
    app = make_control_app(settings)
    with session_scope(app.state.engine) as s:
        _, admin = api_service.create_token(session=s, role="admin", name="prometheus")
    server, thread, url = serve(app)
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: self, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]\n"
        f"remote_write: [{{url: '{url}/api/v1/write', authorization: {{credentials: '{admin}'}},\n"
        "  queue_config: {batch_send_deadline: 1s}}]\n")
    proc = subprocess.Popen([exe, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prom.log").open("wb"))
    try:
        store = app.state.metric_store
        deadline = time.monotonic() + 60
        found = []
        while time.monotonic() < deadline and not found:
            time.sleep(1)
            found = store.series('up{job="self"}')
        assert found, (tmp_path / "prom.log").read_text()[-2000:]
        # the same value Prometheus itself answers for its own build info
        ours = store.query('prometheus_build_info{job="self"}', time.time())
        theirs = httpx.get(f"http://127.0.0.1:{port}/api/v1/query",
                           params={"query": 'prometheus_build_info{job="self"}'}).json()["data"]["result"]
        assert theirs and ours["version"].iloc[0] == theirs[0]["metric"]["version"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        server.should_exit = True
        thread.join(timeout=10)
