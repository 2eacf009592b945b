"""Retention in the embedded store: reads across raw / 5m / 1h tiers against an uncompacted copy.

What downsampling keeps (see `embedded_compaction`): each 5m or 1h point is the last raw
sample of its bucket (same timestamp, same value) plus the bucket's summed reset-adjusted
increments. So, exactly: instant values at a bucket's last sample, and a counter's
reset-adjusted increase between two such instants, hence `rate`/`increase` over a window
of whole buckets evaluated at a bucket's end (Prometheus 2.x ranges include their start).
Approximately: `rate` at other instants (extrapolation works on the tier's spacing) and
`*_over_time` (fewer points). A window must hold two points of a tier: between bucket
ends, `rate(x[5m])` has no answer in the 5m and 1h tiers, `rate(x[1h])` none in the 1h tier.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamverse.clock import utc_iso
from streamverse.collectors.embedded import EmbeddedStore, Retention
from streamverse.metricstore import Sample

DAY, HOUR = 86400.0, 3600.0
WEEK = 7 * DAY
T0 = 1_790_000_000.0 // WEEK * WEEK  # week-aligned, so the 5m -> 1h cut falls on T0 + 7 d
STEP = 60.0
DAYS = 21
RAW_END, RES_5M_END = T0 + 7 * DAY, T0 + 19 * DAY  # 1h before, 5m until 19 d, raw after (see _tiered)
AMPLITUDE = 50.0


def _series(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = T0 + np.arange(0, DAYS * DAY, STEP)
    counter = np.cumsum(rng.poisson(5, len(ts))).astype(float)
    for r in np.sort(rng.integers(100, len(ts) - 100, size=6)):  # process restarts
        counter[r:] -= counter[r - 1] - rng.integers(0, 3)
    gauge = 100 + AMPLITUDE * np.sin(2 * np.pi * (ts - T0) / DAY) + rng.normal(0, 0.5, len(ts))
    return ts, counter, gauge


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[EmbeddedStore, EmbeddedStore, np.ndarray]:
    """The same 21 days written to two stores; one compacted every day as a live run would."""
    ts, counter, gauge = _series(np.random.default_rng(11))
    tmp = tmp_path_factory.mktemp("retention")
    plain = EmbeddedStore.at_path(tmp / "plain.db", retention=Retention(1e9, 2e9, 3e9))
    tiered = EmbeddedStore.at_path(tmp / "tiered.db",
                                   retention=Retention(raw_s=2 * DAY, res_5m_s=10 * DAY, res_1h_s=30 * DAY))
    per_day = int(DAY / STEP)
    for day in range(DAYS):
        part = slice(day * per_day, (day + 1) * per_day)
        for store in (plain, tiered):
            store.write_arrays("c_total", {"svc": "a"}, ts[part], counter[part])
            store.write_arrays("g", {"svc": "a"}, ts[part], gauge[part])
            store.flush()
        tiered.compact(now=T0 + (day + 1) * DAY)
    return plain, tiered, counter


def test_each_tier_holds_what_its_retention_says(stores):
    _, tiered, _ = stores
    sd = tiered.load("c_total", T0, T0 + DAYS * DAY)[0]
    spacing = np.diff(sd.ts) / 1000
    at = sd.ts[1:] / 1000
    assert set(spacing[at < RAW_END]) == {HOUR}
    assert set(spacing[(at > RAW_END + HOUR) & (at < RES_5M_END)]) == {300.0}
    assert set(spacing[at > RES_5M_END + 300]) == {STEP}
    assert sd.ts[0] / 1000 == T0 + HOUR - STEP  # the first hour's last sample


def _both(stores, expr, start, end, step):
    plain, tiered, _ = stores
    a = plain.query_range(expr, start, end, step).set_index("timestamp")["value"]
    b = tiered.query_range(expr, start, end, step).set_index("timestamp")["value"]
    return a, b


# Instants where every tier has a point: the last raw sample of each hour (hence of each 5m bucket).
START, END = T0 + 6 * DAY + HOUR - STEP, T0 + 20 * DAY


@pytest.mark.parametrize("expr", ["c_total", "g"])
def test_values_at_bucket_ends_are_exact_in_every_tier(stores, expr):
    a, b = _both(stores, expr, START, END, HOUR)
    assert len(a) == len(b) == (END - START) // HOUR + 1
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_counter_increase_between_bucket_ends_is_exact_across_resets(stores):
    plain, tiered, counter = stores
    raw = plain.load("c_total", START, END)[0]
    mine = tiered.load("c_total", START, END)[0]
    ends = np.arange(START, END, HOUR) * 1000
    for sd in (raw, mine):
        inc = sd.inc if sd.inc is not None else np.append(sd.values[0], np.where(
            np.diff(sd.values) >= 0, np.diff(sd.values), sd.values[1:]))
        cum = np.cumsum(inc)
        at = cum[np.searchsorted(sd.ts, ends)]
        if sd is raw:
            want = np.diff(at)
        else:
            np.testing.assert_allclose(np.diff(at), want, rtol=0, atol=1e-6)
    assert (want > 0).all()  # resets included: reset-adjusted increases are never negative


@pytest.mark.parametrize("expr", ["sum(rate(c_total[5m]))", "sum(increase(c_total[1h]))",
                                  "sum(rate(c_total[6h]))"])
def test_counter_rate_over_whole_buckets_is_exact_in_every_tier(stores, expr):
    # At a bucket's last sample, a window of whole buckets starts on the previous bucket's last
    # sample (Prometheus 2.x ranges include their start), in every tier: nothing to extrapolate,
    # and the stored increments give the raw reset-adjusted increase exactly.
    # ... as long as the window spans whole buckets of the tier: [5m] is no 1h bucket.
    a, b = _both(stores, expr, START, END, HOUR)
    assert len(a) == (END - START) // HOUR + 1
    missing = a.index.difference(b.index)
    assert (missing < RAW_END).all() and (len(missing) > 0) == ("[5m]" in expr)
    np.testing.assert_allclose(b.to_numpy(), a.loc[b.index].to_numpy(), rtol=1e-9)


def test_counter_rate_between_bucket_ends_is_approximate(stores):
    start = START - 150  # mid-bucket instants
    a, b = _both(stores, "sum(rate(c_total[5m]))", start, END, HOUR)
    raw_part = a.index > RES_5M_END + 300
    np.testing.assert_allclose(b.loc[a.index[raw_part]], a[raw_part], rtol=1e-9)
    assert (b.index > RES_5M_END).all()  # a 5-minute window holds one point of the 5m and 1h tiers
    a, b = _both(stores, "sum(rate(c_total[1h]))", start, END, HOUR)
    five = a.index[(a.index > RAW_END + HOUR) & (a.index <= RES_5M_END)]
    err = np.abs(b.loc[five] / a.loc[five] - 1)
    # 11 of 12 buckets, extrapolated to the hour: off by a bucket's share of the noise (Poisson(5)
    # a minute: ~2% typical), more next to a restart where extrapolation stops at zero.
    assert np.median(err) < 0.03 and err.max() < 0.25, (np.median(err), err.max())
    assert not (b.index < RAW_END).any()  # one 1h point per hour window


def test_avg_over_time_of_a_gauge_across_tiers(stores):
    a, b = _both(stores, "avg_over_time(g[1h])", START, END, HOUR)
    assert (a.index == b.index).all()
    raw_part = a.index > RES_5M_END + HOUR
    np.testing.assert_allclose(b[raw_part], a[raw_part], rtol=1e-12)
    slope = AMPLITUDE * 2 * np.pi / DAY  # steepest change of the gauge, per second
    five = (a.index > RAW_END + HOUR) & (a.index <= RES_5M_END)
    # 12 bucket-end points instead of 60 samples: their mean time is 120 s later, plus noise
    assert np.abs(b[five] - a[five]).max() < slope * 120 + 0.5
    hourly = a.index < RAW_END
    # one point, the hour's last sample: off from the hour's mean by up to half the hour's change
    assert np.abs(b[hourly] - a[hourly]).max() < slope * HOUR / 2 + 1.0


def test_hourly_data_older_than_its_retention_is_dropped(tmp_path):
    store = EmbeddedStore.at_path(tmp_path / "m.db",
                                  retention=Retention(raw_s=DAY, res_5m_s=2 * DAY, res_1h_s=10 * DAY))
    ts = T0 + np.arange(0, 3 * WEEK, 300.0)
    store.write_arrays("g", {}, ts, np.arange(len(ts), dtype=float))
    store.write([Sample("g", {}, T0 + 3 * WEEK, 1.0)])
    for day in range(1, 22):
        store.compact(now=T0 + day * DAY)
    assert all(t["samples"] > 0 for t in store.stats()["tiers"])  # raw, 5m and 1h all hold data
    got = store.compact(now=T0 + 30 * DAY)  # 1h kept 10 d: everything before 20 d is older
    assert got["expired_chunks"] >= 1
    assert store.load("g", T0, T0 + 2 * WEEK - 1) == []
    assert len(store.load("g", T0 + 2 * WEEK, T0 + 3 * WEEK)[0].ts) > 0
    oldest = store.stats()["tiers"][2]["oldest"]
    assert oldest is not None and oldest >= utc_iso(T0 + 2 * WEEK - HOUR)
    store.close()
