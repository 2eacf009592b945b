"""`/metrics/query_range`: downsampled to max_points with MinMaxLTTB, cached, honest about freshness."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from streamverse.api import service
from streamverse.collectors.query_views import downsample
from streamverse.collectors.service import make_store
from streamverse.settings import Settings
from streamverse.system.app import create_app

NOW = 1_790_000_000.0


@pytest.fixture
def api(settings: Settings) -> tuple[TestClient, dict[str, str]]:
    store = make_store(settings)
    ts = np.arange(NOW - 30 * 86400, NOW, 60.0)
    vals = np.sin(ts / 3600.0)
    vals[len(vals) // 2] = 50.0  # one spike that a chart must not lose
    store.write_arrays("demo_gauge", {"region": "us-east"}, ts, vals)
    store.flush()
    app = create_app(settings)
    with Session(app.state.engine) as s:
        secret = service.create_token(session=s, role="viewer", name="t")[1]
        s.commit()
    return TestClient(app), {"Authorization": f"Bearer {secret}"}


def test_thirty_days_come_back_as_at_most_max_points_and_keep_the_spike(api):
    client, auth = api
    got = client.get("/api/v1/metrics/query_range", headers=auth,
                     params={"expr": "demo_gauge", "start": NOW - 30 * 86400, "end": NOW, "step": 60})
    assert got.status_code == 200, got.text
    body = got.json()
    (series,) = body["series"]
    assert len(series["values"]) <= 2000
    assert max(series["values"]) == 50.0
    assert body["reachable"] is True and body["cached"] is False
    assert body["age_s"] > 0 and body["stale"] is True  # NOW is in the past: data is old and says so
    again = client.get("/api/v1/metrics/query_range", headers=auth,
                       params={"expr": "demo_gauge", "start": NOW - 30 * 86400, "end": NOW, "step": 60})
    assert again.json()["cached"] is True


def test_needs_a_token_and_a_valid_expression(api):
    client, auth = api
    assert client.get("/api/v1/metrics/query", params={"expr": "demo_gauge"}).status_code == 401
    bad = client.get("/api/v1/metrics/query", headers=auth, params={"expr": "sum(("})
    assert bad.status_code == 422 and "column" in bad.json()["detail"]


def test_downsample_leaves_short_series_alone_and_drops_nans():
    ts = np.arange(10.0)
    vals = np.array([1, 2, np.nan, 4, 5, 6, 7, 8, 9, 10.0])
    out_ts, out_vals = downsample(ts, vals, 2000)
    assert len(out_ts) == 9 and not np.isnan(out_vals).any()
    big_ts = np.arange(100_000.0)
    big = np.random.default_rng(1).normal(size=100_000)
    d_ts, d_vals = downsample(big_ts, big, 500)
    assert len(d_ts) <= 500 and d_vals.max() == big.max() and d_vals.min() == big.min()
