"""Fast-forward's telemetry: at each telemetry step, the scrape the platform's exporters would answer.

The engine keeps cumulative counts (requests, bytes, startups, stalls) as it steps; this
module reads them as a Prometheus scrape would, under the names the live platform exports
(`metrics.py`), and publishes each scrape as a `ScrapeSnapshot` to the sink the caller gave
(the control center's collector stores them). Without a sink nothing is scraped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streamverse.platform import metrics as m
from streamverse.platform.fastforward_usage import VIDEO_EGRESS, UsageTelemetry
from streamverse.platform.media.metrics import STORED_BYTES
from streamverse.platform.scrape_snapshot import MetricType, ScrapeSample, ScrapeSnapshot, SnapshotSink
from streamverse.platform.start_share import BASELINE_S, TOP_K, WINDOW_S, surges

if TYPE_CHECKING:
    from streamverse.platform.fastforward import FastForward

CODES = np.array([200, 404, 429, 500, 502, 503, 504])
STARTUP_BIN_MS = 10.0
STARTUP_BINS = 6000
SHARE_WINDOW_S = WINDOW_S
SHARE_TOP_K = TOP_K
SHARE_MIN_STARTS = 40

Labels = tuple[tuple[str, str], ...]

# Every family a scrape holds, with its exposition type: a new series name must be typed here.
METRIC_TYPES: dict[str, MetricType] = {
    **{name: "counter" for name in (
        m.EDGE_REQUESTS, m.EDGE_BYTES, m.REBUFFER, m.PLAYBACK, m.PLAYBACK_SESSIONS, m.PLAYBACK_ERRORS,
        m.DNS_ANSWERS, m.GATEWAY_REQUESTS, m.RATELIMITED, m.ORIGIN_REQUESTS, m.SHIELD_BYTES,
        m.ORIGIN_BYTES, m.TRANSCODE_JOBS, VIDEO_EGRESS)},
    **{m.STARTUP + suffix: "histogram" for suffix in ("_bucket", "_sum", "_count")},
    **{name: "gauge" for name in (
        m.POP_HEALTHY, m.VIDEO_START_SHARE, m.VIDEO_START_SURGE, m.TRANSCODE_QUEUE, STORED_BYTES)},
}


def default_telemetry_step(duration_s: float) -> float:
    """30 s for runs up to 6 h, 60 s up to two days, 5 min beyond (backfills)."""
    if duration_s <= 6 * 3600:
        return 30.0
    if duration_s <= 2 * 86400:
        return 60.0
    return 300.0


class TelemetryPublisher:
    """Cumulative counters and gauges, scraped on the virtual clock and published to a sink."""

    def __init__(self, *, sink: SnapshotSink | None, engine: FastForward, step_s: float) -> None:
        self.sink, self.ff, self.step_s = sink, engine, float(step_s)
        self.last: float | None = None
        self.samples = 0
        self.series: set[tuple[str, Labels]] = set()
        # One label dict per series, reused by every scrape: receivers may key on its identity.
        self._labels: dict[tuple[str, Labels], tuple[dict[str, str], MetricType]] = {}
        self._current: list[ScrapeSample] = []
        self._ts = 0.0
        self.usage = UsageTelemetry(engine, step_s=self.step_s)
        self._starts: list[tuple[float, np.ndarray]] = []

    def maybe_publish(self, now: float) -> None:
        """Scrape and publish when a telemetry step has passed."""
        if self.sink is None:
            return
        if self.last is None or now - self.last >= self.step_s - 1e-6:
            self.last = now
            self.sink.publish(self.scrape(now))

    def flush(self) -> None:
        """Ask the sink to make what it was given visible (end of run)."""
        if self.sink is not None:
            self.sink.flush()

    def scrape(self, ts: float) -> ScrapeSnapshot:
        """The snapshot a scrape at `ts` would return."""
        self._current, self._ts = [], ts
        self._scrape(ts)
        snapshot = ScrapeSnapshot(ts=ts, samples=self._current)
        self._current = []
        return snapshot

    def _add(self, name: str, labels: Labels, ts: float, value: float) -> None:
        key = (name, labels)
        known = self._labels.get(key)
        if known is None:
            known = self._labels[key] = (dict(labels), METRIC_TYPES[name])
            self.series.add(key)
        self._current.append(ScrapeSample(name, known[0], float(value), known[1],
                                          None if ts == self._ts else ts))
        self.samples += 1

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
