"""Fast-forward driver: the platform's own components on a virtual clock, sessions as arrays.

The same `Platform` (CDN caches, health checks, GeoDNS, fault book) that serves live
HTTP is driven here by a discrete-time loop; only the viewers are modelled in bulk.

Modelling choices, and why:
- Time step 30 s (five 6-s segments). The hls.js EWMA half-lives (3 s, 9 s) are shorter
  than a step, so within a step the estimate converges to the step's throughput: one
  sample per step, weighted by its download time, gives the same decisions as five.
  Health checks still tick every `health_interval_s` inside a step, so hard outages are
  caught within their interval, and 100,000 sessions x 24 h is 2,880 vector steps.
- Cache objects are chunks of `object_s` seconds (default 600 s = 100 segments) of one
  rendition, not single segments: 100,000 sessions would ask ~80,000 distinct segments
  per step, far more Python-level `CDN.fetch` calls than 60 s allow. Requests for the same
  (PoP, chunk) in one step are aggregated with numpy and the CDN is consulted once; its
  answer is applied with multiplicity. A session keeps the tier of its chunk's first
  A CDN miss on a chunk costs that chunk's segments as misses once (its fill, whoever
  the represented viewers are), plus the requests of the other modelled sessions that
  opened the same cold chunk in the same step (a thundering herd: a synchronised
  audience, as a viral title brings, misses together; the viewers one modelled session
  stands for are assumed spread out). Every other request is a hit, unless the PoP's probe
  shows the edge is not holding objects (edge-cache-failure): then all its requests
  miss. Continuing sessions see PoP-wide errors and latency through per-PoP probes.
- A (PoP, chunk) the CDN served without error is remembered (numpy bit array) until the
  fault effects change or the PoP has taken in a quarter of its cache since (eviction
  becomes possible), so the CDN is consulted for what could change: misses and faults.
- One modelled session stands for `scale` viewers (REPRESENTED_PEAK_USERS / viewers);
  telemetry and egress are in represented viewers, QoE ratios are per modelled session.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamverse.clock import RealClock, VirtualClock
from streamverse.collectors.store import MetricStore
from streamverse.platform import abr, audience
from streamverse.platform import metrics as m
from streamverse.platform.catalog import LADDER, SEGMENT_SECONDS
from streamverse.platform.faults import SCENARIOS
from streamverse.platform.topology import Topology

STEP_S = 30.0
OBJECT_S = 600.0
REPRESENTED_PEAK_USERS = 1_500_000  # concurrent viewers at the daily peak the run stands for
DNS_TTL_S = 60.0
MAX_FAILED_STEPS = 3  # about 90 s of failing retries, then the viewer gives up
RETRIES_PER_STEP = 3
API_MS = 25.0  # gateway + playback service time for the play request
PREWARM_SHARE = 0.1  # the popular tenth (~60 % of demand) is cached at start; prewarm costs ~1 s
STARTUP_BIN_MS = 10.0
STARTUP_BINS = 6000
CODES = np.array([200, 404, 429, 500, 502, 503, 504])
_FIELDS = ("region", "pop", "device", "row", "rend", "maxr", "pos", "buf", "fast", "slow", "wt", "bw",
           "watch", "starting", "fails", "resolved_at", "obj", "obj_pop", "lat", "need")


@dataclass
class SimulationResult:
    """The `simulate --json` summary plus per-step timelines per viewer region."""

    summary: dict[str, Any]
    timeline: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)

    def window(self, region: str, start_s: float, end_s: float) -> dict[str, float]:
        """Availability and hit ratio for viewers in `region` between two run offsets."""
        t = np.asarray(self.timeline["t_s"])
        sel = (t >= start_s) & (t < end_s)
        reg = self.timeline["raw"][region]
        ok, fail, hit = (np.asarray(reg[k])[sel].sum() for k in ("ok", "fail", "hit"))
        return {"availability": float(ok / (ok + fail)) if ok + fail else math.nan,
                "cache_hit_ratio": float(hit / ok) if ok else math.nan}


class _Sessions:
    """Session state as parallel numpy arrays, one element per modelled session."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)

    def __len__(self) -> int:
        return len(self.region)  # type: ignore[attr-defined]

    def keep(self, mask: np.ndarray) -> None:
        for name in _FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def extend(self, other: _Sessions) -> None:
        for name in _FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))


