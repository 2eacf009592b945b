"""The PromQL subset over the embedded store, against hand-computed answers."""

from __future__ import annotations

import math

import pytest

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.promql import PromQLError, parse
from streamverse.metricstore import Sample

T0 = 1_790_000_000.0


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore.at_path(tmp_path / "m.db")
    # 15 s scrapes for 15 minutes; eu 200s grow by 10 per scrape, eu 500s by 1 but restart at i=30.
    samples = []
    for i in range(61):
        t = T0 + i * 15
        samples.append(Sample("req_total", {"code": "200", "region": "eu"}, t, 10.0 * i))
        samples.append(Sample("req_total", {"code": "500", "region": "eu"}, t, float(i % 30)))
        samples.append(Sample("req_total", {"code": "200", "region": "us"}, t, 4.0 * i))
    s.write(samples)
    yield s
    s.close()


def _one(df):
    assert len(df) == 1, df
    return float(df["value"].iloc[0])


def _by(df, label):
    return dict(zip(df[label], df["value"], strict=True))


def test_rate_and_increase_match_prometheus_arithmetic(store):
    at = T0 + 600  # window [T0+300, T0+600]: samples 20..40, sampled interval = the whole window
    inc = store.query('increase(req_total{region="eu"}[5m])', at)
    got = _by(inc, "code")
    assert got["200"] == pytest.approx(200.0)
    assert got["500"] == pytest.approx(9 + 10)  # 20 -> 29, restart at 0, -> 10
    assert "__name__" not in inc.columns
    rate = store.query('rate(req_total{code="200",region="us"}[5m])', at)
    assert _one(rate) == pytest.approx(80 / 300)


def test_extrapolation_when_the_window_is_not_covered(store):
    # window [T0+590, T0+890] holds samples at 600..885 (20 samples, 285 s apart, avg 15 s):
    # start gap 10 s < 1.1*15 extrapolates fully, end gap 5 s too -> 285 + 10 + 5 = 300 s.
    got = _one(store.query('increase(req_total{code="200",region="eu"}[5m])', T0 + 890))
    assert got == pytest.approx((10 * 59 - 10 * 40) * 300 / 285)
    # window [T0+700, T0+1000]: samples 705..900 (195 s); 5 s gap at the start is extrapolated,
    # the 100 s gap after the last sample is > 1.1 * 15 s, so only half an interval (7.5 s) is added.
    late = _one(store.query('increase(req_total{code="200",region="eu"}[5m])', T0 + 1000))
    assert late == pytest.approx((600 - 470) * (195 + 5 + 7.5) / 195)


def test_irate_and_over_time(store):
    assert _one(store.query('irate(req_total{code="500"}[1m])', T0 + 460)) == 0.0  # last step is a reset
    assert _one(store.query('irate(req_total{code="500"}[1m])', T0 + 480)) == pytest.approx(1 / 15)
    assert _one(store.query('max_over_time(req_total{code="500"}[5m])', T0 + 600)) == 29.0
    assert _one(store.query('min_over_time(req_total{code="500"}[5m])', T0 + 600)) == 0.0
    assert _one(store.query('count_over_time(req_total{code="500"}[5m])', T0 + 600)) == 21.0
    assert _one(store.query('avg_over_time(req_total{code="200",region="us"}[1m])', T0 + 60)) == \
        pytest.approx((0 + 4 + 8 + 12 + 16) / 5)


def test_aggregations_and_sli_ratio(store):
    at = T0 + 600
    total = _by(store.query("sum by (region) (increase(req_total[5m]))", at), "region")
    assert total == pytest.approx({"eu": 219.0, "us": 80.0})
    ratio = store.query('sum by (region) (increase(req_total{code=~"5.."}[5m])) '
                        '/ sum by (region) (increase(req_total[5m]))', at)
    assert _by(ratio, "region") == pytest.approx({"eu": 19 / 219})  # us has no 5xx series: no answer
    assert _one(store.query('count(req_total)', at)) == 3.0
    assert _one(store.query('max(req_total)', at)) == 400.0
    assert _one(store.query('avg(req_total{code="200"})', at)) == pytest.approx((400 + 160) / 2)
    without = store.query("sum without (code) (req_total)", at)
    assert _by(without, "region") == {"eu": 400.0 + 10.0, "us": 160.0}


