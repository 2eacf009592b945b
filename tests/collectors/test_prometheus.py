"""A real Prometheus (started here on a free port) next to the embedded scraper and store."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from streamverse.clock import RealClock
from streamverse.collectors.backfill import SeriesArrays, backfill_series
from streamverse.collectors.cli import metrics_app
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.prometheus_config import prometheus_config
from streamverse.collectors.prometheus_process import NotInstalledError, find_binary, start_prometheus
from streamverse.collectors.prometheus_store import PrometheusQueryError, PrometheusStore
from streamverse.collectors.scraper import Scraper
from streamverse.collectors.service import make_store
from streamverse.errors import ConfigError

pytestmark = pytest.mark.slow

SLI = ('sum(increase(streamverse_edge_requests_total{{region="{r}",code=~"5.."}}[1m])) / '
       'sum(increase(streamverse_edge_requests_total{{region="{r}"}}[1m]))')


def test_config_groups_targets_by_job_and_keeps_paths():
    cfg = prometheus_config(targets=[("edge", "http://127.0.0.1:1/metrics", {"pop": "fra"}),
                                     ("edge", "http://127.0.0.1:2/x/metrics")],
                            scrape_interval_s=1, rule_files=["r.yml"], alertmanager_urls=["http://127.0.0.1:9"])
    (job,) = cfg["scrape_configs"]
    assert [s["labels"]["__metrics_path__"] for s in job["static_configs"]] == ["/metrics", "/x/metrics"]
    assert job["static_configs"][0]["labels"]["pop"] == "fra" and cfg["global"]["scrape_interval"] == "1s"
    assert cfg["rule_files"][0].endswith("r.yml")
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9"]
    with pytest.raises(ConfigError, match="not an http"):
        prometheus_config(targets=[("x", "127.0.0.1:1")])
    with pytest.raises(NotInstalledError, match="apt-get install"):
        find_binary(["no-such-prometheus"], "/nonexistent/prometheus")


def test_same_sli_from_both_backends_then_prometheus_stops_and_returns(tmp_path, metrics_server):
    m = metrics_server.metrics
    children = {(r, c): m.edge_requests.labels(region=r, pop=p, cache="miss", code=c)
                for r, p in (("eu-west", "fra"), ("us-east", "nyc")) for c in ("200", "500", "503")}
    for child in children.values():
        child.inc(0)
    prom = start_prometheus(targets=[("edge", metrics_server.url)], data_dir=tmp_path / "prom",
                            scrape_interval_s=1, with_alertmanager=True)
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    scraper = Scraper(store=store, targets=[("edge", metrics_server.url)], clock=RealClock(), interval_s=1)
    try:
        assert httpx.get(f"{prom.alertmanager_url}/-/ready").status_code == 200
        remote = PrometheusStore(prom.url, retries=2, backoff_s=0.05, timeout_s=2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the all-zero starting point must be in Prometheus too
            first = remote.query('streamverse_edge_requests_total{region="eu-west",code="500"}', time.time())
            if not first.empty:
                break
            time.sleep(0.2)
        assert not first.empty, "Prometheus never scraped the target"

        async def traffic() -> None:
            for _ in range(6):
                children[("eu-west", "200")].inc(90)
                children[("eu-west", "500")].inc(10)
                children[("us-east", "200")].inc(50)
                children[("us-east", "503")].inc(50)
                await scraper.scrape_once()
                await asyncio.sleep(1.0)
            await asyncio.sleep(1.2)
            await scraper.scrape_once()

        asyncio.run(traffic())
        at = time.time()
        for region, want in (("eu-west", 0.1), ("us-east", 0.5)):
            mine = store.query(SLI.format(r=region), at)
            theirs = remote.query(SLI.format(r=region), at)
            assert theirs.attrs["reachable"] and not theirs.attrs["stale"]
            assert float(mine["value"].iloc[0]) == pytest.approx(want, abs=1e-9)
            assert float(theirs["value"].iloc[0]) == pytest.approx(float(mine["value"].iloc[0]), abs=1e-9)
        up = remote.query('max_over_time(up{job="edge"}[10s])', at)  # one slow scrape on a busy box is fine
        assert list(up["value"]) == [1.0]
        assert remote.series("streamverse_edge_requests_total")  # selectors pass straight through
        with pytest.raises(PrometheusQueryError):
            remote.query("sum(", at)

        port = int(prom.url.rsplit(":", 1)[1])
        prom.stop()
        down = remote.query_range('streamverse_edge_requests_total{region="eu-west"}', at - 30, at, 1)
        assert down.empty and down.attrs["reachable"] is False and down.attrs["stale"] is True
        assert down.attrs["age_s"] is not None and down.attrs["age_s"] >= 0
        assert "unreachable" in down.attrs["error"]

        prom = start_prometheus(targets=[("edge", metrics_server.url)], data_dir=tmp_path / "prom",
                                scrape_interval_s=1, port=port)
        back = remote.query_range('sum(streamverse_edge_requests_total{region="eu-west"})', at - 10, at, 1)
        assert back.attrs["reachable"] is True and back.attrs["stale"] is False
        assert float(back["value"].iloc[-1]) == 600.0  # history from before the stop is still there

        runner = CliRunner()
        env = {"STREAMVERSE_METRIC_STORE": "prometheus", "STREAMVERSE_PROMETHEUS_URL": prom.url,
               "STREAMVERSE_DATA_DIR": str(tmp_path / "cli")}
        res = runner.invoke(metrics_app, ["query", 'up{job="edge"}', "--start", "-30s", "--step", "1s",
                                          "--json"], env=env)
        assert res.exit_code == 0, res.output
        answer = json.loads(res.output.strip().splitlines()[-1])
        assert answer["backend"] == "prometheus" and answer["series"][0]["labels"]["job"] == "edge"
        assert answer["stale"] is False
    finally:
        prom.stop()
        store.close()


def test_backfilled_history_gives_the_same_answers(tmp_path):
    end = (time.time() // 3600 - 1) * 3600
    ts = end - np.arange(6 * 60, -1, -1) * 60.0
    rng = np.random.default_rng(3)
    series = []
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    for i in range(3):
        vals = np.cumsum(rng.poisson(20, len(ts))).astype(float)
        vals[200:] -= vals[199]  # a restart
        labels = {"pop": f"p{i}", "code": "500" if i == 0 else "200"}
        series.append(SeriesArrays("hist_requests_total", labels, ts, vals))
        store.write_arrays("hist_requests_total", labels, ts, vals)
    assert backfill_series(series, tmp_path / "prom" / "tsdb") >= 3
    prom = start_prometheus(data_dir=tmp_path / "prom")
    try:
        remote = PrometheusStore(prom.url)
        for expr in ('sum(rate(hist_requests_total{code=~"5.."}[5m])) / sum(rate(hist_requests_total[5m]))',
                     "sum by (code) (increase(hist_requests_total[1h]))", 'hist_requests_total{pop="p1"}'):
            mine = store.query_range(expr, ts[10], end, 300)
            theirs = remote.query_range(expr, ts[10], end, 300)
            assert len(mine) == len(theirs) > 0
            key = [c for c in mine.columns if c != "value"]
            joined = mine.merge(theirs, on=key, suffixes=("_e", "_p"))
            assert len(joined) == len(mine)
            np.testing.assert_allclose(joined["value_e"], joined["value_p"], rtol=1e-9)
    finally:
        prom.stop()
        store.close()


def test_make_store_picks_prometheus(settings, tmp_path):
    with pytest.raises(ConfigError, match="prometheus_url"):
        make_store(settings.model_copy(update={"metric_store": "prometheus"}))
    chosen = make_store(settings.model_copy(update={"metric_store": "prometheus",
                                                    "prometheus_url": "http://127.0.0.1:1"}))
    assert isinstance(chosen, PrometheusStore)
