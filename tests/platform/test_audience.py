"""Audience model: Zipf popularity, viral pulses, daily load curves, synthetic catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from streamverse.platform import audience
from streamverse.platform.topology import load_topology


@pytest.mark.parametrize("exponent", [0.7, 1.2])
def test_zipf_sample_frequencies_follow_the_exponent(exponent):
    rng = np.random.default_rng(3)
    sampler = audience.PopularitySampler(audience.zipf_weights(1000, exponent))
    rows = sampler.sample(rng, 400_000)
    counts = np.bincount(rows, minlength=1000)
    ranks = np.arange(1, 51)
    slope, _ = np.polyfit(np.log(ranks), np.log(counts[:50]), 1)
    assert slope == pytest.approx(-exponent, abs=0.08)
    assert counts[0] > counts[9] > counts[99]


def test_viral_boost_is_capped():
    w = audience.zipf_weights(3000, 0.9)
    boosted = audience.with_viral(w, {1500: 10_000.0}, share_cap=0.35)
    assert boosted.sum() == pytest.approx(1.0)
    assert boosted[1500] == pytest.approx(0.35)
    assert boosted[0] < w[0]
    small = audience.with_viral(w, {1500: 2.0}, share_cap=0.35)
    assert small[1500] == pytest.approx(2 * w[1500] / (1 + w[1500]))


def test_load_curve_peaks_in_local_evening_and_dips_at_night():
    hours = np.arange(0, 24, 0.25)
    for offset in (-5, 1, 9):
        utc = (hours - offset) * 3600.0 + 86400 * 100
        load = audience.diurnal(utc, offset)
        peak_local = hours[int(np.argmax(load))]
        trough_local = hours[int(np.argmin(load))]
        assert 19 <= peak_local <= 23
        assert 2 <= trough_local <= 6
        assert load.max() / load.min() > 3


def test_region_targets_peak_at_viewers():
    topo = load_topology()
    load = audience.RegionLoad.for_topology(topo, 10_000)
    totals = [load.targets(t).sum() for t in np.arange(0, 86400, 300.0)]
    assert max(totals) == pytest.approx(10_000, rel=1e-6)
    at = load.targets(0.0)
    assert len(at) == len(topo.regions) and (at > 0).all()


def test_synthetic_catalog_matches_the_seeded_database(tmp_path):
    from streamverse.db import get_engine, init_db, session_scope
    from streamverse.platform import catalog

    engine = get_engine(f"sqlite:///{tmp_path / 'c.db'}")
    init_db(engine)
    with session_scope(engine) as s:
        catalog.seed_catalog(session=s, count=500, seed=11)
    with session_scope(engine) as s:
        db = catalog.catalog_arrays(session=s)
    mem = audience.synthetic_catalog(500, seed=11)
    for key in ("video_id", "duration_s", "max_ladder_index", "popularity_rank"):
        assert np.array_equal(db[key], mem[key]), key


def test_session_samplers_are_plausible():
    rng = np.random.default_rng(5)
    dev = audience.sample_devices(rng, 50_000)
    share = np.bincount(dev, minlength=4) / len(dev)
    assert share == pytest.approx(audience.DEVICE_SHARE, abs=0.01)
    bw = audience.sample_bandwidth(rng, dev)
    assert 20e6 < np.median(bw) < 60e6  # household-to-phone mix below the 2025 Ookla medians
    watch = audience.sample_watch_s(rng, np.full(50_000, 600.0))
    assert watch.max() <= 600.0 and np.median(watch) > 300