class FastForward:
    """One fast-forward run: platform, audience and the vector step between them."""

    def __init__(self, *, topology: Topology, duration_s: float, seed: int, viewers: int,
                 store: MetricStore | None, start_ts: float, telemetry_step_s: float | None,
                 step_s: float = STEP_S, object_s: float = OBJECT_S,
                 pop_cache_bytes: int | None = None, policy: str = "s3fifo") -> None:
        from streamverse.platform.service import Platform

        self.topology, self.duration_s, self.viewers = topology, float(duration_s), int(viewers)
        self.step_s, self.object_s = float(step_s), float(object_s)
        self.start_ts = float(start_ts)
        self.clock = VirtualClock(self.start_ts)
        self.rng = np.random.default_rng(seed)
        self.platform = Platform(topology=topology, clock=self.clock, policy=policy,
                                 pop_cache_bytes=pop_cache_bytes, seed=seed)
        self.scale = REPRESENTED_PEAK_USERS / max(1, self.viewers)
        self.regions = [r.name for r in topology.regions]
        self.pops = [p.name for r in topology.regions for p in r.pops]
        self.pop_index = {p: i for i, p in enumerate(self.pops)}
        self.pop_region = np.array([self.regions.index(topology.pops[p].region) for p in self.pops])
        self.pop_capacity_bps = np.array([topology.pops[p].capacity_gbps * 1e9 for p in self.pops])
        cache = np.array([pop_cache_bytes or topology.pops[p].cache_size for p in self.pops], dtype=float)
        self.memo_budget = cache / 4
        self.rtt = np.array([[topology.rtt_ms(r, p) for p in self.pops] for r in self.regions])
        self.api_ms = np.array([min(topology.rtt_ms(r, p.name) for p in reg.pops) + API_MS
                                for r, reg in zip(self.regions, topology.regions, strict=True)])
        self.catalog = audience.synthetic_catalog(audience.CATALOG_SIZE, seed=seed)
        self.row_of_video = {int(v): i for i, v in enumerate(self.catalog["video_id"])}
        self.base_weights = audience.zipf_weights(len(self.catalog["video_id"]))
        self.sampler = audience.PopularitySampler(self.base_weights)
        self._boosts: dict[int, float] = {}
        self.load = audience.RegionLoad.for_topology(topology, self.viewers)
        self.n_parts = int(math.ceil(self.catalog["duration_s"].max() / self.object_s))
        self.n_obj = len(self.catalog["video_id"]) * len(LADDER) * self.n_parts
        self.memo = np.zeros((len(self.pops), self.n_obj), dtype=bool)
        self.memo_bytes = np.zeros(len(self.pops))
        self.edge_extra_ms = np.full(len(self.pops), 2.0)
        self._effects: object | None = None
        self.gateway = GatewayModel(regions=self.regions, load=self.load, scale=self.scale,
                                    limits=getattr(self.platform, "limits", None))
        self.transcode = TranscodeQueue()
        R, P = len(self.regions), len(self.pops)
        self.tot = {k: np.zeros(R) for k in ("ok", "fail", "hit", "bytes", "played",
                                             "stalled", "started", "errors")}
        self.fill_r, self.fill_p = np.zeros(R), np.zeros(P)  # chunk fills this step
        self.broken = np.zeros(P, dtype=bool)  # probe says the edge does not hold objects
        self.startup_hist = np.zeros((R, STARTUP_BINS))
        self.startup_sum = np.zeros(R)
        self.pop_req = np.zeros((P, 2, len(CODES)))  # pop x (hit, miss) x code
        self.pop_bytes = np.zeros(P)
        self.dns_answers = np.zeros((R, P))
        self.errors_by_reason: dict[str, np.ndarray] = {}
        self.cache_fetches = 0
        self.sessions_started = 0
        self.telemetry = TelemetryWriter(store=store, engine=self,
                                         step_s=telemetry_step_s or default_telemetry_step(duration_s))
        self.faults: list[dict[str, Any]] = []
        self.S = self._initial_sessions()

    # -- set-up ----------------------------------------------------------------------------
    def schedule(self, scenario: str, *, target: str | None = None,
                 params: dict[str, Any] | None = None) -> None:
        """Schedule the scenario for the default window: a quarter in, for a quarter of the run."""
        if scenario not in SCENARIOS:
            from streamverse.errors import UsageError

            raise UsageError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        if scenario == "viral-video" and target is None:
            target = str(int(self.catalog["video_id"][len(self.catalog["video_id"]) // 2]))
        start = self.start_ts + self.duration_s / 4
        fault = self.platform.inject_fault(scenario, target=target, duration_s=self.duration_s / 4,
                                           params=params, start=start)
        self.faults.append({"scenario": scenario, "target": fault.target,
                            "start_s": round(fault.start - self.start_ts, 3),
                            "end_s": round(fault.end - self.start_ts, 3)})

    def prewarm(self) -> None:
        """Put the popular head of the catalogue in every cache: a run starts in steady state."""
        head = max(1, int(len(self.catalog["video_id"]) * PREWARM_SHARE))
        items, objs = [], []
        for row in range(head):
            vid = int(self.catalog["video_id"][row])
            parts = int(math.ceil(self.catalog["duration_s"][row] / self.object_s))
            for rend in range(int(self.catalog["max_ladder_index"][row]) + 1):
                for part in range(parts):
                    items.append((self.key(vid, rend, part), self.size(rend)))
                    objs.append(self.obj_index(row, rend, part))
        self.platform.cdn.prewarm(items)
        self.memo[:, np.array(objs)] = True
        self._effects = self.platform.faults.effects(self.clock.now())

    def obj_index(self, row: Any, rend: Any, part: Any) -> Any:
        """The dense index of a (title, rendition, chunk) object."""
        return (row * len(LADDER) + rend) * self.n_parts + part

    def key(self, video_id: int, rend: int, part: int) -> str:
        """Cache key of one chunk (fast-forward's coarse object, see the module docstring)."""
        return f"videos/{video_id}/{LADDER[rend][0]}/chunk_{part:04d}"

    def size(self, rend: int) -> int:
        """Bytes in one chunk of a rendition."""
        return int(LADDER[rend][3] * self.object_s / 8)

    def _new_sessions(self, region: np.ndarray, *, steady: bool) -> _Sessions:
        """Fresh viewers: title by popularity, device, bandwidth, watch time."""
        rng, n = self.rng, len(region)
        rows = self.sampler.sample(rng, n)
        dev = audience.sample_devices(rng, n)
        bw = audience.sample_bandwidth(rng, dev)
        watch = audience.sample_watch_s(rng, self.catalog["duration_s"][rows])
        maxr = np.minimum(audience.DEVICE_MAX_RUNG[dev], self.catalog["max_ladder_index"][rows])
        z = np.zeros(n)
        pos, buf, rend, starting = z.copy(), z.copy(), np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
        fast, slow, wt = z.copy(), z.copy(), z.copy()
        if steady:  # already watching: somewhere in their session, ABR settled
            pos = rng.random(n) * watch * 0.95
            buf = rng.uniform(10.0, abr.MAX_BUFFER_S, n)
            rend = abr.highest_rung(bw * abr.UP_FACTOR, maxr)
            starting[:] = False
            fast, slow, wt = bw.copy(), bw.copy(), np.full(n, 60.0)
        self.sessions_started += n
        return _Sessions(region=region.astype(np.int64), pop=np.full(n, -1), device=dev, row=rows, rend=rend,
                         maxr=maxr, pos=pos, buf=buf, fast=fast, slow=slow, wt=wt, bw=bw, watch=watch,
                         starting=starting, fails=np.zeros(n, dtype=np.int64), resolved_at=z.copy(),
                         obj=np.full(n, -1), obj_pop=np.full(n, -1), lat=z.copy(),
                         need=np.ones(n, dtype=bool))

    def _initial_sessions(self) -> _Sessions:
        targets = np.round(self.load.targets(self.start_ts)).astype(int)
        region = np.repeat(np.arange(len(self.regions)), targets)
        return self._new_sessions(region, steady=True)

    # -- the step --------------------------------------------------------------------------
    def run(self, *, progress: bool = False) -> SimulationResult:
        """Advance the whole run and summarise it."""
        self.prewarm()
        n_steps = int(round(self.duration_s / self.step_s))
        R = len(self.regions)
        tl = {k: np.zeros((n_steps, R)) for k in ("ok", "fail", "hit", "sessions")}
        wall0 = time.perf_counter()
        bar = _progress(progress, n_steps)
        for i in range(n_steps):
            before = {k: self.tot[k].copy() for k in ("ok", "fail", "hit")}
            self.step()
            for k in ("ok", "fail", "hit"):
                tl[k][i] = self.tot[k] - before[k]
            tl["sessions"][i] = np.bincount(self.S.region, minlength=R)
            if bar is not None:
                bar[0].update(bar[1], advance=1)
        if bar is not None:
            bar[0].stop()
        self.telemetry.flush(final=True)
        wall = time.perf_counter() - wall0
        return self._result(tl, n_steps, wall)

    def step(self) -> None:
        """Advance every session by one step, then the clock (health ticking on the way)."""
        now, dt, S = self.clock.now(), self.step_s, self.S
        plat = self.platform
        eff = plat.faults.effects(now)
        if eff is not self._effects:  # fault edges: forget what the caches answered before
            self._effects = eff
            self.memo[:] = False
            self.memo_bytes[:] = 0
        self._apply_viral(eff)
        self._resolve(now)
        n = len(S)
        ok = np.ones(n, dtype=bool)
        code = np.full(n, 200)
        self.herd = np.zeros(n, dtype=bool)
        nopop = S.pop < 0
        ok[nopop], code[nopop] = False, 503
        gw_ok = self.gateway.admit(self.rng, S, now=now, dt=dt, effects=eff)
        ok &= gw_ok
        code[~gw_ok] = 503
        # ABR decision for this step, then the object each session reads.
        est = abr.bandwidth_estimate(S.fast, S.slow, S.wt)
        S.rend = np.where(S.starting, 0, abr.choose_rendition(S.rend, est, S.buf, S.maxr))
        part = np.minimum((S.pos // self.object_s).astype(np.int64), self.n_parts - 1)
        obj = self.obj_index(S.row, S.rend, part)
        entry = ok & ((obj != S.obj) | (S.pop != S.obj_pop))
        cont = ok & ~entry
        self._fetch_entries(np.flatnonzero(entry), obj, code, ok)
        self._probe_continuing(np.flatnonzero(cont), code, ok, eff)
        self._play(ok, code, now, dt)
        self._arrivals(now + dt)
        self.transcode.step(dt=dt, effects=eff)
        for k in range(1, int(dt // plat.health_interval_s) + 1):
            self.clock.set(now + k * plat.health_interval_s)
            plat.health.tick()
        self.clock.set(now + dt)
        self.telemetry.maybe_write(self.clock.now())

    def _apply_viral(self, eff: Any) -> None:
        boosts = {self.row_of_video[v]: m for v, m in eff.video_multiplier.items() if v in self.row_of_video}
        if boosts != self._boosts:
            self._boosts = boosts
            self.sampler = audience.PopularitySampler(
                audience.with_viral(self.base_weights, boosts, eff.video_share_cap))

    def _resolve(self, now: float) -> None:
        """New viewers, and failing ones whose DNS answer expired, ask GeoDNS for a PoP."""
        S = self.S
        idx = np.flatnonzero(S.need)
        if not len(idx):
            return
        regs = S.region[idx]
        for r, name in enumerate(self.regions):
            sub = idx[regs == r]
            if not len(sub):
                continue
            dist = self.platform.dns.distribution(name)
            if not dist:
                S.pop[sub] = -1
                continue
            pops = np.array([self.pop_index[p] for p in dist])
            shares = np.array(list(dist.values()), dtype=float)
            chosen = pops[np.minimum(np.searchsorted(np.cumsum(shares) / shares.sum(),
                                                     self.rng.random(len(sub)), side="right"), len(pops) - 1)]
            S.pop[sub] = chosen
            np.add.at(self.dns_answers[r], chosen, self.scale)
        S.resolved_at[idx] = now
        S.need[idx] = False

    def _fetch_entries(self, idx: np.ndarray, obj: np.ndarray, code: np.ndarray, ok: np.ndarray) -> None:
        """Sessions opening a chunk: memo hits are edge hits; the rest ask the CDN once per (PoP, chunk)."""
        if not len(idx):
            return
        S = self.S
        pops, objs = S.pop[idx], obj[idx]
        known = self.memo[pops, objs]
        hit = idx[known]
        S.lat[hit] = self.rtt[S.region[hit], S.pop[hit]] + self.edge_extra_ms[S.pop[hit]]
        miss = idx[~known]
        if len(miss):
            pair = S.pop[miss] * self.n_obj + objs[~known]
            uniq, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
            status = np.empty(len(uniq), dtype=np.int64)
            srv = np.empty(len(uniq))
            tier_edge = np.zeros(len(uniq), dtype=np.int64)
            fetch, pop_names, regions, key, size = (self.platform.cdn.fetch, self.pops, self.regions,
                                                    self.key, self.size)
            per_row = len(LADDER) * self.n_parts
            firsts = miss[first]
            vids = self.catalog["video_id"][objs[~known][first] // per_row].tolist()
            for j, (p, o, r, vid) in enumerate(zip(S.pop[firsts].tolist(), objs[~known][first].tolist(),
                                                   S.region[firsts].tolist(), vids, strict=True)):
                rend, prt = divmod(o % per_row, self.n_parts)
                res = fetch(pop_names[p], key(vid, rend, prt), size=size(rend), client_region=regions[r])
                status[j] = res.status
                srv[j] = res.latency_ms
                if res.status < 400:
                    if res.tier == "edge":
                        tier_edge[j] = 1
                        self.edge_extra_ms[p] = max(0.0, res.latency_ms - self.rtt[r, p])
                    else:  # a fill: the chunk's segments come through this PoP once
                        self.fill_r[r] += self.object_s / SEGMENT_SECONDS
                        self.fill_p[p] += self.object_s / SEGMENT_SECONDS
                    if p not in self._effects.cache_disabled:  # type: ignore[attr-defined]
                        self.memo[p, o] = True
                        self.memo_bytes[p] += res.size if res.tier != "edge" else 0
            self.cache_fetches += len(uniq)
            S.lat[miss] = srv[inverse]
            filled = (status < 400) & (tier_edge == 0)
            herd = filled[inverse]
            herd[first] = False  # the first opener's requests are the fill itself
            self.herd[miss[herd]] = True
            bad = status[inverse] >= 400
            ok[miss[bad]] = False
            code[miss] = status[inverse]
            over = self.memo_bytes > self.memo_budget  # eviction possible: ask again from now on
            if over.any():
                self.memo[over] = False
                self.memo_bytes[over] = 0
        good = idx[ok[idx]]
        S.obj[good], S.obj_pop[good] = obj[good], S.pop[good]

    def _probe_continuing(self, idx: np.ndarray, code: np.ndarray, ok: np.ndarray, eff: Any) -> None:
        """Sessions inside a chunk: one probe per PoP shows PoP-wide errors and added latency."""
        if not len(idx):
            return
        S = self.S
        at = S.pop[idx]
        first_of = np.full(len(self.pops), -1)
        first_of[at[::-1]] = np.arange(len(idx))[::-1]  # last write wins: the first session per PoP
        pops = np.flatnonzero(first_of >= 0)
        first = first_of[pops]
        n_probe = 1 if eff.quiet else 4
        fail_share = np.zeros(len(self.pops))
        self.broken[:] = False
        probe_code = np.full(len(self.pops), 200)
        probe_lat = np.zeros(len(self.pops))
        cdn = self.platform.cdn
        for p, f in zip(pops, first, strict=True):
            s = idx[f]
            row, rest = divmod(int(S.obj[s]), len(LADDER) * self.n_parts)
            rend, prt = divmod(rest, self.n_parts)
            key = self.key(int(self.catalog["video_id"][row]), rend, prt)
            fails, lat = 0, 0.0
            for _ in range(n_probe):
                res = cdn.fetch(self.pops[p], key, size=self.size(rend),
                                client_region=self.regions[S.region[s]])
                if res.status >= 400:
                    fails += 1
                    probe_code[p] = res.status
                elif res.tier != "edge":
                    self.broken[p] = True
                lat = max(lat, res.latency_ms - self.rtt[S.region[s], p])
            self.cache_fetches += n_probe
            fail_share[p], probe_lat[p] = fails / n_probe, lat
        share = fail_share[S.pop[idx]]
        bad = idx[(share > 0) & (self.rng.random(len(idx)) < share)]
        ok[bad] = False
        code[bad] = probe_code[S.pop[bad]]
        S.lat[idx] = self.rtt[S.region[idx], S.pop[idx]] + probe_lat[S.pop[idx]]

    def _play(self, ok: np.ndarray, code: np.ndarray, now: float, dt: float) -> None:
        """Buffers, stalls, startups, bytes and request counts for one step; ends and abandons."""
        S, R, scale = self.S, len(self.regions), self.scale
        bitrate = abr.LADDER_BPS[S.rend]
        pop = np.maximum(S.pop, 0)
        demand = np.bincount(pop, weights=bitrate * ok, minlength=len(self.pops)) * scale
        cdn = self.platform.cdn
        for p in np.flatnonzero(demand):
            cdn.observe_load(self.pops[p], demand[p] / 1e9)
        with np.errstate(divide="ignore", invalid="ignore"):
            fair = np.where(demand > self.pop_capacity_bps,
                            self.pop_capacity_bps * np.bincount(pop, weights=ok, minlength=len(self.pops))
                            .clip(1) ** -1 / scale * 2.0, np.inf)
        thr = np.minimum(S.bw, fair[pop])
        seg_bits = bitrate * SEGMENT_SECONDS
        thr_eff = seg_bits / (S.lat / 1000.0 + seg_bits / thr)
        # Startups: play request, manifest and first segment at the lowest rung.
        st = S.starting & ok
        st_ms = abr.startup_ms(self.api_ms[S.region] + 2 * S.lat, thr, abr.LADDER_BPS[0])
        play_dt = np.where(st, np.clip(dt - st_ms / 1000.0, 0.0, dt), dt)
        buf0 = np.where(st, float(SEGMENT_SECONDS), S.buf)
        buf, played, stalled, dl = abr.step_buffer(buf0, thr_eff, bitrate, play_dt)
        dl = np.where(st, dl + SEGMENT_SECONDS, dl)
        # Failing sessions play out what they hold, then stall.
        failed = ~ok
        fplay = np.where(S.starting, 0.0, np.minimum(S.buf, dt))
        played = np.where(ok, played, fplay)
        stalled = np.where(ok, stalled, np.where(S.starting, 0.0, dt - fplay))
        buf = np.where(ok, buf, S.buf - fplay)
        dl = np.where(ok, dl, 0.0)
        dl_time = np.clip(dl * bitrate / thr_eff, 0.05, dt)
        new_bw = abr.update_bandwidth(S.fast, S.slow, S.wt, thr_eff, dl_time)
        old_bw = (S.fast, S.slow, S.wt)
        S.fast, S.slow, S.wt = (np.where(ok, x, y) for x, y in zip(new_bw, old_bw, strict=True))
        S.buf, S.pos = buf, S.pos + played
        reqs = np.where(ok, dl / SEGMENT_SECONDS, RETRIES_PER_STEP) * scale  # represented requests
        nbytes = dl * bitrate / 8.0
        reg = S.region
        t = self.tot
        at_pop = S.pop >= 0
        P = len(self.pops)
        served = ok & at_pop
        miss_all = served & (self.broken[pop] | self.herd)
        ok_r = np.bincount(reg, weights=reqs * ok, minlength=R)
        t["ok"] += ok_r
        t["fail"] += np.bincount(reg, weights=reqs * failed, minlength=R)
        hit_r = ok_r - np.bincount(reg, weights=reqs * miss_all, minlength=R)
        t["hit"] += np.maximum(hit_r - self.fill_r, 0.0)
        ok_p = np.bincount(pop, weights=reqs * served, minlength=P)
        broken_p = np.bincount(pop, weights=reqs * miss_all, minlength=P)
        fill_p = np.minimum(self.fill_p, ok_p - broken_p)
        self.pop_req[:, 0, 0] += ok_p - broken_p - fill_p
        self.pop_req[:, 1, 0] += broken_p + fill_p
        bad = failed & at_pop
        code_i = np.minimum(np.searchsorted(CODES, code[bad]), len(CODES) - 1)
        self.pop_req[:, 1, :] += np.bincount(pop[bad] * len(CODES) + code_i, weights=reqs[bad],
                                             minlength=P * len(CODES)).reshape(P, len(CODES))
        self.fill_r[:], self.fill_p[:] = 0.0, 0.0
        t["bytes"] += np.bincount(reg, weights=nbytes, minlength=R) * scale
        t["played"] += np.bincount(reg, weights=played, minlength=R)
        t["stalled"] += np.bincount(reg, weights=stalled, minlength=R)
        if st.any():
            bins = np.minimum((st_ms[st] / STARTUP_BIN_MS).astype(np.int64), STARTUP_BINS - 1)
            self.startup_hist += np.bincount(reg[st] * STARTUP_BINS + bins,
                                             minlength=R * STARTUP_BINS).reshape(R, STARTUP_BINS)
            self.startup_sum += np.bincount(reg[st], weights=st_ms[st] / 1000.0, minlength=R)
            t["started"] += np.bincount(reg[st], minlength=R)
        self.pop_bytes += np.bincount(pop[at_pop], weights=nbytes[at_pop] * scale, minlength=len(self.pops))
        # Failures: retry, re-resolve once the DNS answer has expired, give up after a few steps.
        S.fails = np.where(ok, 0, S.fails + 1)
        S.need |= failed & (now + dt - S.resolved_at >= DNS_TTL_S)
        S.starting &= ~ok
        abandon = S.fails >= MAX_FAILED_STEPS
        done = S.pos >= S.watch
        if abandon.any():
            reason = np.where(S.pop[abandon] < 0, 1, np.where(code[abandon] == 429, 2, 0))
            for k, name in enumerate(("http_error", "no_pop", "ratelimited")):
                counts = np.bincount(reg[abandon][reason == k], minlength=R) * scale
                if counts.any():
                    self.errors_by_reason.setdefault(name, np.zeros(R))
                    self.errors_by_reason[name] += counts
            t["errors"] += np.bincount(reg[abandon], minlength=R)
        self.S.keep(~(abandon | done))

    def _arrivals(self, at: float) -> None:
        """Top each region up to its load-curve target with new viewers."""
        have = np.bincount(self.S.region, minlength=len(self.regions))
        want = np.round(self.load.targets(at)).astype(np.int64)
        add = np.maximum(want - have, 0)
        if add.sum():
            self.S.extend(self._new_sessions(np.repeat(np.arange(len(self.regions)), add), steady=False))

    # -- results ---------------------------------------------------------------------------
    def _result(self, tl: dict[str, np.ndarray], n_steps: int, wall: float) -> SimulationResult:
        t = self.tot
        regions = {}
        for r, name in enumerate(self.regions):
            req = t["ok"][r] + t["fail"][r]
            watch = t["played"][r] + t["stalled"][r]
            regions[name] = {
                "availability": round(float(t["ok"][r] / req), 6) if req else None,
                "cache_hit_ratio": round(float(t["hit"][r] / t["ok"][r]), 6) if t["ok"][r] else None,
                "startup_p95_ms": _p95_ms(self.startup_hist[r]),
                "rebuffer_ratio": round(float(t["stalled"][r] / watch), 6) if watch else None,
                "egress_bytes": float(t["bytes"][r]),
            }
        summary = {"scenario": self.faults[0]["scenario"] if self.faults else None,
                   "duration_s": self.duration_s, "wall_s": round(wall, 3),
                   "sessions": int(self.sessions_started), "regions": regions,
                   "faults": list(self.faults)}
        t_s = (np.arange(n_steps) * self.step_s).tolist()
        with np.errstate(divide="ignore", invalid="ignore"):
            avail = tl["ok"] / (tl["ok"] + tl["fail"])
            hit = tl["hit"] / tl["ok"]
        timeline = {"t_s": t_s, "regions": {}, "raw": {}}
        for r, name in enumerate(self.regions):
            timeline["regions"][name] = {"availability": avail[:, r].tolist(),
                                         "cache_hit_ratio": hit[:, r].tolist(),
                                         "sessions": tl["sessions"][:, r].astype(int).tolist()}
            timeline["raw"][name] = {k: tl[k][:, r].tolist() for k in ("ok", "fail", "hit")}
        stats = {"steps": n_steps, "step_s": self.step_s, "object_s": self.object_s,
                 "cache_fetches": self.cache_fetches, "scale": self.scale, "viewers": self.viewers,
                 "samples_written": self.telemetry.samples, "series_written": len(self.telemetry.series),
                 "start_ts": self.start_ts, "end_ts": self.clock.now()}
        return SimulationResult(summary=summary, timeline=timeline, stats=stats)


def _p95_ms(hist: np.ndarray) -> float | None:
    total = hist.sum()
    if not total:
        return None
    i = int(np.searchsorted(np.cumsum(hist), 0.95 * total))
    return float((i + 1) * STARTUP_BIN_MS)


def _progress(enabled: bool, total: int) -> tuple[Any, Any] | None:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from streamverse.output import err_console

    bar = Progress(TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                   TimeRemainingColumn(), console=err_console, transient=False)
    bar.start()
    return bar, bar.add_task("sim", total=total)


def run_simulation(*, topology: Topology, scenario: str | None = None, target: str | None = None,
                   duration_s: float, seed: int = 7, viewers: int = 20000,
                   store: MetricStore | None = None, start_ts: float | None = None,
                   telemetry_step_s: float | None = None, progress: bool = False,
                   fault_params: dict[str, Any] | None = None, step_s: float = STEP_S,
                   object_s: float = OBJECT_S, pop_cache_bytes: int | None = None,
                   policy: str = "s3fifo") -> SimulationResult:
    """Fast-forward `duration_s` of the platform; deterministic for a seed and start time."""
    if duration_s < step_s:
        from streamverse.errors import UsageError

        raise UsageError(f"a simulation needs at least {step_s:g}s of simulated time")
    if start_ts is None:  # series end now; a whole minute so reruns within it agree
        start_ts = math.floor((RealClock().now() - duration_s) / 60.0) * 60.0
    ff = FastForward(topology=topology, duration_s=duration_s, seed=seed, viewers=viewers, store=store,
                     start_ts=start_ts, telemetry_step_s=telemetry_step_s, step_s=step_s,
                     object_s=object_s, pop_cache_bytes=pop_cache_bytes, policy=policy)
    if scenario:
        ff.schedule(scenario, target=target, params=fault_params)
    return ff.run(progress=progress)


# -- the pieces around the viewers: gateway, transcode queue, telemetry ---------------------
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
        self.requests: dict[str, float] = {}
        self.ratelimited = 0.0
        self._ips: dict[tuple[str, int], list[str]] = {}

    def bot_ips(self, region: str, count: int) -> list[str]:
        """Stable addresses for a region's botnet (documentation ranges)."""
        key = (region, count)
        if key not in self._ips:
            base = self.regions.index(region)
            self._ips[key] = [f"198.{18 + base % 2}.{(i // 250) % 256}.{i % 250 + 1}" for i in range(count)]
        return self._ips[key]

    def admit(self, rng: np.random.Generator, S: _Sessions, *, now: float, dt: float,
              effects: Any) -> np.ndarray:
        """Which sessions get through the gateway this step (only play requests can be refused)."""
        out = np.ones(len(S), dtype=bool)
        R = len(self.regions)
        starting = np.bincount(S.region[S.starting], minlength=R)
        active = np.bincount(S.region, minlength=R)
        legit = (starting * API_CALLS_PER_START / dt + active / HEARTBEAT_S) * self.scale
        p_ok = np.ones(R)
        for r, name in enumerate(self.regions):
            mult = effects.ddos_multiplier.get(name)
            if not mult:
                continue
            ips = self.bot_ips(name, int(effects.ddos_bot_ips.get(name, 1000)))
            per_ip = mult * max(legit[r], 1.0) / len(ips)
            admitted = sum(min(per_ip, self.limits.get("ip", ip).rate_per_s) for ip in ips)
            self.ratelimited += (per_ip * len(ips) - admitted) * dt
            self._count("429", (per_ip * len(ips) - admitted) * dt)
            p_ok[r] = min(1.0, self.capacity[r] / (legit[r] + admitted))
            self._count("200", admitted * p_ok[r] * dt)
            self._count("503", admitted * (1 - p_ok[r]) * dt)
        self._count("200", float((legit * p_ok).sum() * dt))
        self._count("503", float((legit * (1 - p_ok)).sum() * dt))
        if (p_ok < 1).any():
            idx = np.flatnonzero(S.starting)
            out[idx] = rng.random(len(idx)) < p_ok[S.region[idx]]
        return out

    def _count(self, code: str, n: float) -> None:
        self.requests[code] = self.requests.get(code, 0.0) + n


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

    def _add(self, name: str, labels: tuple[tuple[str, str], ...], ts: float, value: float) -> None:
        from streamverse.collectors.store import Sample

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
        for code, n in ff.gateway.requests.items():
            add(m.GATEWAY_REQUESTS, (("route", "/v1/playback"), ("code", code)), ts, n)
        if ff.gateway.ratelimited:
            add(m.RATELIMITED, (("scope", "ip"),), ts, ff.gateway.ratelimited)
        add(m.TRANSCODE_QUEUE, (), ts, ff.transcode.depth)
        add(m.TRANSCODE_JOBS, (("status", "succeeded"),), ts, ff.transcode.done)
