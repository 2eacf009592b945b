"""Adaptive-bitrate player logic as pure functions, shared by the live player and fast-forward.

Every function takes Python scalars or numpy arrays (one element per session) and answers
in kind, so one live player and 100,000 simulated sessions make the same decisions.

- Bandwidth: hls.js's dual EWMA (fast 3 s, slow 9 s half-lives, each sample weighted by
  its duration, zero-bias corrected); the estimate is the lower of the two, so it falls
  as fast as the fast average and rises only as fast as the slow one.
- Rendition: start at the lowest rung; move up only with enough buffer and a safety
  margin on the estimate; move down at once when the estimate or the buffer drops.
- Buffer: download at the measured throughput, play in real time, stall when empty.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np

from streamverse.platform.catalog import LADDER, SEGMENT_SECONDS

FAST_HALF_LIFE_S = 3.0
SLOW_HALF_LIFE_S = 9.0
DEFAULT_ESTIMATE_BPS = 500_000.0  # hls.js abrEwmaDefaultEstimate
UP_FACTOR = 0.7  # hls.js abrBandWidthUpFactor: upswitch only with 30 % headroom
DOWN_FACTOR = 0.95  # hls.js abrBandWidthFactor: keep a rung while the estimate covers it
UPSWITCH_BUFFER_S = 12.0  # two segments in hand before trying a higher rung
LOW_BUFFER_S = 6.0  # below one segment: drop to what the estimate surely sustains
PANIC_FACTOR = 0.5
MAX_BUFFER_S = 30.0  # hls.js maxBufferLength
LADDER_BPS = np.array([rung[3] for rung in LADDER], dtype=np.float64)
assert FAST_HALF_LIFE_S * 3 == SLOW_HALF_LIFE_S  # the array paths share one exp2 between the two averages

T = TypeVar("T", float, np.ndarray)


def _like(value: Any, *inputs: Any) -> Any:
    """Python scalars in, Python scalars out; arrays in, arrays out."""
    if any(isinstance(x, np.ndarray) and x.ndim > 0 for x in inputs):
        return value
    return value.item() if hasattr(value, "item") else value


def ewma_update(estimate: T, sample: T, weight_s: T, half_life_s: float) -> T:
    """One hls.js EWMA step: the sample counts for as many seconds as it took."""
    adj = np.exp(math.log(0.5) / half_life_s * np.asarray(weight_s, dtype=np.float64))
    return _like(sample * (1.0 - adj) + adj * estimate, estimate, sample, weight_s)


def update_bandwidth(fast: T, slow: T, total_weight_s: T, sample_bps: T,
                     duration_s: T) -> tuple[T, T, T]:
    """Feed one download (bits/s over `duration_s`) into both averages."""
    if not any(isinstance(x, np.ndarray) and x.ndim > 0
               for x in (fast, slow, total_weight_s, sample_bps, duration_s)):
        return (ewma_update(fast, sample_bps, duration_s, FAST_HALF_LIFE_S),
                ewma_update(slow, sample_bps, duration_s, SLOW_HALF_LIFE_S),
                total_weight_s + duration_s)
    # Arrays (fast-forward): one exp2 serves both averages, the fast half-life being a third of the slow.
    adj_slow = np.exp2(np.asarray(duration_s, dtype=np.float64) * (-1.0 / SLOW_HALF_LIFE_S))
    adj_fast = adj_slow * adj_slow * adj_slow
    sample = np.asarray(sample_bps, dtype=np.float64)
    return (sample + adj_fast * (fast - sample), sample + adj_slow * (slow - sample),
            total_weight_s + duration_s)


def bandwidth_estimate(fast: T, slow: T, total_weight_s: T,
                       default_bps: float = DEFAULT_ESTIMATE_BPS) -> T:
    """min(fast, slow) after zero-bias correction; the default before any sample."""
    w = np.asarray(total_weight_s, dtype=np.float64)
    left_slow = np.exp2(w * (-1.0 / SLOW_HALF_LIFE_S))  # one exp2 for both (fast half-life = slow / 3)
    zf_fast = 1.0 - left_slow * left_slow * left_slow
    zf_slow = 1.0 - left_slow
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.minimum(np.asarray(fast) / zf_fast, np.asarray(slow) / zf_slow)
    est = np.where(w > 0, est, default_bps)
    return _like(est, fast, slow, total_weight_s)


def highest_rung(bandwidth_bps: Any, max_index: Any = len(LADDER) - 1) -> Any:
    """Index of the highest rung whose bitrate fits in `bandwidth_bps` (0 when none does)."""
    bw = np.asarray(bandwidth_bps, dtype=np.float64)
    idx = (bw >= LADDER_BPS[1]).astype(np.int64)  # four compares beat a binary search per element
    for rung_bps in LADDER_BPS[2:]:
        idx += bw >= rung_bps
    idx = np.minimum(idx, max_index)
    return _like(idx, bandwidth_bps, max_index)


def choose_rendition(current: Any, estimate_bps: Any, buffer_s: Any,
                     max_index: Any = len(LADDER) - 1) -> Any:
    """The next rung: up only with buffer and headroom, down as soon as either runs short."""
    cur = np.asarray(current)
    up = highest_rung(np.asarray(estimate_bps) * UP_FACTOR, max_index)
    keep = highest_rung(np.asarray(estimate_bps) * DOWN_FACTOR, max_index)
    panic = highest_rung(np.asarray(estimate_bps) * PANIC_FACTOR, max_index)
    buf = np.asarray(buffer_s)
    nxt = np.where((up > cur) & (buf >= UPSWITCH_BUFFER_S), up, np.minimum(cur, keep))
    nxt = np.where(buf < LOW_BUFFER_S, np.minimum(nxt, np.maximum(panic, np.minimum(cur, keep) - 1)), nxt)
    nxt = np.minimum(np.maximum(nxt, 0), max_index)
    return _like(nxt.astype(np.int64, copy=False), current, estimate_bps, buffer_s, max_index)


def step_buffer(buffer_s: Any, throughput_bps: Any, bitrate_bps: Any, dt_s: Any,
                max_buffer_s: float = MAX_BUFFER_S) -> tuple[Any, Any, Any, Any]:
    """Advance one player by `dt_s` of wall time: (buffer_s, played_s, stalled_s, downloaded_s).

    Media arrives at throughput/bitrate media-seconds per second (never beyond the buffer
    target) and plays in real time; once the buffer is empty, playback only keeps up with
    arrivals, and the rest of the interval is a stall.
    """
    buf = np.asarray(buffer_s, dtype=np.float64)
    dt = np.asarray(dt_s, dtype=np.float64)
    rate = np.asarray(throughput_bps, dtype=np.float64) / np.asarray(bitrate_bps, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_empty = np.where(rate < 1.0, buf / np.maximum(1.0 - rate, 1e-12), np.inf)
    t_play = np.minimum(t_empty, dt)  # real-time play until the buffer runs dry
    played = np.where(t_empty < dt, t_play + (dt - t_play) * rate, dt)
    stalled = dt - played
    downloaded = np.minimum(dt * rate, np.maximum(max_buffer_s - buf + played, 0.0))
    new_buf = np.clip(buf + downloaded - played, 0.0, max_buffer_s)
    ins = (buffer_s, throughput_bps, bitrate_bps, dt_s)
    return (_like(new_buf, *ins), _like(played, *ins), _like(stalled, *ins), _like(downloaded, *ins))


def startup_ms(latency_ms: Any, throughput_bps: Any, bitrate_bps: Any = LADDER_BPS[0],
               segments: int = 1) -> Any:
    """Play press to first frame: request latency plus the first segment(s) at the start rung."""
    transfer_s = segments * SEGMENT_SECONDS * np.asarray(bitrate_bps, dtype=np.float64) / np.asarray(
        throughput_bps, dtype=np.float64)
    return _like(np.asarray(latency_ms, dtype=np.float64) + 1000.0 * transfer_s,
                 latency_ms, throughput_bps, bitrate_bps)


@dataclass
class Beacon:
    """One QoE beacon as players send it; CMCD keys (CTA-5004) where one exists."""

    session_id: str
    region: str
    pop: str | None
    device: str
    video_id: int
    event: str  # start | heartbeat | rebuffer | error | end
    startup_ms: float | None = None
    rebuffer_s: float = 0.0
    bitrate_bps: int = 0
    error_code: str | None = None
    buffer_ms: float | None = None
    throughput_bps: float | None = None
    object_duration_ms: float = SEGMENT_SECONDS * 1000.0
    extra: dict[str, Any] = field(default_factory=dict)

    def cmcd(self) -> dict[str, Any]:
        """The CMCD keys: br/mtp in kbps, bl/d in ms, ot=v (video), sf=h (HLS)."""
        out: dict[str, Any] = {"br": round(self.bitrate_bps / 1000), "ot": "v", "sf": "h",
                               "sid": self.session_id, "cid": str(self.video_id),
                               "d": round(self.object_duration_ms)}
        if self.buffer_ms is not None:
            out["bl"] = round(self.buffer_ms / 100) * 100  # CMCD rounds bl to 100 ms
        if self.throughput_bps is not None:
            out["mtp"] = round(self.throughput_bps / 100_000) * 100  # and mtp to 100 kbps
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON body of the beacon, CMCD keys under `cmcd`."""
        body = asdict(self)
        body["cmcd"] = self.cmcd()
        return body
