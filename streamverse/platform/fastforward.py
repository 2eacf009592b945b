"""Fast-forward driver: the platform's own components on a virtual clock, sessions as arrays.

The same `Platform` (CDN caches, health checks, GeoDNS, fault book) that serves live
HTTP is driven here by a discrete-time loop; only the viewers are modelled in bulk.

Modelling choices, and why:
- Time step 30 s (five 6-s segments) for runs up to 6 h, 60 s beyond: the telemetry
  written for such runs is per minute anyway (`default_telemetry_step`). The hls.js EWMA
  half-lives (3 s, 9 s) are shorter than either, so within a step the estimate converges
  to the step's throughput: one sample per step, weighted by its download time, gives
  the same decisions as five or ten. Health checks still tick every `health_interval_s`
  inside a step, so hard outages are caught within their interval; failing viewers give
  up after `GIVE_UP_S` and retry `RETRIES_PER_S`, whatever the step. 100,000 sessions x
  24 h is 1,440 vector steps.
- Sessions live in fixed slots: a finished viewer's slot is handed to the next arrival,
  and the arrays are compacted only when under 3/4 of the slots are live, so a step does
  not copy twenty arrays to drop a few thousand rows. Dead slots ride along masked out.
- Cache objects are chunks of `object_s` seconds (default 600 s = 100 segments) of one
  rendition, not single segments: 100,000 sessions would ask ~80,000 distinct segments
  per step, far more Python-level `CDN.fetch` calls than 60 s allow. Requests for the same
  (PoP, chunk) in one step are aggregated with numpy and the CDN is consulted once; its
  answer is applied with multiplicity. A CDN miss on a chunk costs that chunk's segments
  as misses once (its fill, whoever the represented viewers are), plus the requests of
  the other modelled sessions that opened the same cold chunk in the same step (a
  thundering herd: a synchronised audience, as a viral title brings, misses together;
  the viewers one modelled session stands for are assumed spread out). Every other
  request is a hit, unless the PoP's probe shows the edge is not holding objects
  (edge-cache-failure): then all its requests miss. Continuing sessions see PoP-wide
  errors and latency through per-PoP probes.
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
from streamverse.metricstore import MetricStore
from streamverse.platform import abr, audience
from streamverse.platform.catalog import LADDER, SEGMENT_SECONDS
from streamverse.platform.fastforward_telemetry import (
    CODES,
    STARTUP_BIN_MS,
    STARTUP_BINS,
    GatewayModel,
    TelemetryWriter,
    TranscodeQueue,
    default_telemetry_step,
)
from streamverse.platform.faults import SCENARIOS
from streamverse.platform.topology import Topology

STEP_S = 30.0
LONG_RUN_STEP_S = 60.0
LONG_RUN_S = 6 * 3600.0
OBJECT_S = 600.0
REPRESENTED_PEAK_USERS = 1_500_000  # concurrent viewers at the daily peak the run stands for
DNS_TTL_S = 60.0
GIVE_UP_S = 90.0  # about 90 s of failing retries, then the viewer gives up
# The live player tries a segment three times on one PoP (0.2/0.4/0.8 s backoff), then asks the
# playback API for a PoP afresh (request routing, not the resolver cache): about every 2 s failing.
REROUTE_AFTER_S = 2.0
RETRIES_PER_S = 0.1  # a failing player retries every 10 s
API_MS = 25.0  # gateway + playback service time for the play request
PREWARM_SHARE = 0.1  # the popular tenth (~60 % of demand) is cached at start; prewarm costs ~1 s
COMPACT_BELOW = 0.75  # compact the slot arrays when fewer of them than this hold live sessions
_FIELDS = ("alive", "region", "pop", "row", "rend", "maxr", "pos", "buf", "fast", "slow", "wt", "bw",
           "watch", "starting", "fails", "resolved_at", "obj", "obj_pop", "lat", "need")


def default_step(duration_s: float) -> float:
    """30 s for runs up to 6 h; 60 s beyond, the resolution their telemetry is written at."""
    return STEP_S if duration_s <= LONG_RUN_S else LONG_RUN_STEP_S


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
    """Session state as parallel numpy arrays, one element per slot; `alive` marks the used slots."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)

    def __len__(self) -> int:
        return len(self.region)  # type: ignore[attr-defined]

    def keep(self, mask: np.ndarray) -> None:
        for name in _FIELDS:
            setattr(self, name, getattr(self, name)[mask])

    def place(self, new: _Sessions) -> None:
        """Put new sessions into free slots, growing the arrays when there are too few."""
        free = np.flatnonzero(~self.alive)  # type: ignore[attr-defined]
        n = len(new)
        if len(free) < n:
            grow = max(n - len(free), len(self) // 8)
            pad = {name: np.zeros(grow, dtype=getattr(self, name).dtype) for name in _FIELDS}
            for name in _FIELDS:
                setattr(self, name, np.concatenate([getattr(self, name), pad[name]]))
            free = np.flatnonzero(~self.alive)  # type: ignore[attr-defined]
        slots = free[:n]
        for name in _FIELDS:
            getattr(self, name)[slots] = getattr(new, name)


class FastForward:
    """One fast-forward run: platform, audience and the vector step between them."""

    def __init__(self, *, topology: Topology, duration_s: float, seed: int, viewers: int,
                 store: MetricStore | None, start_ts: float, telemetry_step_s: float | None,
                 step_s: float | None = None, object_s: float = OBJECT_S,
                 pop_cache_bytes: int | None = None, policy: str = "s3fifo") -> None:
        from streamverse.platform.service import Platform

        self.topology, self.duration_s, self.viewers = topology, float(duration_s), int(viewers)
        self.step_s = float(step_s or default_step(self.duration_s))
        self.object_s = float(object_s)
        self.give_up_steps = max(1, int(round(GIVE_UP_S / self.step_s)))
        self.reroute_steps = max(1, int(round(REROUTE_AFTER_S / self.step_s)))
        self.start_ts = float(start_ts)
        self.clock = VirtualClock(self.start_ts)
        self.rng = np.random.default_rng(seed)
        self.platform = Platform(topology=topology, clock=self.clock, policy=policy,
                                 pop_cache_bytes=pop_cache_bytes, seed=seed)
        self.scale = REPRESENTED_PEAK_USERS / max(1, self.viewers)
        self.regions = [r.name for r in topology.regions]
        self.pops = [p.name for r in topology.regions for p in r.pops]
        R, P = len(self.regions), len(self.pops)
        self.pop_index = {p: i for i, p in enumerate(self.pops)}
        self.pop_region = np.array([self.regions.index(topology.pops[p].region) for p in self.pops])
        self.pop_capacity_bps = np.array([topology.pops[p].capacity_gbps * 1e9 for p in self.pops])
        cache = np.array([pop_cache_bytes or topology.pops[p].cache_size for p in self.pops], dtype=float)
        self.memo_budget = cache / 4
        self.rtt = np.array([[topology.rtt_ms(r, p) for p in self.pops] for r in self.regions])
        # Client region x (PoP or "none") flattened: one gather per step with the `rp` index.
        self.rtt_rp = np.concatenate([self.rtt, np.zeros((R, 1))], axis=1).ravel()
        self.api_ms = np.array([min(topology.rtt_ms(r, p.name) for p in reg.pops) + API_MS
                                for r, reg in zip(self.regions, topology.regions, strict=True)])
        self.catalog = audience.synthetic_catalog(audience.CATALOG_SIZE, seed=seed)
        self.video_ids = self.catalog["video_id"].tolist()
        self.row_of_video = {int(v): i for i, v in enumerate(self.video_ids)}
        self.base_weights = audience.zipf_weights(len(self.video_ids))
        self.sampler = audience.PopularitySampler(self.base_weights)
        self._boosts: dict[int, float] = {}
        self.load = audience.RegionLoad.for_topology(topology, self.viewers)
        self.n_parts = int(math.ceil(self.catalog["duration_s"].max() / self.object_s))
        self.n_obj = len(self.video_ids) * len(LADDER) * self.n_parts
        self.memo = np.zeros((P, self.n_obj), dtype=bool)
        self.memo_bytes = np.zeros(P)
        self.edge_extra_ms = np.full(P, 2.0)
        self._sizes = [int(rung[3] * self.object_s / 8) for rung in LADDER]
        self._effects: object | None = None
        if getattr(self.platform, "limits", None) is None:  # one table: control changes reach the model
            from streamverse.platform.ratelimit import LimitTable

            self.platform.limits = LimitTable()
        self.gateway = GatewayModel(regions=self.regions, load=self.load, scale=self.scale,
                                    limits=self.platform.limits)
        self.transcode = TranscodeQueue()
        self.tot = {k: np.zeros(R) for k in ("ok", "fail", "hit", "bytes", "played",
                                             "stalled", "started", "errors")}
        self.fill_r, self.fill_p = np.zeros(R), np.zeros(P)  # chunk fills this step
        self.broken = np.zeros(P, dtype=bool)  # probe says the edge does not hold objects
        self.startup_hist = np.zeros((R, STARTUP_BINS))
        self.startup_sum = np.zeros(R)
        self.pop_req = np.zeros((P, 2, len(CODES)))  # pop x (hit, miss) x code
        self.pop_bytes = np.zeros(P)
        self.starts_by_row = np.zeros(len(self.video_ids))  # play starts per title (modelled sessions)
        self.dns_answers = np.zeros((R, P))
        self.errors_by_reason: dict[str, np.ndarray] = {}
        self.cache_fetches = 0
        self.sessions_started = 0
        self.telemetry = TelemetryWriter(store=store, engine=self,
                                         step_s=telemetry_step_s or default_telemetry_step(duration_s))
        self.faults: list[dict[str, Any]] = []
        # Cost usage (fastforward_usage.py): edge bytes per title, bytes past the edge per PoP
        # (fills and forced misses, represented), bytes origins sent per origin.
        self.bytes_by_row = np.zeros(len(self.video_ids))
        self.fill_bytes_p = np.zeros(P)
        self.origin_fill_bytes: dict[str, float] = {}
        self.S = self._initial_sessions()
        self.active = np.bincount(self.S.region, minlength=R)

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
        head = max(1, int(len(self.video_ids) * PREWARM_SHARE))
        items, objs = [], []
        for row in range(head):
            vid = self.video_ids[row]
            parts = int(math.ceil(self.catalog["duration_s"][row] / self.object_s))
            for rend in range(int(self.catalog["max_ladder_index"][row]) + 1):
                for part in range(parts):
                    items.append((self.key(vid, rend, part), self.size(rend)))
                    objs.append(self.obj_index(row, rend, part))
        self.platform.cdn.prewarm(items)
        self.memo[:, np.array(objs)] = True
        self._effects = self.platform.faults.effects(self.clock.now())

    def video_objects(self, video_id: int) -> list[tuple[str, int]]:
        """(key, size) of every chunk of a title's renditions: what a pre-warm of that video copies."""
        row = self.row_of_video.get(int(video_id))
        if row is None:  # the control app answers 404 for a video without objects
            return []
        parts = int(math.ceil(self.catalog["duration_s"][row] / self.object_s))
        return [(self.key(int(video_id), rend, part), self.size(rend))
                for rend in range(int(self.catalog["max_ladder_index"][row]) + 1) for part in range(parts)]

    def obj_index(self, row: Any, rend: Any, part: Any) -> Any:
        """The dense index of a (title, rendition, chunk) object."""
        return (row * len(LADDER) + rend) * self.n_parts + part

    def key(self, video_id: int, rend: int, part: int) -> str:
        """Cache key of one chunk (fast-forward's coarse object, see the module docstring)."""
        return f"videos/{video_id}/{LADDER[rend][0]}/chunk_{part:04d}"

    def size(self, rend: int) -> int:
        """Bytes in one chunk of a rendition."""
        return self._sizes[rend]

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
        return _Sessions(alive=np.ones(n, dtype=bool), region=region.astype(np.int64), pop=np.full(n, -1),
                         row=rows, rend=rend, maxr=maxr, pos=pos, buf=buf, fast=fast, slow=slow, wt=wt,
                         bw=bw, watch=watch, starting=starting, fails=np.zeros(n, dtype=np.int64),
                         resolved_at=z.copy(), obj=np.full(n, -1), obj_pop=np.full(n, -1), lat=z.copy(),
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
            tl["sessions"][i] = self.active
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
        P = len(self.pops)
        pop_or_none = np.where(S.pop < 0, P, S.pop)
        self.rp = S.region * (P + 1) + pop_or_none  # client region x (PoP or none), for sums and RTTs
        ok = S.alive & (S.pop >= 0)
        code = np.full(len(S), 200)
        code[S.alive & ~ok] = 503
        self.herd = np.zeros(len(S), dtype=bool)
        gw_ok = self.gateway.admit(self.rng, region=S.region, starting=S.starting & S.alive,
                                   active=self.active, dt=dt, effects=eff)
        if gw_ok is not None:
            ok &= gw_ok
            code[~gw_ok] = 503
        # ABR decision for this step, then the object each session reads.
        est = abr.bandwidth_estimate(S.fast, S.slow, S.wt)
        S.rend = abr.choose_rendition(S.rend, est, S.buf, S.maxr)
        S.rend[S.starting] = 0
        part = np.minimum((S.pos * (1.0 / self.object_s)).astype(np.int64), self.n_parts - 1)
        obj = self.obj_index(S.row, S.rend, part)
        entry = ok & ((obj != S.obj) | (S.pop != S.obj_pop))
        cont = ok & ~entry
        self._fetch_entries(np.flatnonzero(entry), obj, code, ok)
        self._probe_continuing(cont, code, ok, eff)
        self._play(ok, code, now, dt)
        self._arrivals(now + dt)
        self.transcode.step(dt=dt, effects=eff)
        for k in range(1, int(dt // plat.health_interval_s) + 1):
            self.clock.set(now + k * plat.health_interval_s)
            plat.health.tick()
        self.clock.set(now + dt)
        plat.health.tick()  # steps shorter than the interval: probe whatever has come due
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
            self.dns_answers[r] += np.bincount(chosen, minlength=len(self.pops)) * self.scale
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
        S.lat[hit] = self.rtt_rp[self.rp[hit]] + self.edge_extra_ms[S.pop[hit]]
        miss = idx[~known]
        if len(miss):
            pair = S.pop[miss] * self.n_obj + objs[~known]
            uniq, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
            n = len(uniq)
            status, srv, tier_edge = [0] * n, [0.0] * n, [False] * n
            fetch, pop_names, regions, key, sizes = (self.platform.cdn.fetch, self.pops, self.regions,
                                                     self.key, self._sizes)
            per_row, n_parts, vids, memo, rtt = len(LADDER) * self.n_parts, self.n_parts, self.video_ids, \
                self.memo, self.rtt
            disabled = self._effects.cache_disabled  # type: ignore[attr-defined]
            chunk_segs = self.object_s / SEGMENT_SECONDS
            firsts = miss[first]
            for j, (p, o, r) in enumerate(zip(S.pop[firsts].tolist(), objs[~known][first].tolist(),
                                              S.region[firsts].tolist(), strict=True)):
                row, rest = divmod(o, per_row)
                rend, prt = divmod(rest, n_parts)
                res = fetch(pop_names[p], key(vids[row], rend, prt), size=sizes[rend],
                            client_region=regions[r])
                status[j] = res.status
                srv[j] = res.latency_ms
                if res.status < 400:
                    if res.tier == "edge":
                        tier_edge[j] = True
                        self.edge_extra_ms[p] = max(0.0, res.latency_ms - rtt[r, p])
                    else:  # a fill: the chunk's segments come through this PoP once
                        self.fill_r[r] += chunk_segs
                        self.fill_p[p] += chunk_segs
                        if pop_names[p] not in disabled:  # a cacheless edge is metered in _play
                            self._count_fill(p, res)
                    if p not in disabled:
                        memo[p, o] = True
                        if not tier_edge[j]:
                            self.memo_bytes[p] += res.size
            self.cache_fetches += n
            st = np.array(status)
            S.lat[miss] = np.array(srv)[inverse]
            filled = (st < 400) & ~np.array(tier_edge)
            herd = filled[inverse]
            herd[first] = False  # the first opener's requests are the fill itself
            self.herd[miss[herd]] = True
            bad = st[inverse] >= 400
            ok[miss[bad]] = False
            code[miss] = st[inverse]
            over = self.memo_bytes > self.memo_budget  # eviction possible: ask again from now on
            if over.any():
                self.memo[over] = False
                self.memo_bytes[over] = 0
        good = idx[ok[idx]]
        S.obj[good], S.obj_pop[good] = obj[good], S.pop[good]

    def _count_fill(self, p: int, res: Any) -> None:
        """Bytes one CDN fill moved: shield to edge always, origin to shield when the shield missed."""
        self.fill_bytes_p[p] += res.size
        if res.tier == "origin":
            origin = self.platform.cdn.origin.active
            self.origin_fill_bytes[origin] = self.origin_fill_bytes.get(origin, 0.0) + res.size

    def _probe_continuing(self, cont: np.ndarray, code: np.ndarray, ok: np.ndarray, eff: Any) -> None:
        """Sessions inside a chunk: one probe per PoP shows PoP-wide errors and added latency."""
        S = self.S
        P = len(self.pops)
        at = np.where(cont, S.pop, P)  # P: not continuing
        first_of = np.full(P + 1, -1)
        first_of[at[::-1]] = np.arange(len(at))[::-1]  # last write wins: the first session per PoP
        pops = np.flatnonzero(first_of[:P] >= 0)
        if not len(pops):
            return
        n_probe = 1 if eff.quiet else 4
        fail_share = np.zeros(P)
        self.broken[:] = False
        probe_code = np.full(P, 200)
        probe_lat = np.zeros(P)
        fetch = self.platform.cdn.fetch
        per_row = len(LADDER) * self.n_parts
        for p in pops.tolist():
            s = int(first_of[p])
            row, rest = divmod(int(S.obj[s]), per_row)
            rend, prt = divmod(rest, self.n_parts)
            key = self.key(self.video_ids[row], rend, prt)
            r = int(S.region[s])
            fails, lat = 0, 0.0
            for _ in range(n_probe):
                res = fetch(self.pops[p], key, size=self._sizes[rend], client_region=self.regions[r])
                if res.status >= 400:
                    fails += 1
                    probe_code[p] = res.status
                elif res.tier != "edge":
                    self.broken[p] = True
                lat = max(lat, res.latency_ms - self.rtt[r, p])
            self.cache_fetches += n_probe
            fail_share[p], probe_lat[p] = fails / n_probe, lat
        pop = np.maximum(S.pop, 0)
        if fail_share.any():
            idx = np.flatnonzero(cont)
            share = fail_share[pop[idx]]
            bad = idx[(share > 0) & (self.rng.random(len(idx)) < share)]
            ok[bad] = False
            code[bad] = probe_code[pop[bad]]
        S.lat = np.where(cont, self.rtt_rp[self.rp] + probe_lat[pop], S.lat)

    def _play(self, ok: np.ndarray, code: np.ndarray, now: float, dt: float) -> None:
        """Buffers, stalls, startups, bytes and request counts for one step; ends and abandons."""
        S, R, P, scale = self.S, len(self.regions), len(self.pops), self.scale
        alive = S.alive
        failed = alive & ~ok
        any_failed = bool(failed.any())
        bitrate = abr.LADDER_BPS[S.rend]
        pop = np.maximum(S.pop, 0)
        rp = self.rp
        RP = R * (P + 1)
        demand = np.bincount(pop, weights=bitrate * ok, minlength=P) * scale
        cdn = self.platform.cdn
        for p in np.flatnonzero(demand).tolist():
            cdn.observe_load(self.pops[p], demand[p] / 1e9)
        over = demand > self.pop_capacity_bps
        if over.any():  # a saturated PoP shares its capacity between its viewers
            with np.errstate(divide="ignore"):
                fair = np.where(over, self.pop_capacity_bps * np.bincount(pop, weights=ok, minlength=P)
                                .clip(1) ** -1 / scale * 2.0, np.inf)
            thr = np.minimum(S.bw, fair[pop])
        else:
            thr = S.bw
        with np.errstate(divide="ignore", invalid="ignore"):
            seg_bits = bitrate * SEGMENT_SECONDS
            thr_eff = seg_bits / (S.lat * 1e-3 + seg_bits / thr)
            # Startups: play request, manifest and first segment at the lowest rung.
            st = S.starting & ok
            st_idx = np.flatnonzero(st)
            st_ms = abr.startup_ms(self.api_ms[S.region[st_idx]] + 2 * S.lat[st_idx], thr[st_idx],
                                   abr.LADDER_BPS[0])
            buf0 = S.buf.copy()
            buf0[st_idx] = float(SEGMENT_SECONDS)
            if len(st_idx):
                play_dt: Any = np.full(len(S), dt)
                play_dt[st_idx] = np.clip(dt - st_ms / 1000.0, 0.0, dt)
            else:
                play_dt = dt
            buf, played, stalled, dl = abr.step_buffer(buf0, thr_eff, bitrate, play_dt)
            dl[st_idx] += SEGMENT_SECONDS
            if any_failed:  # failing sessions play out what they hold, then stall
                f = np.flatnonzero(failed)
                fplay = np.where(S.starting[f], 0.0, np.minimum(S.buf[f], dt))
                played[f] = fplay
                stalled[f] = np.where(S.starting[f], 0.0, dt - fplay)
                buf[f] = S.buf[f] - fplay
                dl[f] = 0.0
            dead = ~alive
            played[dead], stalled[dead], dl[dead] = 0.0, 0.0, 0.0
            dl_time = np.minimum(np.maximum(dl * bitrate / thr_eff, 0.05), dt)
            fast, slow, wt = abr.update_bandwidth(S.fast, S.slow, S.wt, thr_eff, dl_time)
        if any_failed or not alive.all():
            S.fast, S.slow, S.wt = (np.where(ok, new, old) for new, old in
                                    ((fast, S.fast), (slow, S.slow), (wt, S.wt)))
        else:
            S.fast, S.slow, S.wt = fast, slow, wt
        S.buf, S.pos = buf, S.pos + played
        reqs = dl * (scale / SEGMENT_SECONDS)  # represented requests; failing ones retry
        if any_failed:
            reqs[failed] = RETRIES_PER_S * dt * scale
        nbytes = dl * bitrate * (1 / 8.0)
        t = self.tot
        served = ok  # ok implies a PoP
        miss_all = served & (self.broken[pop] | self.herd)
        self.bytes_by_row += np.bincount(S.row, weights=nbytes, minlength=len(self.bytes_by_row)) * scale
        if miss_all.any():  # a herd on a cold chunk, an edge holding nothing: served from the shield
            self.fill_bytes_p += np.bincount(pop, weights=nbytes * miss_all, minlength=P) * scale
        ok_rp = np.bincount(rp, weights=reqs * served, minlength=RP).reshape(R, P + 1)
        miss_rp = np.bincount(rp, weights=reqs * miss_all, minlength=RP).reshape(R, P + 1)
        bytes_rp = np.bincount(rp, weights=nbytes, minlength=RP).reshape(R, P + 1)
        ok_r = ok_rp.sum(axis=1)
        t["ok"] += ok_r
        hit_r = ok_r - miss_rp.sum(axis=1)
        t["hit"] += np.maximum(hit_r - self.fill_r, 0.0)
        ok_p = ok_rp[:, :P].sum(axis=0)
        broken_p = miss_rp[:, :P].sum(axis=0)
        fill_p = np.minimum(self.fill_p, ok_p - broken_p)
        self.pop_req[:, 0, 0] += ok_p - broken_p - fill_p
        self.pop_req[:, 1, 0] += broken_p + fill_p
        if any_failed:
            f = np.flatnonzero(failed)
            t["fail"] += np.bincount(S.region[f], weights=reqs[f], minlength=R)
            bad = f[S.pop[f] >= 0]
            code_i = np.minimum(np.searchsorted(CODES, code[bad]), len(CODES) - 1)
            self.pop_req[:, 1, :] += np.bincount(pop[bad] * len(CODES) + code_i, weights=reqs[bad],
                                                 minlength=P * len(CODES)).reshape(P, len(CODES))
        self.fill_r[:], self.fill_p[:] = 0.0, 0.0
        t["bytes"] += bytes_rp.sum(axis=1) * scale
        t["played"] += np.bincount(S.region, weights=played, minlength=R)
        t["stalled"] += np.bincount(S.region, weights=stalled, minlength=R)
        if len(st_idx):
            reg_st = S.region[st_idx]
            bins = np.minimum((st_ms / STARTUP_BIN_MS).astype(np.int64), STARTUP_BINS - 1)
            self.startup_hist += np.bincount(reg_st * STARTUP_BINS + bins,
                                             minlength=R * STARTUP_BINS).reshape(R, STARTUP_BINS)
            self.startup_sum += np.bincount(reg_st, weights=st_ms / 1000.0, minlength=R)
            self.starts_by_row += np.bincount(S.row[st_idx], minlength=len(self.starts_by_row))
            t["started"] += np.bincount(reg_st, minlength=R)
        self.pop_bytes += bytes_rp[:, :P].sum(axis=0) * scale
        # Failures: retry, ask playback for a PoP again (as the live player does) or once the
        # DNS answer expired, give up after a while.
        S.starting[st_idx] = False
        ended = S.pos >= S.watch
        ended &= alive
        if any_failed:
            S.fails[ok] = 0
            S.fails[failed] += 1
            S.need |= failed & ((S.fails % self.reroute_steps == 0)
                                | (now + dt - S.resolved_at >= DNS_TTL_S))
            abandon = failed & (S.fails >= self.give_up_steps)
            if abandon.any():
                a = np.flatnonzero(abandon)
                reg_a = S.region[a]
                reason = np.where(S.pop[a] < 0, 1, np.where(code[a] == 429, 2, 0))
                for k, name in enumerate(("http_error", "no_pop", "ratelimited")):
                    counts = np.bincount(reg_a[reason == k], minlength=R) * scale
                    if counts.any():
                        self.errors_by_reason.setdefault(name, np.zeros(R))
                        self.errors_by_reason[name] += counts
                t["errors"] += np.bincount(reg_a, minlength=R)
                ended |= abandon
        else:
            S.fails[:] = 0
        gone = np.flatnonzero(ended)
        if len(gone):
            S.alive[gone] = False
            S.need[gone] = False
            S.starting[gone] = False
            S.fails[gone] = 0
            self.active -= np.bincount(S.region[gone], minlength=R)

    def _arrivals(self, at: float) -> None:
        """Top each region up to its load-curve target with new viewers (in freed slots)."""
        S = self.S
        want = np.round(self.load.targets(at)).astype(np.int64)
        add = np.maximum(want - self.active, 0)
        if add.sum():
            new = self._new_sessions(np.repeat(np.arange(len(self.regions)), add), steady=False)
            if len(S) and (S.alive.sum() + len(new)) < COMPACT_BELOW * len(S):
                S.keep(S.alive)
            S.place(new)
            self.active += add

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
                   fault_params: dict[str, Any] | None = None, step_s: float | None = None,
                   object_s: float = OBJECT_S, pop_cache_bytes: int | None = None,
                   policy: str = "s3fifo") -> SimulationResult:
    """Fast-forward `duration_s` of the platform; deterministic for a seed and start time."""
    step_s = step_s or default_step(duration_s)
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


