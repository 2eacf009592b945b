"""The platform services around fast-forward's viewers: the API gateway and the transcode queue.

They sit outside the vector step because they are small and scalar (a handful of numbers
per region each step), so they need no arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamverse.platform import audience

GATEWAY_HEADROOM = 3.0  # gateways are sized for three times the daily peak of legitimate calls
API_CALLS_PER_START = 3  # token, playback, manifest
HEARTBEAT_S = 60.0  # players refresh tokens / report once a minute through the gateway
MEAN_SESSION_S = 1500.0
UPLOADS_PER_DAY = 10_000
TRANSCODE_WORKERS = 24
TRANSCODE_JOB_S = 120.0


class GatewayModel:
    """Per-region API gateway capacity; ddos bots are admitted per IP by the LimitTable's limits."""

    def __init__(self, *, regions: list[str], load: audience.RegionLoad, scale: float,
                 limits: Any | None) -> None:
        from streamverse.platform.ratelimit import LimitTable

        self.regions, self.scale = regions, scale
        self.limits = limits if limits is not None else LimitTable()
        grid = np.arange(0, 86400, 600.0)
        peak = np.max([load.targets(t) for t in grid], axis=0)
        self.capacity = GATEWAY_HEADROOM * peak * scale * (API_CALLS_PER_START / MEAN_SESSION_S
                                                           + 1 / HEARTBEAT_S)
        self.requests: dict[tuple[str, str], float] = {}  # (region, code) -> requests
        self.ratelimited_by_region: dict[str, float] = {}
        self._ips: dict[tuple[str, int], list[str]] = {}

    def bot_ips(self, region: str, count: int) -> list[str]:
        """Stable addresses for a region's botnet (documentation ranges)."""
        key = (region, count)
        if key not in self._ips:
            base = self.regions.index(region)
            self._ips[key] = [f"198.{18 + base % 2}.{(i // 250) % 256}.{i % 250 + 1}" for i in range(count)]
        return self._ips[key]

    def admit(self, rng: np.random.Generator, *, region: np.ndarray, starting: np.ndarray,
              active: np.ndarray, dt: float, effects: Any) -> np.ndarray | None:
        """Which starting sessions get through the gateway this step; None when all do.

        `region` and `starting` are per session slot, `active` the live sessions per region.
        Only play requests can be refused; heartbeats of running sessions are counted.
        """
        R = len(self.regions)
        starting_r = np.bincount(region, weights=starting, minlength=R)
        legit = (starting_r * API_CALLS_PER_START / dt + active / HEARTBEAT_S) * self.scale
        p_ok = np.ones(R)
        for r, name in enumerate(self.regions):
            mult = effects.ddos_multiplier.get(name)
            if not mult:
                continue
            ips = self.bot_ips(name, int(effects.ddos_bot_ips.get(name, 1000)))
            per_ip = mult * max(legit[r], 1.0) / len(ips)
            admitted = sum(min(per_ip, self.limits.get("ip", ip).rate_per_s) for ip in ips)
            refused = (per_ip * len(ips) - admitted) * dt
            self.ratelimited_by_region[name] = self.ratelimited_by_region.get(name, 0.0) + refused
            self._count(name, "429", refused)
            p_ok[r] = min(1.0, self.capacity[r] / (legit[r] + admitted))
            self._count(name, "200", admitted * p_ok[r] * dt)
            self._count(name, "503", admitted * (1 - p_ok[r]) * dt)
        for r, name in enumerate(self.regions):
            self._count(name, "200", float(legit[r] * p_ok[r] * dt))
            self._count(name, "503", float(legit[r] * (1 - p_ok[r]) * dt))
        if not (p_ok < 1).any():
            return None
        out = np.ones(len(region), dtype=bool)
        idx = np.flatnonzero(starting)
        out[idx] = rng.random(len(idx)) < p_ok[region[idx]]
        return out

    @property
    def ratelimited(self) -> float:
        """Requests refused by per-IP limits, all regions."""
        return sum(self.ratelimited_by_region.values())

    def _count(self, region: str, code: str, n: float) -> None:
        if n:
            self.requests[(region, code)] = self.requests.get((region, code), 0.0) + n


class TranscodeQueue:
    """Uploads waiting for transcode workers: a fluid queue with Poisson arrivals."""

    def __init__(self, *, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed + 1)
        self.depth = 0.0
        self.done = 0.0
        self.arrived = 0.0

    def step(self, *, dt: float, effects: Any) -> None:
        """Arrivals at 10,000/day x surge; workers finish jobs at their (possibly slowed) pace."""
        arrivals = float(self.rng.poisson(UPLOADS_PER_DAY / 86400.0 * dt * effects.upload_multiplier))
        capacity = TRANSCODE_WORKERS * dt / (TRANSCODE_JOB_S * effects.transcode_slowdown)
        served = min(self.depth + arrivals, capacity)
        self.depth += arrivals - served
        self.done += served
        self.arrived += arrivals
