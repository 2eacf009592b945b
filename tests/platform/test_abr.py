"""ABR logic: hls.js dual EWMA, rendition choice, buffer and rebuffer accounting."""

from __future__ import annotations

import numpy as np
import pytest

from streamverse.platform import abr
from streamverse.platform.catalog import LADDER


def _feed(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    fast = slow = weight = 0.0
    for bps, dur in samples:
        fast, slow, weight = abr.update_bandwidth(fast, slow, weight, bps, dur)
    return fast, slow, weight


def test_default_estimate_before_any_sample():
    assert abr.bandwidth_estimate(0.0, 0.0, 0.0) == abr.DEFAULT_ESTIMATE_BPS


def test_zero_bias_correction_gives_the_sample_after_one_download():
    est = abr.bandwidth_estimate(*_feed([(8e6, 2.0)]))
    assert est == pytest.approx(8e6)


def test_estimate_falls_fast_and_rises_slowly():
    steady = [(10e6, 2.0)] * 20
    fast, slow, w = _feed(steady + [(1e6, 2.0)] * 2)
    est_down = abr.bandwidth_estimate(fast, slow, w)
    slow_only = slow / (1 - 0.5 ** (w / abr.SLOW_HALF_LIFE_S))
    # 4 s after the drop the estimate follows the fast average, well below the slow one.
    assert est_down < slow_only
    assert est_down < 5e6
    fast, slow, w = _feed([(1e6, 2.0)] * 20 + [(10e6, 2.0)] * 2)
    est_up = abr.bandwidth_estimate(fast, slow, w)
    fast_only = fast / (1 - 0.5 ** (w / abr.FAST_HALF_LIFE_S))
    assert est_up < fast_only  # going up, the slow average holds it back
    assert est_up < 5e6


def test_starts_at_the_lowest_rung_and_upswitches_with_steady_throughput():
    current, buffer_s = 0, 0.0
    fast = slow = w = 0.0
    seen = []
    for _ in range(30):
        est = abr.bandwidth_estimate(fast, slow, w)
        current = abr.choose_rendition(current, est, buffer_s)
        seen.append(current)
        bitrate = LADDER[current][3]
        buffer_s, played, stalled, dl = abr.step_buffer(buffer_s, 20e6, bitrate, 2.0)
        fast, slow, w = abr.update_bandwidth(fast, slow, w, 20e6, 2.0)
    assert seen[0] == 0
    assert seen[-1] == 3  # 1080p: 20 Mbps * 0.7 covers 5 Mbps, not 15
    assert seen == sorted(seen)  # steady throughput: never a downswitch


def test_no_upswitch_without_buffer_and_downswitch_on_low_buffer():
    assert abr.choose_rendition(0, 50e6, 2.0) == 0
    assert abr.choose_rendition(0, 50e6, 20.0) == 4
    assert abr.choose_rendition(3, 6e6, 20.0) == 3
    assert abr.choose_rendition(3, 6e6, 2.0) == 2  # low buffer: give up the marginal rung
    assert abr.choose_rendition(3, 50e6, 2.0) == 3  # ...but not when a segment takes 0.6 s
    assert abr.choose_rendition(3, 3e6, 20.0) == 2  # estimate below the rung: down at once
    assert abr.choose_rendition(4, 50e6, 20.0, max_index=2) == 2


def test_rebuffers_when_throughput_is_below_bitrate():
    buf, played, stalled, dl = abr.step_buffer(4.0, 1e6, 2.5e6, 30.0)
    assert stalled > 10.0
    assert played + stalled == pytest.approx(30.0)
    assert buf == pytest.approx(0.0)
    buf, played, stalled, dl = abr.step_buffer(4.0, 10e6, 2.5e6, 30.0)
    assert stalled == 0.0 and played == 30.0
    assert buf == pytest.approx(abr.MAX_BUFFER_S)  # capped at the buffer target


def test_scalar_and_array_results_agree():
    rng = np.random.default_rng(1)
    n = 200
    cur = rng.integers(0, 5, n)
    est = rng.uniform(2e5, 4e7, n)
    buf = rng.uniform(0, 30, n)
    maxi = rng.integers(2, 5, n)
    arr = abr.choose_rendition(cur, est, buf, maxi)
    assert isinstance(arr, np.ndarray)
    scal = [abr.choose_rendition(int(c), float(e), float(b), int(m))
            for c, e, b, m in zip(cur, est, buf, maxi, strict=True)]
    assert all(isinstance(x, int) for x in scal)
    assert arr.tolist() == scal
    thr = rng.uniform(1e5, 3e7, n)
    out = abr.step_buffer(buf, thr, abr.LADDER_BPS[cur], 30.0)
    for i in range(0, n, 17):
        one = abr.step_buffer(float(buf[i]), float(thr[i]), float(abr.LADDER_BPS[cur[i]]), 30.0)
        assert all(isinstance(x, float) for x in one)
        assert [float(a[i]) for a in out] == pytest.approx(list(one))
    f, s, w = abr.update_bandwidth(np.zeros(n), np.zeros(n), np.zeros(n), thr, np.full(n, 2.0))
    e = abr.bandwidth_estimate(f, s, w)
    assert e == pytest.approx(thr)


def test_beacon_carries_cmcd_keys():
    b = abr.Beacon(session_id="s1", region="us-east", pop="ashburn-1", device="tv", video_id=42,
                   event="start", startup_ms=640.0, bitrate_bps=2_500_000, buffer_ms=12_345,
                   throughput_bps=8_123_456)
    cmcd = b.to_dict()["cmcd"]
    assert set(cmcd) == {"br", "bl", "mtp", "ot", "sf", "sid", "cid", "d"}
    assert cmcd["br"] == 2500 and cmcd["bl"] == 12300 and cmcd["mtp"] == 8100
    assert cmcd["sid"] == "s1" and cmcd["cid"] == "42" and cmcd["d"] == 6000
