"""The embedded metric store on real SQLite and PostgreSQL."""

from __future__ import annotations

import time

import numpy as np
import pytest

from streamverse.collectors.embedded import EmbeddedStore, canonical_labels
from streamverse.collectors.selector import SelectorError
from streamverse.collectors.service import make_store
from streamverse.errors import ConfigError
from streamverse.metricstore import MetricStore, Sample

T0 = 1_790_000_000.0


@pytest.fixture
def store(db_url: str):
    s = EmbeddedStore(db_url)
    yield s
    s.close()  # the head is shared per URL; the next test may drop the tables


def _edge(pop: str, region: str, t: float, v: float) -> Sample:
    return Sample("edge_requests_total", {"region": region, "pop": pop}, t, v)


def test_write_then_read_back_with_labels(store):
    assert store.write([_edge("nyc", "us-east", T0 + i * 60, float(i)) for i in range(10)]
                       + [_edge("fra", "eu-west", T0 + i * 60, 100.0 + i) for i in range(10)]) == 20
    assert store.write([]) == 0
    assert sorted(s["pop"] for s in store.series("edge_requests_total")) == ["fra", "nyc"]
    assert store.series('edge_requests_total{region="eu-west"}') == [
        {"__name__": "edge_requests_total", "pop": "fra", "region": "eu-west"}]
    df = store.range_query('edge_requests_total{pop="nyc"}', T0, T0 + 540, 60)
    assert list(df["timestamp"]) == [T0 + i * 60 for i in range(10)]
    assert list(df["value"]) == [float(i) for i in range(10)]
    assert set(df["pop"]) == {"nyc"} and set(df["region"]) == {"us-east"}
    both = store.range_query('edge_requests_total{pop=~"nyc|fra"}', T0, T0 + 540, 60)
    assert len(both) == 20 and {"timestamp", "value", "pop", "region"} <= set(both.columns)


def test_lookback_is_five_minutes_like_prometheus(store):
    store.write([Sample("up", {}, T0, 1.0), Sample("up", {}, T0 + 1000, 2.0)])
    df = store.range_query("up", T0 - 60, T0 + 1200, 60)
    got = dict(zip(df["timestamp"] - T0, df["value"], strict=True))
    assert -60 not in got  # nothing before the first sample
    assert got[0] == 1.0 and got[240] == 1.0  # 4 minutes later: still the last value
    assert 300 not in got and 960 not in got  # 5 minutes or more: stale, no value
    assert got[1020] == 2.0 and got[1200] == 2.0
    inst = store.instant_query("up", T0 + 299)
    assert list(inst["value"]) == [1.0] and list(inst["timestamp"]) == [T0 + 299]
    assert store.instant_query("up", T0 + 301).empty
    assert store.instant_query("up", T0 - 1).empty


def test_repeated_timestamps_replace_and_series_are_unique(store):
    store.write([Sample("g", {"b": "2", "a": "1"}, T0, 1.0)])
    store.write([Sample("g", {"a": "1", "b": "2"}, T0, 5.0), Sample("g", {"a": "1", "b": "2"}, T0, 7.0)])
    assert len(store.series("g")) == 1
    assert list(store.instant_query("g", T0)["value"]) == [7.0]
    assert canonical_labels({"b": "2", "a": "1", "__name__": "g"}) == '{"a":"1","b":"2"}'


def test_another_instance_sees_the_same_data(store, db_url):
    store.write([Sample("m", {"k": "v"}, T0, 3.0)])
    again = EmbeddedStore(db_url)
    assert list(again.instant_query('m{k="v"}', T0 + 10)["value"]) == [3.0]
    again.write([Sample("m", {"k": "w"}, T0, 4.0)])
    assert len(store.series("m")) == 2


def test_bad_inputs_fail_clearly(store):
    with pytest.raises(SelectorError):
        store.range_query('m{a="x"', T0, T0 + 60, 60)
    with pytest.raises(ValueError, match="step"):
        store.range_query("m", T0, T0 + 60, 0)
    with pytest.raises(ValueError, match="before start"):
        store.range_query("m", T0 + 60, T0, 60)
    empty = store.range_query("nothing_here", T0, T0 + 60, 60)
    assert empty.empty and list(empty.columns) == ["timestamp", "value"]


def test_bulk_write_throughput_on_sqlite(tmp_path):
    store = EmbeddedStore.at_path(tmp_path / "metrics.db")
    n = 200_000
    batches = [[_edge(f"p{j % 100}", f"r{j % 10}", T0 + j // 100 * 15, float(j))
                for j in range(b * n, (b + 1) * n)] for b in range(2)]
    store.write(batches[0])  # creates the 100 series
    started = time.perf_counter()
    assert store.write(batches[1]) == n
    rate = n / (time.perf_counter() - started)
    assert rate > 100_000, f"{rate:.0f} samples/s"
    df = store.range_query('edge_requests_total{pop="p7"}', T0, T0 + 3000 * 15, 15)
    assert len(df) == 3001 and np.all(np.diff(df["value"]) == 100)


def test_make_store_picks_the_embedded_file(settings):
    store = make_store(settings)
    assert isinstance(store, EmbeddedStore)
    typed: MetricStore = store  # the protocol is structural; this line is checked by type checkers
    assert typed is store
    store.write([Sample("x", {}, T0, 1.0)])
    store.close()
    assert (settings.data_dir / "metrics.db").exists()
    with pytest.raises(ConfigError, match="prometheus_url"):
        make_store(settings.model_copy(update={"metric_store": "prometheus"}))
