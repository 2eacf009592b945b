"""Who watches what, and when: Zipf popularity, viral pulses, daily load curves, devices.

All samplers are vectorised (numpy) and seeded, so the fast-forward engine can draw
thousands of new sessions per step and two runs with one seed see the same audience.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamverse.platform.catalog import LADDER, SHARE_720P_MAX, SHARE_2160P
from streamverse.platform.topology import Topology

DEFAULT_ZIPF_EXPONENT = 0.9  # VoD catalogues measure 0.7-1.0; head titles dominate
CATALOG_SIZE = 3000

# Relative load by local hour (0..24): night trough near 04:00, evening peak at 21:00.
_HOURS = np.arange(25, dtype=np.float64)
_LOAD = np.array([0.55, 0.40, 0.30, 0.24, 0.22, 0.24, 0.30, 0.38, 0.42, 0.45, 0.47, 0.50, 0.55,
                  0.55, 0.55, 0.57, 0.62, 0.70, 0.80, 0.90, 0.97, 1.00, 0.92, 0.75, 0.55])

# Device mix: share, highest rung the screen uses, median access bandwidth (bit/s).
DEVICES = ("tv", "desktop", "mobile", "tablet")
DEVICE_SHARE = np.array([0.35, 0.25, 0.32, 0.08])
DEVICE_MAX_RUNG = np.array([4, 3, 2, 3])
# Medians sit below Ookla's Speedtest Global Index for 2025 (fixed ~95 Mbit/s, mobile ~60 Mbit/s):
# a home's TV or desktop shares the line and Wi-Fi, and phones are often on weaker cells.
DEVICE_MEDIAN_BPS = np.array([60e6, 50e6, 25e6, 35e6])
BANDWIDTH_SIGMA = 0.8  # lognormal spread of access bandwidth between households

WATCH_MEDIAN_S = 22 * 60.0  # how long people stay, before the title itself ends
WATCH_SIGMA = 0.9


def zipf_weights(n: int, exponent: float = DEFAULT_ZIPF_EXPONENT) -> np.ndarray:
    """Probability of each rank 1..n under Zipf with the given exponent (sums to 1)."""
    if n < 1:
        raise ValueError("a catalogue needs at least one title")
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(exponent)
    return w / w.sum()


def with_viral(weights: np.ndarray, boosts: dict[int, float], share_cap: float) -> np.ndarray:
    """Popularity with some rows' demand multiplied, each boosted row capped at `share_cap`."""
    if not boosts:
        return weights
    w = weights.copy()
    for row, mult in boosts.items():
        w[row] *= mult
    w /= w.sum()
    for row in boosts:
        if w[row] > share_cap:  # the cap: the rest of the catalogue keeps 1 - cap between them
            rest = 1.0 - w[row]
            w *= (1.0 - share_cap) / rest
            w[row] = share_cap
    return w / w.sum()


class PopularitySampler:
    """Draws catalogue rows (0 = most popular) by inverse CDF, thousands per call."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights
        self._cdf = np.cumsum(weights)
        self._cdf[-1] = 1.0

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` rows drawn with the sampler's weights."""
        return np.minimum(np.searchsorted(self._cdf, rng.random(size), side="right"), len(self._cdf) - 1)


def diurnal(utc_ts: np.ndarray | float, utc_offset_h: float | np.ndarray) -> np.ndarray | float:
    """Relative load (peak 1.0) at UTC epoch seconds for an audience at `utc_offset_h`."""
    local_h = np.mod(np.asarray(utc_ts, dtype=np.float64) / 3600.0 + np.asarray(utc_offset_h), 24.0)
    out = np.interp(local_h, _HOURS, _LOAD)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class RegionLoad:
    """Target concurrent sessions per region over time, scaled so the daily global peak is `viewers`."""

    names: tuple[str, ...]
    shares: np.ndarray
    offsets: np.ndarray
    norm: float
    viewers: int

    @classmethod
    def for_topology(cls, topology: Topology, viewers: int) -> RegionLoad:
        """Shares and time zones from the topology; the peak of the global sum is found numerically."""
        names = tuple(r.name for r in topology.regions)
        shares = np.array([r.users_share for r in topology.regions], dtype=np.float64)
        shares = shares / shares.sum()
        offsets = np.array([r.utc_offset_h for r in topology.regions], dtype=np.float64)
        grid = np.arange(0, 86400, 300, dtype=np.float64)
        total = (shares[:, None] * np.interp(np.mod(grid[None, :] / 3600 + offsets[:, None], 24),
                                             _HOURS, _LOAD)).sum(axis=0)
        return cls(names, shares, offsets, float(total.max()), int(viewers))

    def targets(self, utc_ts: float) -> np.ndarray:
        """Concurrent sessions wanted in each region at `utc_ts`."""
        load = np.interp(np.mod(utc_ts / 3600 + self.offsets, 24), _HOURS, _LOAD)
        return self.viewers * self.shares * load / self.norm


def synthetic_catalog(count: int = CATALOG_SIZE, seed: int = 7) -> dict[str, np.ndarray]:
    """The seeded catalogue without a database, ordered by popularity rank (row 0 = rank 1).

    Draws in the same order as `catalog.seed_catalog`, so the same seed gives the same ids,
    durations and ladders as the live platform's database.
    """
    rng = np.random.default_rng(seed)
    durations = np.clip(np.exp(rng.normal(np.log(1800.0), 0.85, count)), 120.0, 10_800.0).round(1)
    ranks = rng.permutation(count) + 1
    rng.choice(12, count)  # genres: drawn only to stay in step with seed_catalog
    u = rng.random(count)
    p4k = SHARE_2160P * 2 * (1 - ranks / (count + 1))
    max_idx = np.where(u < p4k, 4, np.where(u > 1 - SHARE_720P_MAX, 2, 3))
    order = np.argsort(ranks, kind="stable")
    return {"video_id": (np.arange(count) + 1)[order], "duration_s": durations[order],
            "max_ladder_index": max_idx[order].astype(np.int64), "popularity_rank": ranks[order]}


def sample_devices(rng: np.random.Generator, size: int) -> np.ndarray:
    """Device index per new session, by the device mix."""
    return rng.choice(len(DEVICES), size=size, p=DEVICE_SHARE)


def sample_bandwidth(rng: np.random.Generator, devices: np.ndarray) -> np.ndarray:
    """Access bandwidth (bit/s) per session: lognormal around the device's median."""
    bw = DEVICE_MEDIAN_BPS[devices] * np.exp(rng.normal(0.0, BANDWIDTH_SIGMA, len(devices)))
    return np.clip(bw, 0.3e6, 1e9)


def sample_watch_s(rng: np.random.Generator, durations_s: np.ndarray) -> np.ndarray:
    """How long each new session watches: lognormal, never past the end of its title."""
    watch = WATCH_MEDIAN_S * np.exp(rng.normal(0.0, WATCH_SIGMA, len(durations_s)))
    return np.clip(np.minimum(watch, durations_s), 30.0, None)


assert len(DEVICE_MAX_RUNG) == len(DEVICES) and DEVICE_MAX_RUNG.max() < len(LADDER)
