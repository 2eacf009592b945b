"""One truth: the engine's burn rates equal Prometheus' evaluation of the generated rules on the same data.

The same per-minute counters go to a real Prometheus (promtool backfill) and to the embedded
store; Prometheus evaluates the generated `slo:sli_error:ratio_rate*` expressions, the engine
works on arrays, and `slo status` runs unchanged on both backends.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator

import numpy as np
import pytest

from streamverse.clock import RealClock
from streamverse.collectors.backfill import SeriesArrays, backfill_series
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.prometheus_process import start_prometheus
from streamverse.collectors.prometheus_store import PrometheusStore
from streamverse.metricstore import Sample
from streamverse.slo import engine
from streamverse.slo.loader import load_text
from streamverse.slo.rules import build_rules
from streamverse.slo.service import status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]

SLO_FILE = """\
version: streamverse/v1
service: web
slos:
  - name: availability
    objective: 0.999
    window: 3d
    slice_by: [region]
    indicator:
      ratio:
        bad: web_requests_total{code=~"5.."}
        total: web_requests_total
"""
MINUTES = 4 * 1440 + 60
REGIONS = ("east", "west")


def _events() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    out = {}
    for r, region in enumerate(REGIONS):
        total = rng.integers(800, 1200, MINUTES).astype(float)
        bad = np.zeros(MINUTES)
        if r == 0:  # east: background errors and two outages
            bad = rng.binomial(total.astype(int), 0.0005).astype(float)
            bad[5000:5030] = total[5000:5030] * 0.4
            bad[5700:5710] = total[5700:5710]
        out[region] = (bad, total)
    return out


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PrometheusStore, EmbeddedStore, float]]:
    tmp = tmp_path_factory.mktemp("truth")
    t0 = math.floor((RealClock().now() - 3 * 3600 - MINUTES * 60) / 3600) * 3600.0
    ts = t0 + 60.0 * np.arange(MINUTES + 1)
    series, samples = [], []
    for region, (bad, total) in _events().items():
        for code, counts in (("500", bad), ("200", total - bad)):
            values = np.concatenate([[0.0], np.cumsum(counts)])
            labels = {"region": region, "code": code}
            series.append(SeriesArrays("web_requests_total", labels, ts, values))
            samples.extend(
                Sample("web_requests_total", labels, float(t), float(v))
                for t, v in zip(ts, values, strict=True)
            )
    backfill_series(series, tmp / "prom" / "tsdb")
    proc = start_prometheus(data_dir=tmp / "prom")
    emb = EmbeddedStore.at_path(tmp / "metrics.db")
    emb.write(samples)
    emb.flush()
    try:
        yield PrometheusStore(proc.url), emb, t0
    finally:
        proc.stop()


def test_engine_equals_prometheus_rules(stores: tuple[PrometheusStore, EmbeddedStore, float]) -> None:
    prom, _, t0 = stores
    slo = load_text(SLO_FILE, "truth.yaml").slos[0]
    exprs = {
        r["labels"]["sloth_window"]: r["expr"]
        for g in build_rules([slo])["groups"]
        for r in g["rules"]
        if r.get("record") == "slo:sli_error:ratio_rate5m" or "sloth_window" in r.get("labels", {})
    }
    assert set(exprs) == {*engine.WINDOWS}  # the 3d period is one of the windows
    events = _events()
    ratios = {region: engine.window_ratios(bad, total, step_s=60) for region, (bad, total) in events.items()}
    compared = 0
    for k in (4400, 5010, 5029, 5035, 5705, 5800, MINUTES):
        at = t0 + 60.0 * k
        for window, expr in exprs.items():
            df = prom.query(" ".join(expr.split()), at)
            assert df.attrs["reachable"]
            got = {row["region"]: row["value"] for _, row in df.iterrows()}
            for region in REGIONS:
                want = float(ratios[region][window][k - 1])
                assert got[region] == pytest.approx(want, rel=1e-9, abs=1e-12), (window, k, region)
                compared += 1
    assert compared == 7 * len(exprs) * len(REGIONS)
    assert ratios["east"]["1h"][5029] / 0.001 > 14.4  # the data does contain a page-worthy burn


def test_status_is_the_same_on_both_backends(stores: tuple[PrometheusStore, EmbeddedStore, float]) -> None:
    prom, emb, t0 = stores
    slo = load_text(SLO_FILE, "truth.yaml").slos[0]
    at = t0 + 60.0 * 5020
    a, b = status([slo], prom, now=at), status([slo], emb, now=at)
    assert not a["errors"] and not b["errors"]
    assert [r["slice"] for r in a["slos"]] == [{}, {"region": "east"}, {"region": "west"}]
    for ra, rb in zip(a["slos"], b["slos"], strict=True):
        for w in [*engine.WINDOWS, "period"]:
            assert ra["burn_rate"][w] == pytest.approx(rb["burn_rate"][w], rel=1e-9)
        assert ra["alerts"]["page"] == rb["alerts"]["page"]
    east = a["slos"][1]
    bad, total = _events()["east"]
    want_1h = bad[5020 - 60 : 5020].sum() / total[5020 - 60 : 5020].sum() / 0.001
    assert east["burn_rate"]["1h"] == pytest.approx(want_1h, rel=1e-9)
    assert east["alerts"]["page"]
