"""Fast-forward engine on the real Platform: scenarios, determinism, telemetry in a real store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from streamverse.platform.fastforward import run_simulation
from streamverse.platform.topology import load_topology

START = 1_750_000_000.0
DUR = 7200.0


@pytest.fixture(scope="module")
def topo():
    return load_topology()


@pytest.fixture(scope="module")
def outage(topo):
    return run_simulation(topology=topo, scenario="region-outage", duration_s=DUR, viewers=2000,
                          start_ts=START)


def test_gray_region_outage_hits_only_the_target_region(outage):
    s = outage.summary
    assert s["faults"] == [{"scenario": "region-outage", "target": "us-east", "start_s": 1800.0,
                            "end_s": 3600.0}]
    before = outage.window("us-east", 0, 1800)["availability"]
    during = outage.window("us-east", 1800, 3600)["availability"]
    assert during < 0.5 < before
    for name in s["regions"]:
        if name != "us-east":
            assert outage.window(name, 1800, 3600)["availability"] >= 0.99
            assert s["regions"][name]["availability"] >= 0.99
    assert s["regions"]["us-east"]["availability"] < 0.9


def test_hard_outage_recovers_once_routing_moves_viewers(topo):
    res = run_simulation(topology=topo, scenario="region-outage", duration_s=DUR, viewers=2000,
                         start_ts=START, fault_params={"mode": "hard"})
    t = res.timeline["regions"]["us-east"]["availability"]
    steps = res.timeline["t_s"]
    during = [a for ts, a in zip(steps, t, strict=True) if 1800 + 120 <= ts < 3600]
    assert min(during) >= 0.99  # health checks (10 s) moved DNS; failing players re-resolved
    assert res.window("us-east", 1800, 3600)["availability"] > 0.9


def test_origin_loss_hurts_only_uncached_objects(topo):
    base = run_simulation(topology=topo, duration_s=DUR, viewers=2000, start_ts=START)
    res = run_simulation(topology=topo, scenario="origin-loss", duration_s=DUR, viewers=2000, start_ts=START)
    for name in res.summary["regions"]:
        during = res.window(name, 1800, 3600)
        assert during["availability"] < base.window(name, 1800, 3600)["availability"]
        assert during["availability"] > 0.5  # cached titles keep playing
        assert res.window(name, 0, 1800)["availability"] == base.window(name, 0, 1800)["availability"]


def test_viral_video_lowers_cache_hit_ratio(topo):
    base = run_simulation(topology=topo, duration_s=DUR, viewers=3000, start_ts=START)
    res = run_simulation(topology=topo, scenario="viral-video", duration_s=DUR, viewers=3000, start_ts=START)
    lower = [name for name in res.summary["regions"]
             if res.window(name, 1800, 2400)["cache_hit_ratio"]
             < base.window(name, 1800, 2400)["cache_hit_ratio"]]
    assert len(lower) >= 4


def test_same_seed_same_summary(topo):
    a = run_simulation(topology=topo, scenario="latency-spike", duration_s=3600, viewers=1000, start_ts=START)
    b = run_simulation(topology=topo, scenario="latency-spike", duration_s=3600, viewers=1000, start_ts=START)
    a.summary.pop("wall_s")
    b.summary.pop("wall_s")
    assert a.summary == b.summary
    regions = a.summary["regions"]
    assert regions["ap-northeast"]["startup_p95_ms"] > regions["eu-west"]["startup_p95_ms"]


def test_telemetry_lands_in_a_real_store(topo, tmp_path: Path):
    from streamverse.collectors.service import make_store
    from streamverse.collectors.snapshots import SnapshotCollector
    from streamverse.platform import metrics as m
    from streamverse.settings import Settings

    store = make_store(Settings(data_dir=tmp_path))
    res = run_simulation(topology=topo, duration_s=1800, viewers=500, start_ts=START,
                         sink=SnapshotCollector(store))
    assert res.stats["samples_written"] > 1000
    df = store.range_query(f'{m.EDGE_REQUESTS}{{region="us-east",cache="hit"}}', START + 60, START + 1800, 60)
    assert not df.empty and set(df["region"]) == {"us-east"}
    per_series = df.sort_values("timestamp").groupby("pop")["value"]
    assert all(s.is_monotonic_increasing for _, s in per_series)  # counters, as scraped
    played = store.instant_query(f'{m.PLAYBACK}{{region="eu-west"}}', START + 1800)
    assert len(played) == 1 and not math.isnan(played["value"].iloc[0]) and played["value"].iloc[0] > 0
    assert store.series(f'{m.STARTUP}_bucket{{region="sa-east",le="+Inf"}}')


def test_long_runs_step_a_minute_and_give_up_after_the_same_time(topo):
    from streamverse.platform.fastforward import GIVE_UP_S, FastForward, default_step

    assert default_step(7200) == 30.0 and default_step(86400) == 60.0
    ff = FastForward(topology=topo, duration_s=8 * 3600, seed=3, viewers=300, sink=None, start_ts=START,
                     telemetry_step_s=None)
    assert ff.step_s == 60.0 and ff.give_up_steps * ff.step_s >= GIVE_UP_S - 30


def test_slots_are_reused_and_live_counts_stay_exact(topo):
    import numpy as np

    from streamverse.platform.fastforward import FastForward

    ff = FastForward(topology=topo, duration_s=3600, seed=5, viewers=800, sink=None, start_ts=START,
                     telemetry_step_s=None)
    ff.prewarm()
    sizes = set()
    for _ in range(60):
        ff.step()
        live = np.bincount(ff.S.region[ff.S.alive], minlength=len(ff.regions))
        assert (live == ff.active).all()
        sizes.add(len(ff.S))
        want = np.round(ff.load.targets(ff.clock.now())).astype(int)
        assert (ff.active >= want).all()  # arrivals topped every region up
    assert ff.sessions_started > max(sizes)  # finished viewers' slots went to new ones
    assert not (ff.S.need & ~ff.S.alive).any() and not (ff.S.starting & ~ff.S.alive).any()
