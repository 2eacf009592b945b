"""Counter resets, retention and downsampling (raw -> 5m -> 1h) of the embedded store."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sqlalchemy import text

from streamverse.collectors import chunk_codec
from streamverse.collectors.embedded import EmbeddedStore, Retention
from streamverse.metricstore import Sample

DAY = 86400.0
T0 = 1_790_000_000.0 - (1_790_000_000.0 % 3600)


def test_codec_round_trips_every_kind_of_column():
    ts = np.array([0, 15_000, 30_000, 45_001, 2**40], dtype=np.int64)
    for vals in (np.array([1.0, 2.0, 3.0, 2.0, 1e15]), np.array([0.5, np.nan, np.inf, -1.0, 3.25]),
                 np.full(5, 7.0)):
        got_ts, (got,) = chunk_codec.decode(chunk_codec.encode(ts, vals))
        assert (got_ts == ts).all()
        np.testing.assert_array_equal(got, vals)
    regular = np.arange(0, 10_000 * 60_000, 60_000, dtype=np.int64)
    counter = np.cumsum(np.full(10_000, 3.0))
    assert len(chunk_codec.encode(regular, counter)) < 64  # constant deltas: a few bytes, not 160 kB


def _counter(store, start, hours, step_s=60.0, reset_at=None):
    n = int(hours * 3600 / step_s)
    vals = np.cumsum(np.full(n, 2.0))
    if reset_at is not None:
        vals[reset_at:] -= vals[reset_at - 1]  # the process restarted
    ts = start + np.arange(n) * step_s
    store.write([Sample("c_total", {"svc": "a"}, float(t), float(v)) for t, v in zip(ts, vals, strict=True)])
    return ts, vals


@pytest.fixture
def store(db_url):
    s = EmbeddedStore(db_url, retention=Retention(raw_s=2 * DAY, res_5m_s=10 * DAY, res_1h_s=30 * DAY))
    yield s
    s.close()


def test_counter_reset_keeps_increase_exact(store):
    _counter(store, T0, 2, reset_at=50)
    got = store.query("increase(c_total[2h])", T0 + 7200 - 60)
    # window holds all 120 samples: 2 per minute, the restart loses nothing: 119 steps of 2 -> 238,
    # extrapolated by (sampled + half an interval at the start: 30 s + end gap 0) / sampled
    assert float(got["value"].iloc[0]) == pytest.approx(238 * (7140 + 60) / 7140)


def test_downsampling_keeps_rate_and_drops_expired(store):
    _counter(store, T0, 24, reset_at=700)
    before = store.query_range("increase(c_total[1h])", T0 + 3600, T0 + 86400 - 60, 3600)
    now = T0 + 5 * DAY  # raw (2 d) is past retention -> 5m buckets
    stats = store.compact(now=now)
    assert stats["raw_to_5m"] >= 1
    rows = store.load("c_total", T0, T0 + DAY)[0]
    assert len(rows.ts) == 24 * 12  # one point per 5 minutes
    after = store.query_range("increase(c_total[1h])", T0 + 3600, T0 + 86400 - 60, 3600)
    # the bucket's last sample lands on the same instants, so the hourly increases are unchanged
    # except for extrapolation, which now works on 5-minute spacing: compare the raw increase.
    assert len(after) == len(before)
    raw_sum = store.query("sum_over_time(c_total[1d])", T0 + DAY)  # works on the 5m points too
    assert not raw_sum.empty
    exact = store.query("increase(c_total[1d])", T0 + DAY - 60)
    assert float(exact["value"].iloc[0]) == pytest.approx(2 * (24 * 60 - 1) * 1.0, rel=0.01)
    stats = store.compact(now=T0 + 20 * DAY)  # 5m past 10 d -> 1h buckets
    assert stats["5m_to_1h"] >= 1
    assert len(store.load("c_total", T0, T0 + DAY)[0].ts) == 24
    hourly = store.query("increase(c_total[1d])", T0 + DAY - 60)
    assert float(hourly["value"].iloc[0]) == pytest.approx(2 * (24 * 60 - 1), rel=0.05)
    store.compact(now=T0 + 40 * DAY)  # 1h past 30 d -> gone
    assert store.load("c_total", T0, T0 + DAY) == []


def test_small_chunks_from_live_scrapes_are_merged(store):
    for i in range(30):  # 30 flushes of one sample: what a live scraper produces
        store.write([Sample("g", {"k": "v"}, T0 + i * 15, float(i))])
        store.flush()
    stats = store.compact(now=T0 + 2 * 3600)
    assert stats["merged_chunks"] == 30
    sd = store.load("g", T0, T0 + 3600)[0]
    assert list(sd.values) == [float(i) for i in range(30)]


def test_head_is_visible_before_flush_and_last_write_wins(store, db_url):
    store.write([Sample("g", {"k": "v"}, T0, 1.0)])
    other = EmbeddedStore(db_url)  # same process, same URL: shares the head
    assert list(other.instant_query('g{k="v"}', T0)["value"]) == [1.0]
    store.flush()
    store.write([Sample("g", {"k": "v"}, T0, 2.0)])  # replaces the flushed value
    assert list(other.instant_query('g{k="v"}', T0)["value"]) == [2.0]
    store.flush()
    assert list(EmbeddedStore(db_url).instant_query('g{k="v"}', T0)["value"]) == [2.0]


class _SamplesOnly:
    """The same store seen through `load` only: the evaluator's plain per-sample path."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store

    def load(self, selector, start, end):
        return self.store.load(selector, start, end)


