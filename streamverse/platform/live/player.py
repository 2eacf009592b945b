"""A live ABR viewer: logs in at the gateway and plays HLS from an edge in real time.

It behaves like a small hls.js: start on the lowest rung, measure each download into the
dual EWMA of `streamverse.platform.abr`, switch rungs with buffer and headroom, stall
when the buffer runs dry, retry a failing segment, then ask playback for a fresh PoP.
Its last mile is paced to a per-viewer link speed, so loopback does not make every viewer
a 10 Gbit/s client. What it sees goes into the platform's QoE metrics and into CMCD-keyed
beacons kept in memory for the telemetry pipeline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
import numpy as np

from streamverse.clock import Clock
from streamverse.platform import abr, audience
from streamverse.platform.catalog import SEGMENT_SECONDS
from streamverse.tracing import new_span_id, new_trace_id

log = logging.getLogger("streamverse.player")

SEGMENT_RETRIES = 2  # per PoP, before asking playback for another
RESOLVE_RETRIES = 2
HEARTBEAT_S = 10.0
MAX_LINK_BPS = 40e6  # one machine serves every viewer: cap the fastest households
POPULAR_TITLES = 500


class PlaybackFailed(Exception):
    """A session that could not continue; `reason` becomes the playback_errors label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Variant:
    """One rendition from the master playlist."""

    bandwidth: int
    uri: str
    resolution: str = ""
    segments: list[tuple[str, float]] = field(default_factory=list)


def parse_master(text: str, base_url: str) -> list[Variant]:
    """Variants of a master playlist, lowest bandwidth first, with absolute URIs."""
    variants: list[Variant] = []
    attrs: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = _attributes(line.split(":", 1)[1])
        elif line and not line.startswith("#") and attrs is not None:
            variants.append(Variant(int(attrs.get("BANDWIDTH", "0")), urljoin(base_url, line),
                                    attrs.get("RESOLUTION", "")))
            attrs = None
    if not variants:
        raise PlaybackFailed("bad_manifest", "master playlist lists no variants")
    return sorted(variants, key=lambda v: v.bandwidth)


def parse_media(text: str, base_url: str) -> list[tuple[str, float]]:
    """(absolute segment URL, duration) of a media playlist."""
    out: list[tuple[str, float]] = []
    duration: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            out.append((urljoin(base_url, line), duration))
            duration = None
    if not out:
        raise PlaybackFailed("bad_manifest", "media playlist lists no segments")
    return out


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    key, value, quoted, buf = "", "", False, []
    for ch in text + ",":
        if ch == '"':
            quoted = not quoted
        elif ch == "=" and not quoted and not key:
            key, buf = "".join(buf).strip(), []
        elif ch == "," and not quoted:
            value, buf = "".join(buf).strip(), []
            if key:
                out[key.upper()] = value
            key = ""
        else:
            buf.append(ch)
    return out


def cmcd_headers(keys: dict[str, Any]) -> dict[str, str]:
    """CMCD (CTA-5004) keys as its four request headers; strings quoted, keys sorted."""
    shards = {"CMCD-Object": ("br", "d", "ot", "tb"), "CMCD-Request": ("bl", "dl", "mtp", "nor", "su"),
              "CMCD-Session": ("cid", "pr", "sf", "sid", "st", "v"), "CMCD-Status": ("bs", "rtp")}
    out = {}
    for header, names in shards.items():
        parts = []
        for k in sorted(n for n in names if n in keys):
            v = keys[k]
            if v is True:
                parts.append(k)
            elif isinstance(v, str) and k not in ("ot", "sf", "st"):
                parts.append(f'{k}="{v}"')
            else:
                parts.append(f"{k}={v}")
        if parts:
            out[header] = ",".join(parts)
    return out


def popularity_cum_weights(n: int) -> list[float]:
    """Cumulative Zipf weights over popularity ranks 1..n (the audience model's), for random.choices."""
    return list(itertools.accumulate(float(w) for w in audience.zipf_weights(n)))


