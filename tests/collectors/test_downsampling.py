"""Counter resets, retention and downsampling (raw -> 5m -> 1h) of the embedded store."""

from __future__ import annotations

import numpy as np
import pytest

from streamverse.collectors import chunk_codec
from streamverse.collectors.embedded import EmbeddedStore, Retention
from streamverse.collectors.store import Sample

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
