"""The pieces around fast-forward's viewers: API gateway, transcode queue and telemetry writer.

Split from the engine so `fastforward.py` holds only the vector step; these models are
small, per-step and scalar (a handful of numbers per region), so they need no arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from streamverse.metricstore import MetricStore
from streamverse.platform import audience
from streamverse.platform import metrics as m
from streamverse.platform.fastforward_usage import UsageTelemetry
from streamverse.platform.start_share import BASELINE_S, TOP_K, WINDOW_S, surges

if TYPE_CHECKING:
    from streamverse.platform.fastforward import FastForward

CODES = np.array([200, 404, 429, 500, 502, 503, 504])
STARTUP_BIN_MS = 10.0
STARTUP_BINS = 6000

GATEWAY_HEADROOM = 3.0  # gateways are sized for three times the daily peak of legitimate calls
API_CALLS_PER_START = 3  # token, playback, manifest
HEARTBEAT_S = 60.0  # players refresh tokens / report once a minute through the gateway
MEAN_SESSION_S = 1500.0
UPLOADS_PER_DAY = 10_000
TRANSCODE_WORKERS = 24
TRANSCODE_JOB_S = 120.0
SHARE_WINDOW_S = WINDOW_S
SHARE_TOP_K = TOP_K
SHARE_MIN_STARTS = 40


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


def default_telemetry_step(duration_s: float) -> float:
    """30 s for runs up to 6 h, 60 s up to two days, 5 min beyond (backfills)."""
    if duration_s <= 6 * 3600:
        return 30.0
    if duration_s <= 2 * 86400:
        return 60.0
    return 300.0


class TelemetryWriter:
    """Cumulative counters and gauges written to a MetricStore on the virtual clock, as scraped."""

    BATCH = 20_000

    def __init__(self, *, store: MetricStore | None, engine: FastForward, step_s: float) -> None:
        self.store, self.ff, self.step_s = store, engine, float(step_s)
        self.last: float | None = None
        self.pending: list[Any] = []
        self.samples = 0
        self.series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        self._labels: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}
        self.usage = UsageTelemetry(engine, step_s=self.step_s)
        self._starts: list[tuple[float, np.ndarray]] = []

    def maybe_write(self, now: float) -> None:
        """Write a scrape when a telemetry step has passed."""
        if self.store is None:
            return
        if self.last is None or now - self.last >= self.step_s - 1e-6:
            self.last = now
            self._scrape(now)
            if len(self.pending) >= self.BATCH:
                self.flush()

    def flush(self, *, final: bool = False) -> None:
        """Hand pending samples to the store."""
        if self.store is not None and self.pending:
            self.store.write(self.pending)
            self.pending = []

    def _video_share(self, ts: float) -> None:
        """Top titles' share of play starts and its surge over their 10-minute share (viral signal).

        Snapshots of the per-title start counters, one per scrape, give both windows; see
        `start_share` for why the surge, and why only the top few titles get a series.
        """
        ff = self.ff
        self._starts.append((ts, ff.starts_by_row.copy()))
        while len(self._starts) > 2 and ts - self._starts[1][0] >= BASELINE_S:
            self._starts.pop(0)
        short_from = next((c for t, c in self._starts if ts - t <= SHARE_WINDOW_S), self._starts[0][1])
        now_counts = self._starts[-1][1]
        delta, base = now_counts - short_from, now_counts - self._starts[0][1]
        total = float(delta.sum())
        if total < SHARE_MIN_STARTS:
            return
        rows = [r for r in np.argsort(delta)[-SHARE_TOP_K:] if delta[r] > 0]
        ids = {str(int(ff.video_ids[r])): r for r in rows}
        found = surges({v: float(delta[r]) for v, r in ids.items()}, total,
                       {v: float(base[r]) for v, r in ids.items()}, float(base.sum()), top_k=SHARE_TOP_K)
        for vid, (share, surge) in found.items():
            self._add(m.VIDEO_START_SHARE, (("video_id", vid),), ts, share)
            self._add(m.VIDEO_START_SURGE, (("video_id", vid),), ts, surge)

    def _add(self, name: str, labels: tuple[tuple[str, str], ...], ts: float, value: float) -> None:
        from streamverse.metricstore import Sample

        key = (name, labels)
        lab = self._labels.get(key)
        if lab is None:
            lab = self._labels[key] = dict(labels)
            self.series.add(key)
        self.pending.append(Sample(name, lab, ts, float(value)))
        self.samples += 1

    def _scrape(self, ts: float) -> None:
        ff, add = self.ff, self._add
        scale = ff.scale
        for p, pop in enumerate(ff.pops):
            region = ff.regions[ff.pop_region[p]]
            cells = ff.pop_req[p]
            for c, cache in enumerate(("hit", "miss")):
                for k in np.flatnonzero(cells[c]):
                    add(m.EDGE_REQUESTS, (("region", region), ("pop", pop), ("cache", cache),
                                          ("code", str(CODES[k]))), ts, cells[c, k])
            if ff.pop_bytes[p]:
                add(m.EDGE_BYTES, (("region", region), ("pop", pop)), ts, ff.pop_bytes[p])
            add(m.POP_HEALTHY, (("region", region), ("pop", pop)), ts,
                1.0 if ff.platform.health.healthy(pop) else 0.0)
        les = [f"{b:g}" for b in m.STARTUP_BUCKETS] + ["+Inf"]
        edges = [int(round(b * 1000 / STARTUP_BIN_MS)) for b in m.STARTUP_BUCKETS] + [STARTUP_BINS]
        for r, region in enumerate(ff.regions):
            cum = np.concatenate([[0.0], np.cumsum(ff.startup_hist[r])]) * scale
            for le, e in zip(les, edges, strict=True):
                add(m.STARTUP + "_bucket", (("region", region), ("le", le)), ts, cum[e])
            add(m.STARTUP + "_sum", (("region", region),), ts, ff.startup_sum[r] * scale)
            add(m.STARTUP + "_count", (("region", region),), ts, cum[-1])
            add(m.REBUFFER, (("region", region),), ts, ff.tot["stalled"][r] * scale)
            add(m.PLAYBACK, (("region", region),), ts, ff.tot["played"][r] * scale)
            add(m.PLAYBACK_SESSIONS, (("region", region),), ts, ff.tot["started"][r] * scale)
            for reason, counts in ff.errors_by_reason.items():
                add(m.PLAYBACK_ERRORS, (("region", region), ("reason", reason)), ts, counts[r])
            for p in np.flatnonzero(ff.dns_answers[r]):
                add(m.DNS_ANSWERS, (("client_region", region), ("pop", ff.pops[p])), ts, ff.dns_answers[r, p])
        for (region, code), n in ff.gateway.requests.items():
            add(m.GATEWAY_REQUESTS, (("region", region), ("route", "/v1/playback"), ("code", code)), ts, n)
        for region, n in ff.gateway.ratelimited_by_region.items():
            add(m.RATELIMITED, (("region", region), ("scope", "ip")), ts, n)
        for (origin, status), n in ff.platform.cdn.origin_requests.items():
            add(m.ORIGIN_REQUESTS, (("origin", origin), ("code", str(status))), ts, float(n))
        self._video_share(ts)
        self.usage.scrape(add, ts)
        add(m.TRANSCODE_QUEUE, (), ts, ff.transcode.depth)
        add(m.TRANSCODE_JOBS, (("status", "succeeded"),), ts, ff.transcode.done)