class LiveViewer:
    """One viewer watching short sessions back to back until told to stop."""

    def __init__(self, *, gateway_url: str, username: str, password: str, region: str, metrics: Any,
                 clock: Clock, seed: int = 0, watch_s: tuple[float, float] = (20.0, 60.0),
                 link_bps: float | None = None, name: str = "viewer", max_beacons: int = 500,
                 beacon_sink: Callable[[abr.Beacon], None] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 demand: Callable[[], Any] | None = None, local_address: str | None = None) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        # Its own loopback address, so the gateway's per-IP limits see one client per viewer.
        self.local_address = local_address
        # The platform's fault effects: a viral title pulls this share of new plays (as in fast-forward).
        self.demand = demand
        self.username, self.password = username, password
        self.region = region
        self.metrics = metrics
        self.clock = clock
        self.rng = random.Random(seed)
        self.watch_s = watch_s
        # Device and home broadband from the audience model, so rungs differ between viewers.
        np_rng = np.random.default_rng(seed)
        device = audience.sample_devices(np_rng, 1)
        self.device = audience.DEVICES[int(device[0])]
        self.max_rung = int(audience.DEVICE_MAX_RUNG[int(device[0])])
        drawn = float(audience.sample_bandwidth(np_rng, device)[0])
        self.link_bps = link_bps if link_bps is not None else min(MAX_LINK_BPS, max(1.5e6, drawn))
        self.name = name
        self.beacons: deque[abr.Beacon] = deque(maxlen=max_beacons)
        self.beacon_sink = beacon_sink
        self._transport = transport
        self._token: str | None = None
        self._popular: list[int] = []
        self._cum: list[float] = []
        self.stats = {"sessions": 0, "failed": 0, "segments": 0, "bytes": 0, "segment_errors": 0,
                      "rebuffer_s": 0.0, "played_s": 0.0, "last_pop": None, "last_error": None}

    def beacons_as_dicts(self) -> list[dict[str, Any]]:
        """The kept beacons as JSON-ready dicts."""
        return [b.to_dict() | {"ts": b.extra.get("ts")} for b in list(self.beacons)]

    def _emit(self, beacon: abr.Beacon) -> None:
        beacon.extra.setdefault("ts", self.clock.now())
        self.beacons.append(beacon)
        if self.beacon_sink is not None:
            try:
                self.beacon_sink(beacon)
            except Exception:
                log.exception("beacon sink failed")

    async def run(self, stop: asyncio.Event) -> None:
        """Watch sessions until `stop` is set; failures are recorded, never raised."""
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=4)
        timeout = httpx.Timeout(10.0, connect=2.0)
        transport = self._transport
        if transport is None and self.local_address:
            transport = httpx.AsyncHTTPTransport(local_address=self.local_address, limits=limits)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport) as http:
            await self._sleep(stop, self.rng.uniform(0.0, 1.0))  # do not all start in the same ms
            while not stop.is_set():
                try:
                    video_id = await self._pick_video(http)
                    await self.session(http, video_id, stop)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug must not kill the viewer; it shows in the log
                    log.exception("viewer session crashed", extra={"viewer": self.name, "error": repr(exc)})
                await self._sleep(stop, self.rng.uniform(0.5, 3.0))

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _headers(self, trace_id: str) -> dict[str, str]:
        h = {"traceparent": f"00-{trace_id}-{new_span_id()}-01", "X-Client-Region": self.region}
        if self._token:
            h["Authorization"] = f"Bearer {self._token}"
        return h

    async def _login(self, http: httpx.AsyncClient, trace_id: str) -> None:
        resp = await http.post(f"{self.gateway_url}/v1/auth/login", headers=self._headers(trace_id),
                               json={"username": self.username, "password": self.password})
        if resp.status_code != 200:
            raise PlaybackFailed("login", f"gateway answered {resp.status_code}")
        self._token = resp.json()["access_token"]

    async def _api(self, http: httpx.AsyncClient, method: str, path: str, trace_id: str) -> httpx.Response:
        """A gateway call with login on demand and one retry after 401 or 429."""
        for attempt in range(3):
            if self._token is None:
                await self._login(http, trace_id)
            try:
                resp = await http.request(method, self.gateway_url + path, headers=self._headers(trace_id))
            except httpx.HTTPError as exc:
                raise PlaybackFailed("gateway_unreachable", type(exc).__name__) from None
            if resp.status_code == 401:
                self._token = None
                continue
            if resp.status_code in (429, 503) and attempt < 2:
                await asyncio.sleep(min(5.0, float(resp.headers.get("retry-after", "1") or 1)))
                continue
            return resp
        return resp

    async def _pick_video(self, http: httpx.AsyncClient) -> int:
        """A title by Zipf popularity over the catalog's most popular titles."""
        if not self._popular:
            resp = await self._api(http, "GET", f"/v1/catalog?limit={POPULAR_TITLES}", new_trace_id())
            if resp.status_code == 200:
                self._popular = [int(v["id"]) for v in resp.json().get("items", [])]
                self._cum = popularity_cum_weights(len(self._popular))
        if not self._popular:
            return self.rng.randint(1, 100)
        effects = self.demand() if self.demand is not None else None
        if effects is not None and effects.video_multiplier:
            viral = max(effects.video_multiplier, key=effects.video_multiplier.get)
            if self.rng.random() < effects.video_share_cap:
                return int(viral)
        return self.rng.choices(self._popular, cum_weights=self._cum)[0]

    async def _resolve(self, http: httpx.AsyncClient, video_id: int, trace_id: str) -> tuple[str, str]:
        resp = await self._api(http, "POST", f"/v1/playback/{video_id}", trace_id)
        if resp.status_code == 503:
            raise PlaybackFailed("no_pop", resp.text[:200])
        if resp.status_code != 200:
            raise PlaybackFailed(f"playback_{resp.status_code}", resp.text[:200])
        body = resp.json()
        return body["master_url"], body["pop"]

    async def _get_text(self, http: httpx.AsyncClient, url: str, trace_id: str) -> str:
        try:
            resp = await http.get(url, headers=self._headers(trace_id))
        except httpx.HTTPError as exc:
            raise PlaybackFailed("network", type(exc).__name__) from None
        self.stats["bytes"] += len(resp.content)
        if resp.status_code != 200:
            raise PlaybackFailed(f"http_{resp.status_code}", url)
        return resp.text

    async def _fetch_segment(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
        """Download one segment at the viewer's link speed; returns its size in bytes."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        got = 0
        try:
            async with http.stream("GET", url, headers=headers) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise PlaybackFailed(f"http_{resp.status_code}", url)
                expected = resp.headers.get("content-length")
                async for chunk in resp.aiter_bytes(64 * 1024):
                    got += len(chunk)
                    delay = t0 + got * 8 / self.link_bps - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
        except httpx.HTTPError as exc:
            raise PlaybackFailed("network", type(exc).__name__) from None
        if expected is not None and int(expected) != got:
            raise PlaybackFailed("truncated", f"{got} of {expected} bytes")
        return got

    async def session(self, http: httpx.AsyncClient, video_id: int, stop: asyncio.Event) -> dict[str, Any]:
        """Play one title for a short while; returns what the viewer experienced."""
        loop = asyncio.get_running_loop()
        region, m = self.region, self.metrics
        sid = uuid.UUID(int=self.rng.getrandbits(128)).hex
        trace_id = new_trace_id()
        target_s = self.rng.uniform(*self.watch_s)
        pressed = loop.time()
        m.playback_sessions.labels(region=region).inc()
        self.stats["sessions"] += 1
        state = {"pop": None, "rung": 0, "buffer": 0.0, "played": 0.0, "stalled": 0.0, "started": False}

        def beacon(event: str, **kw: Any) -> abr.Beacon:
            return abr.Beacon(session_id=sid, region=region, pop=state["pop"], device=self.device,
                              video_id=video_id, event=event, bitrate_bps=kw.pop("bitrate_bps", 0),
                              extra={"played_s": round(state["played"], 3)}, **kw)  # RUM's watch time

        try:
            master_url, state["pop"] = await self._resolve(http, video_id, trace_id)
            variants = parse_master(await self._get_text(http, master_url, trace_id), master_url)
            fast = slow = weight = 0.0
            index, last_tick, last_beat = 0, loop.time(), loop.time()
            startup_s = None
            while not stop.is_set() and state["played"] < target_s:
                top = min(len(variants) - 1, self.max_rung)
                rung = state["rung"] if index == 0 else int(abr.choose_rendition(
                    state["rung"], abr.bandwidth_estimate(fast, slow, weight), state["buffer"], top))
                variant = variants[rung]
                if not variant.segments:
                    text = await self._get_text(http, variant.uri, trace_id)
                    variant.segments = parse_media(text, variant.uri)
                if index >= len(variant.segments):
                    break
                url, seg_s = variant.segments[index]
                est = abr.bandwidth_estimate(fast, slow, weight)
                keys = beacon("segment", bitrate_bps=variant.bandwidth, buffer_ms=state["buffer"] * 1000,
                              throughput_bps=est, object_duration_ms=seg_s * 1000).cmcd()
                keys.update({"st": "v", "v": 1, "tb": round(variants[-1].bandwidth / 1000)})
                if not state["started"]:
                    keys["su"] = True
                t0 = loop.time()
                size = await self._segment_with_retries(http, video_id, url, keys, trace_id, state, variants,
                                                        index, rung)
                t1 = loop.time()
                self._advance(state, t1 - last_tick)
                last_tick = t1
                fast, slow, weight = abr.update_bandwidth(fast, slow, weight, size * 8 / max(t1 - t0, 1e-4),
                                                          max(t1 - t0, 1e-4))
                state["buffer"] += seg_s
                state["rung"] = rung
                index += 1
                self.stats["segments"] += 1
                if not state["started"]:
                    state["started"] = True
                    startup_s = t1 - pressed
                    m.startup.labels(region=region).observe(startup_s)
                    self._emit(beacon("start", startup_ms=startup_s * 1000, bitrate_bps=variant.bandwidth))
                if t1 - last_beat >= HEARTBEAT_S:
                    last_beat = t1
                    self._emit(beacon("heartbeat", bitrate_bps=variant.bandwidth,
                                      buffer_ms=state["buffer"] * 1000, rebuffer_s=state["stalled"],
                                      throughput_bps=abr.bandwidth_estimate(fast, slow, weight)))
                # Keep at most MAX_BUFFER_S ahead, and stop fetching once the watch target is in hand.
                ahead = state["buffer"] - max(0.0, abr.MAX_BUFFER_S - seg_s)
                left = target_s - state["played"] - state["buffer"]
                wait = state["buffer"] if left <= 0 else max(0.0, ahead)
                wait = min(wait, max(0.0, target_s - state["played"]))
                while wait > 0 and not stop.is_set():  # play in steps so the counters move live
                    step = min(wait, 1.0)
                    await self._sleep(stop, step)
                    wait -= step
                    now = loop.time()
                    self._advance(state, now - last_tick)
                    last_tick = now
        except PlaybackFailed as exc:
            m.playback_errors.labels(region=region, reason=exc.reason).inc()
            self.stats["failed"] += 1
            self.stats["last_error"] = str(exc)
            self._emit(beacon("error", error_code=exc.reason, rebuffer_s=state["stalled"]))
            log.info("playback failed", extra={
                "viewer": self.name, "reason": exc.reason, "trace_id": trace_id, "pop": state["pop"],
                "video_id": video_id})
            return {"ok": False, "reason": exc.reason, **state}
        self._emit(beacon("end", rebuffer_s=state["stalled"],
                          bitrate_bps=variants[state["rung"]].bandwidth if state["started"] else 0))
        return {"ok": True, **state}

    def _advance(self, state: dict[str, Any], dt: float) -> None:
        """Play `dt` seconds of wall time from the buffer; what the buffer cannot cover is a stall."""
        if dt <= 0 or not state["started"]:
            return
        played = min(dt, state["buffer"])
        stalled = dt - played
        state["buffer"] -= played
        state["played"] += played
        self.stats["played_s"] += played
        self.metrics.playback.labels(region=self.region).inc(played)
        if stalled > 0:
            state["stalled"] += stalled
            self.stats["rebuffer_s"] += stalled
            self.metrics.rebuffer.labels(region=self.region).inc(stalled)

    async def _segment_with_retries(self, http: httpx.AsyncClient, video_id: int, url: str,
                                    keys: dict[str, Any], trace_id: str, state: dict[str, Any],
                                    variants: list[Variant], index: int, rung: int) -> int:
        """A segment, retried on the same PoP, then from a PoP playback picks afresh."""
        last: PlaybackFailed | None = None
        for resolve in range(RESOLVE_RETRIES + 1):
            for attempt in range(SEGMENT_RETRIES + 1):
                try:
                    headers = {**self._headers(trace_id), **cmcd_headers(keys)}
                    size = await self._fetch_segment(http, url, headers)
                    self.stats["bytes"] += size
                    self.stats["last_pop"] = state["pop"]
                    return size
                except PlaybackFailed as exc:
                    last = exc
                    self.stats["segment_errors"] += 1
                    self.stats["last_error"] = str(exc)
                    await asyncio.sleep(0.2 * (2 ** attempt))
            if resolve == RESOLVE_RETRIES:
                break
            master_url, state["pop"] = await self._resolve(http, video_id, trace_id)
            fresh = parse_master(await self._get_text(http, master_url, trace_id), master_url)
            variants[:] = fresh
            rung = min(rung, len(variants) - 1)
            variants[rung].segments = parse_media(await self._get_text(http, variants[rung].uri, trace_id),
                                                  variants[rung].uri)
            url = variants[rung].segments[min(index, len(variants[rung].segments) - 1)][0]
        assert last is not None
        raise PlaybackFailed("segment_" + last.reason, str(last))


__all__ = ["LiveViewer", "PlaybackFailed", "cmcd_headers", "parse_master", "parse_media", "SEGMENT_SECONDS"]
