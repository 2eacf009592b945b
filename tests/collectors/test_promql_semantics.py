"""Prometheus semantics the conformance scripts touch only lightly: NaN as a value, exact windows,
staleness in range queries, per-step scalar(), precedence and parse-time errors with positions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.promql import PromQLError, PromQLUnsupported, Vec, evaluate, parse
from streamverse.collectors.promql_values import STALE_NAN


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore.at_path(tmp_path / "m.db", flush_after_s=0)
    yield s
    s.close()


def _series(df, **labels):
    for k, v in labels.items():
        df = df[df[k] == v]
    return dict(zip(df["timestamp"], df["value"], strict=True))


def test_nan_is_an_answer_not_missing_data(store):
    store.write_arrays("g", {"k": "a"}, np.array([0.0, 60.0]), np.array([np.nan, 1.0]))
    df = store.query("g", 30)
    assert len(df) == 1 and math.isnan(df["value"].iloc[0])
    ratio = store.query("0 / 0", 30)
    assert len(ratio) == 1 and math.isnan(ratio["value"].iloc[0])
    assert store.query("g == g", 30).empty  # NaN == NaN is false: filtered, while bool gives 0
    assert list(store.query("g == bool g", 30)["value"]) == [0.0]


def test_window_sums_are_exact_and_a_nan_only_spoils_its_own_windows(store):
    ts = np.arange(0, 3600, 60.0)
    vals = np.ones(len(ts))
    vals[5] = 1e17  # a running sum would lose the ones after it
    vals[10] = np.nan
    store.write_arrays("g", {}, ts, vals)
    df = store.query_range("sum_over_time(g[4m])", 0, 3540, 60)
    got = dict(zip(df["timestamp"], df["value"], strict=True))
    assert got[1200.0] == 5.0 and got[3540.0] == 5.0  # windows after both: exact
    assert math.isnan(got[600.0]) and math.isnan(got[840.0]) and got[900.0] == 5.0
    assert got[300.0] == 1e17 + 4
    avg = _series(store.query_range("avg_over_time(g[4m])", 0, 3540, 60))
    assert avg[1200.0] == 1.0 and math.isnan(avg[660.0])


def test_staleness_ends_a_series_in_instant_and_range_queries(store):
    ts = np.arange(0, 600, 60.0)
    vals = np.arange(len(ts), dtype=float)
    vals[5] = STALE_NAN  # the target disappeared at 300 s and came back at 360 s
    store.write_arrays("c_total", {}, ts, vals)
    steps = _series(store.query_range("c_total", 0, 600, 60))
    assert 300.0 not in steps and steps[240.0] == 4.0 and steps[360.0] == 6.0
    # the marker is not a sample: 5 samples in [180, 420] minus the marker
    assert store.query("count_over_time(c_total[4m])", 420)["value"].iloc[0] == 4.0
    assert store.query("increase(c_total[4m])", 420)["value"].iloc[0] == pytest.approx((7 - 3) * 240 / 240)


def test_scalar_is_taken_per_step(store):
    store.write_arrays("g", {"k": "a"}, np.array([0.0, 60.0, 120.0]), np.array([1.0, 2.0, 3.0]))
    store.write_arrays("g", {"k": "b"}, np.array([60.0]), np.array([9.0]))
    got = evaluate(store, "scalar(g)", start=0, end=500, step=60, lookback_s=30)
    assert isinstance(got, np.ndarray)
    assert got[0] == 1.0 and math.isnan(got[1]) and got[2] == 3.0 and math.isnan(got[5])


def test_precedence_and_literals():
    def value(expr):
        got = evaluate(_Empty(), expr, start=0, end=0, step=1)
        assert isinstance(got, np.ndarray)
        return float(got[0])

    assert value("-2 ^ 2") == -4.0 and value("2 ^ 3 ^ 2") == 512.0 and value("2 ^ -1") == 0.5
    assert value("0x10 + 1e1 + .5") == 26.5 and value("-inF") == -math.inf and math.isnan(value("NaN"))
    assert value("1 + 2 * 3 > bool 6") == 1.0 and value("10 atan2 20") == pytest.approx(0.4636476090008061)
    assert value("time() # a comment") == 0.0


class _Empty:
    def load(self, selector, start, end):
        return []


@pytest.mark.parametrize(("expr", "where", "words"), [
    ("rate(x[5m], 1)", "1:1:", "expected 1 argument(s) in call to 'rate', got 2"),
    ("sum(rate(x))", "1:5:", "expected type range vector in call to function 'rate'"),
    ("clamp(x, 1)", "1:1:", "expected 3 argument(s)"),
    ("label_join(x)", "1:1:", "at least 3"),
    ('label_replace(x, 1, "a", "b", "c")', "1:1:", "expected type string"),
    ("x + on(a) group_left(a) y", "1:3:", "must not occur in ON and GROUP"),
    ("1 > 2", "1:3:", "BOOL modifier"),
    ("x and 1", "1:3:", "set operator"),
    ("sum(x[5m])", "1:1:", "expected type instant vector in aggregation"),
    ("topk(x, y)", "1:1:", "expected type scalar in aggregation parameter"),
    ("x[5m] offset 1m offset 2m", "1:17:", "offset may not be set multiple times"),
    ("1[5m:1m]", "1:2:", "subquery is only allowed on instant vector"),
    ("x\n  + (y", "2:7:", "unexpected end of input"),
    ("nosuch(x)", "1:1:", "unknown function"),
    ('x{a="b"', "1:8:", "inside braces"),
])
def test_parse_errors_name_the_position(expr, where, words):
    with pytest.raises(PromQLError) as err:
        parse(expr)
    first = str(err.value).splitlines()[0]
    assert first.startswith(where + " parse error") and words in first, first


def test_native_histogram_functions_are_refused_by_name():
    with pytest.raises(PromQLUnsupported, match="histogram_sum.*native histograms"):
        parse("histogram_sum(rate(x[5m]))")


def test_ambiguous_matches_need_group_left(store):
    store.write_arrays("a", {"i": "1", "m": "x"}, np.array([0.0]), np.array([1.0]))
    store.write_arrays("a", {"i": "1", "m": "y"}, np.array([0.0]), np.array([2.0]))
    store.write_arrays("b", {"i": "1"}, np.array([0.0]), np.array([10.0]))
    with pytest.raises(PromQLError, match="many-to-one matching must be explicit"):
        store.query("a / on(i) b", 0)
    for expr in ("b / on(i) a", "b / on(i) group_left a"):
        with pytest.raises(PromQLError, match="duplicate series .* many-to-many matching not allowed"):
            store.query(expr, 0)
    got = evaluate(store, "a / on(i) group_left b", start=0, end=0, step=1)
    assert isinstance(got, Vec) and sorted(got.values[:, 0].tolist()) == [0.1, 0.2]