def _assert_same(store, expr, start, end, step):
    from streamverse.collectors.promql import evaluate_range

    got = store.query_range(expr, start, end, step)
    want = evaluate_range(_SamplesOnly(store), expr, start=start, end=end, step=step)
    assert len(got) == len(want) > 0, expr
    cols = sorted(c for c in want.columns if c != "value")
    got, want = got.sort_values(cols).reset_index(drop=True), want.sort_values(cols).reset_index(drop=True)
    assert (got[cols] == want[cols]).all().all(), expr
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-9, err_msg=expr)


def _messy_counters(store, rng):
    """Jittered scrapes, resets (one exactly on an hour), a 3-hour gap, chunks split mid-hour."""
    start = T0 - 1800
    ts = start + np.cumsum(rng.uniform(20, 100, size=4000))
    ts = ts[(ts < T0 + 20 * 3600) | (ts > T0 + 23 * 3600)]  # a scrape gap
    out = {}
    for name in ("a", "b", "c"):
        vals = np.cumsum(rng.poisson(5, size=len(ts))).astype(float)
        for r in rng.integers(10, len(ts) - 10, size=3):
            vals[r:] -= vals[r - 1] - rng.integers(0, 3)
        out[name] = vals
    on_hour = np.searchsorted(ts, T0 + 10 * 3600)
    ts = np.insert(ts, on_hour, T0 + 10 * 3600)
    for name in out:
        out[name] = np.insert(out[name], on_hour, 0.0)  # restart sampled exactly on a bucket edge
    cuts = [0, 300, 700, 900, 1100, 1311, 1700, 2100, 2500, 2900, 3300, len(ts) - 40]
    for lo, hi in itertools.pairwise(cuts):
        for name, vals in out.items():
            store.write_arrays("c_total", {"svc": name}, ts[lo:hi], vals[lo:hi])
        store.flush()
    for name, vals in out.items():  # the newest samples stay in the head
        store.write_arrays("c_total", {"svc": name}, ts[cuts[-1]:], vals[cuts[-1]:])
    return ts


@pytest.mark.parametrize("compact", [False, True])
def test_hourly_summaries_answer_exactly_like_samples(tmp_path, compact):
    store = EmbeddedStore.at_path(tmp_path / "m.db", flush_after_s=3600)
    ts = _messy_counters(store, np.random.default_rng(7))
    if compact:
        store.compact(now=float(ts[-1]) + 7200)
        with store.engine.connect() as conn:  # merged chunks carry stored summaries
            assert conn.execute(text("SELECT count(*) FROM metric_chunks WHERE summary IS NOT NULL")).scalar()
    a, b = T0 + 3600, T0 + 60 * 3600
    from streamverse.collectors.promql import RollupData

    assert all(isinstance(d, RollupData) for d in store.iter_rollup("c_total", a - 3600, b))
    for expr in ("sum(rate(c_total[1h]))", "rate(c_total[1h])", "increase(c_total[3h])",
                 "delta(c_total[2h])", "sum by (svc) (rate(c_total[1h] offset 1h))"):
        _assert_same(store, expr, a, b, 3600)
        _assert_same(store, expr, a, b, 7200)
    _assert_same(store, "rate(c_total[1h])", a + 60, b, 3600)  # not on the hour: samples path
    _assert_same(store, "rate(c_total[90m])", a, b, 3600)


def test_overlapping_rewrites_and_nan_fall_back_to_samples(tmp_path):
    store = EmbeddedStore.at_path(tmp_path / "m.db", flush_after_s=3600)
    ts = T0 + np.arange(0, 6 * 3600, 60.0)
    store.write_arrays("c_total", {"svc": "a"}, ts, np.arange(len(ts), dtype=float))
    store.flush()
    store.write_arrays("c_total", {"svc": "a"}, ts[100:130], np.full(30, 5.0))  # rewrites, a reset
    store.write_arrays("c_total", {"svc": "b"}, ts, np.where(np.arange(len(ts)) == 50, np.nan, 1.0 * len(ts)))
    store.flush()
    from streamverse.collectors.promql import FlatData

    assert all(isinstance(d, FlatData) for d in store.iter_rollup("c_total", T0, T0 + 6 * 3600))
    _assert_same(store, "rate(c_total[1h])", T0 + 3600, T0 + 6 * 3600, 3600)


def test_merging_keeps_the_newest_write_of_a_timestamp(tmp_path):
    store = EmbeddedStore.at_path(tmp_path / "m.db", flush_after_s=3600)
    for i in range(10):  # ten old one-sample chunks
        store.write_arrays("g", {}, np.array([T0 + 60.0 * i]), np.array([float(i)]))
        store.flush()
    # a later chunk that rewrites an old timestamp and reaches past the merge cut
    store.write_arrays("g", {}, np.array([T0 + 60.0 * 3, T0 + 7200.0]), np.array([99.0, 100.0]))
    store.flush()
    store.compact(now=T0 + 3 * 3600)
    sd = store.load("g", T0, T0 + 9000)[0]
    assert list(sd.values) == [0.0, 1.0, 2.0, 99.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 100.0]