def test_binary_operators_and_scalars(store):
    at = T0 + 600
    assert _one(store.query("1 + 2 * 3 - 4 / 2", at)) == 5.0
    assert _one(store.query("(1 + 2) * 3", at)) == 9.0
    assert _by(store.query('req_total{region="eu"} * 2', at), "code") == {"200": 800.0, "500": 20.0}
    kept = store.query("req_total > 100", at)
    assert set(kept["code"] + kept["region"]) == {"200eu", "200us"} and set(kept["__name__"]) == {"req_total"}
    flags = _by(store.query('req_total{region="eu"} > bool 100', at), "code")
    assert flags == {"200": 1.0, "500": 0.0}
    matched = store.query('req_total{code="500"} / ignoring(code) req_total{code="200",region="eu"}', at)
    assert _one(matched) == pytest.approx(10 / 400)
    on = store.query('sum by (region) (req_total) / on(region) sum by (region) (req_total)', at)
    assert set(on["value"]) == {1.0}
    assert _one(store.query('-sum(req_total{region="us"})', at)) == -160.0


def test_histogram_quantile(tmp_path):
    s = EmbeddedStore.at_path(tmp_path / "h.db")
    bounds = {"0.1": 10.0, "0.5": 60.0, "1": 90.0, "+Inf": 100.0}
    s.write([Sample("lat_bucket", {"le": le, "svc": "a"}, T0 + i * 15, c * i / 10)
             for i in range(21) for le, c in bounds.items()])
    q = s.query("histogram_quantile(0.5, sum by (le) (rate(lat_bucket[5m])))", T0 + 300)
    # 50% of 100: rank 50 falls in (0.1, 0.5] holding 50 of them, 40 in -> 0.1 + 0.4 * 40/50
    assert _one(q) == pytest.approx(0.1 + 0.4 * 40 / 50)
    q99 = s.query("histogram_quantile(0.99, rate(lat_bucket[5m]))", T0 + 300)
    assert _one(q99) == pytest.approx(1.0)  # beyond the last finite bucket: its upper bound
    s.close()


def test_range_query_steps_and_lookback(store):
    df = store.query_range('req_total{code="200",region="us"}', T0 - 60, T0 + 1500, 60)
    got = dict(zip(df["timestamp"] - T0, df["value"], strict=True))
    assert -60 not in got and got[0] == 0.0 and got[900] == 240.0
    assert got[1200] == 240.0  # 5 minutes after the last sample: still there (Prometheus 2.x)
    assert 1260 not in got


def test_errors_say_where(store):
    with pytest.raises(PromQLError, match="^1:24: parse error"):
        parse("sum(rate(req_total[5m])")
    with pytest.raises(PromQLError, match="not support"):
        parse("histogram_count(x)")
    with pytest.raises(PromQLError, match="range selector"):
        parse("rate(x)")
    # An instant query of a range vector answers its raw points, as Prometheus; a range query refuses.
    with pytest.raises(PromQLError, match="inside a function"):
        store.query_range("req_total[5m]", T0, T0 + 60, 15)
    assert math.isnan(float("nan"))


def test_answers_do_not_depend_on_how_series_are_batched(store):
    """Many-series queries read groups of series at a time; the grouping must not show in the answer."""
    from streamverse.collectors.promql import evaluate_range

    class OneSeriesAtATime:
        def load(self, selector, start, end):
            return store.load(selector, start, end)

        def iter_flat(self, selector, start, end):
            return store.iter_flat(selector, start, end, batch_samples=1)

    assert len(list(OneSeriesAtATime().iter_flat("req_total", T0, T0 + 900))) == 3
    for expr in ("sum by (region) (rate(req_total[5m]))", "max_over_time(req_total[2m])",
                 "irate(req_total[1m])", "sum(avg_over_time(req_total[3m]))", "req_total offset 1m",
                 "count_over_time(req_total[1m])", "min_over_time(req_total[5m])"):
        want = store.query_range(expr, T0, T0 + 900, 45)
        got = evaluate_range(OneSeriesAtATime(), expr, start=T0, end=T0 + 900, step=45, lookback_s=300)
        assert len(got) == len(want) > 0, expr
        cols = sorted(c for c in want.columns if c != "value")
        got = got.sort_values(cols).reset_index(drop=True)
        want = want.sort_values(cols).reset_index(drop=True)
        assert (got[cols] == want[cols]).all().all(), expr
        assert list(got["value"]) == pytest.approx(list(want["value"]), rel=1e-12), expr
