"""Fast-forward driver: the platform's own components on a virtual clock, sessions as arrays.

The same `Platform` (CDN caches, health checks, GeoDNS, fault book) that serves live
HTTP is driven here by a discrete-time loop; only the viewers are modelled in bulk, in
slot arrays (`fastforward_sessions`), reading chunk objects (`fastforward_chunks`). This
module is the vector step between them; telemetry goes out as scrape snapshots
(`fastforward_telemetry`) to a sink the caller supplies.

Modelling choices, and why:
- Time step 30 s (five 6-s segments) for runs up to 6 h, 60 s beyond: the telemetry
  written for such runs is per minute anyway (`default_telemetry_step`). The hls.js EWMA
  half-lives (3 s, 9 s) are shorter than either, so within a step the estimate converges
  to the step's throughput: one sample per step, weighted by its download time, gives
  the same decisions as five or ten. Health checks still tick every `health_interval_s`
  inside a step, so hard outages are caught within their interval; failing viewers give
  up after `GIVE_UP_S` and retry `RETRIES_PER_S`, whatever the step. 100,000 sessions x
  24 h is 1,440 vector steps.
- One modelled session stands for `scale` viewers (REPRESENTED_PEAK_USERS / viewers);
  telemetry and egress are in represented viewers, QoE ratios are per modelled session.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from streamverse.clock import RealClock, VirtualClock
from streamverse.platform import abr, audience
from streamverse.platform.catalog import SEGMENT_SECONDS
from streamverse.platform.fastforward_chunks import ChunkCache
from streamverse.platform.fastforward_result import SimulationResult, summarise
from streamverse.platform.fastforward_services import GatewayModel, TranscodeQueue
from streamverse.platform.fastforward_sessions import SessionSlots, sample_sessions
from streamverse.platform.fastforward_telemetry import (
    CODES,
    STARTUP_BIN_MS,
    STARTUP_BINS,
    TelemetryPublisher,
    default_telemetry_step,
)
from streamverse.platform.faults import SCENARIOS
from streamverse.platform.scrape_snapshot import SnapshotSink
from streamverse.platform.topology import Topology

__all__ = ["FastForward", "SimulationResult", "default_step", "run_simulation"]

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


def default_step(duration_s: float) -> float:
    """30 s for runs up to 6 h; 60 s beyond, the resolution their telemetry is written at."""
    return STEP_S if duration_s <= LONG_RUN_S else LONG_RUN_STEP_S


class FastForward:
    """One fast-forward run: platform, audience and the vector step between them."""

    def __init__(self, *, topology: Topology, duration_s: float, seed: int, viewers: int,
                 sink: SnapshotSink | None, start_ts: float, telemetry_step_s: float | None,
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
        rtt = np.array([[topology.rtt_ms(r, p) for p in self.pops] for r in self.regions])
        self.api_ms = np.array([min(topology.rtt_ms(r, p.name) for p in reg.pops) + API_MS
                                for r, reg in zip(self.regions, topology.regions, strict=True)])
        self.catalog = audience.synthetic_catalog(audience.CATALOG_SIZE, seed=seed)
        self.chunks = ChunkCache(cdn=self.platform.cdn, pops=self.pops, regions=self.regions,
                                 catalog=self.catalog, object_s=self.object_s, rtt=rtt, cache_bytes=cache)
        self.video_ids = self.chunks.video_ids
        self.row_of_video = self.chunks.row_of_video
        self.base_weights = audience.zipf_weights(len(self.video_ids))
        self.sampler = audience.PopularitySampler(self.base_weights)
        self._boosts: dict[int, float] = {}
        self.load = audience.RegionLoad.for_topology(topology, self.viewers)
        self._effects: object | None = None
        if getattr(self.platform, "limits", None) is None:  # one table: control changes reach the model
            from streamverse.platform.ratelimit import LimitTable

            self.platform.limits = LimitTable()
        self.gateway = GatewayModel(regions=self.regions, load=self.load, scale=self.scale,
                                    limits=self.platform.limits)
        self.transcode = TranscodeQueue()
        self.tot = {k: np.zeros(R) for k in ("ok", "fail", "hit", "bytes", "played",
                                             "stalled", "started", "errors")}
        self.startup_hist = np.zeros((R, STARTUP_BINS))
        self.startup_sum = np.zeros(R)
        self.pop_req = np.zeros((P, 2, len(CODES)))  # pop x (hit, miss) x code
        self.pop_bytes = np.zeros(P)
        self.starts_by_row = np.zeros(len(self.video_ids))  # play starts per title (modelled sessions)
        self.bytes_by_row = np.zeros(len(self.video_ids))  # edge bytes per title (represented), for costs
        self.dns_answers = np.zeros((R, P))
        self.errors_by_reason: dict[str, np.ndarray] = {}
        self.sessions_started = 0
        self.telemetry = TelemetryPublisher(sink=sink, engine=self,
                                            step_s=telemetry_step_s or default_telemetry_step(duration_s))
        self.faults: list[dict[str, Any]] = []
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
        self.chunks.prewarm(max(1, int(len(self.video_ids) * PREWARM_SHARE)))
        self._effects = self.platform.faults.effects(self.clock.now())

    def video_objects(self, video_id: int) -> list[tuple[str, int]]:
        """(key, size) of every chunk of a title's renditions: what a pre-warm of that video copies."""
        return self.chunks.video_objects(video_id)

    def _new_sessions(self, region: np.ndarray, *, steady: bool) -> SessionSlots:
        """Fresh viewers, counted as started."""
        new = sample_sessions(self.rng, self.sampler, self.catalog, region, steady=steady)
        self.sessions_started += len(new)
        return new

    def _initial_sessions(self) -> SessionSlots:
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
        self.telemetry.flush()
        wall = time.perf_counter() - wall0
        return summarise(self, tl, n_steps, wall)

    def step(self) -> None:
        """Advance every session by one step, then the clock (health ticking on the way)."""
        now, dt, S = self.clock.now(), self.step_s, self.S
        plat = self.platform
        eff = plat.faults.effects(now)
        if eff is not self._effects:  # fault edges: forget what the caches answered before
            self._effects = eff
            self.chunks.forget()
        self._apply_viral(eff)
        self._resolve(now)
        P = len(self.pops)
        pop_or_none = np.where(S.pop < 0, P, S.pop)
        self.rp = S.region * (P + 1) + pop_or_none  # client region x (PoP or none), for sums and RTTs
        ok = S.alive & (S.pop >= 0)
        code = np.full(len(S), 200)
        code[S.alive & ~ok] = 503
        gw_ok = self.gateway.admit(self.rng, region=S.region, starting=S.starting & S.alive,
                                   active=self.active, dt=dt, effects=eff)
        if gw_ok is not None:
            ok &= gw_ok
            code[~gw_ok] = 503
        # ABR decision for this step, then the object each session reads.
        est = abr.bandwidth_estimate(S.fast, S.slow, S.wt)
        S.rend = abr.choose_rendition(S.rend, est, S.buf, S.maxr)
        S.rend[S.starting] = 0
        part = np.minimum((S.pos * (1.0 / self.object_s)).astype(np.int64), self.chunks.n_parts - 1)
        obj = self.chunks.obj_index(S.row, S.rend, part)
        entry = ok & ((obj != S.obj) | (S.pop != S.obj_pop))
        cont = ok & ~entry
        self.chunks.open_chunks(S, np.flatnonzero(entry), obj, self.rp, code, ok, eff.cache_disabled)
        self.chunks.probe(S, cont, self.rp, code, ok, eff, self.rng)
        self._play(ok, code, now, dt)
        self._arrivals(now + dt)
        self.transcode.step(dt=dt, effects=eff)
        for k in range(1, int(dt // plat.health_interval_s) + 1):
            self.clock.set(now + k * plat.health_interval_s)
            plat.health.tick()
        self.clock.set(now + dt)
        plat.health.tick()  # steps shorter than the interval: probe whatever has come due
        self.telemetry.maybe_publish(self.clock.now())

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

    def _play(self, ok: np.ndarray, code: np.ndarray, now: float, dt: float) -> None:
        """Buffers, stalls, startups, bytes and request counts for one step; ends and abandons."""
        S, R, P, scale, ch = self.S, len(self.regions), len(self.pops), self.scale, self.chunks
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
        miss_all = served & (ch.broken[pop] | ch.herd)
        self.bytes_by_row += np.bincount(S.row, weights=nbytes, minlength=len(self.bytes_by_row)) * scale
        if miss_all.any():  # a herd on a cold chunk, an edge holding nothing: served from the shield
            ch.fill_bytes_p += np.bincount(pop, weights=nbytes * miss_all, minlength=P) * scale
        ok_rp = np.bincount(rp, weights=reqs * served, minlength=RP).reshape(R, P + 1)
        miss_rp = np.bincount(rp, weights=reqs * miss_all, minlength=RP).reshape(R, P + 1)
        bytes_rp = np.bincount(rp, weights=nbytes, minlength=RP).reshape(R, P + 1)
        ok_r = ok_rp.sum(axis=1)
        t["ok"] += ok_r
        hit_r = ok_r - miss_rp.sum(axis=1)
        t["hit"] += np.maximum(hit_r - ch.fill_r, 0.0)
        ok_p = ok_rp[:, :P].sum(axis=0)
        broken_p = miss_rp[:, :P].sum(axis=0)
        fill_p = np.minimum(ch.fill_p, ok_p - broken_p)
        self.pop_req[:, 0, 0] += ok_p - broken_p - fill_p
        self.pop_req[:, 1, 0] += broken_p + fill_p
        if any_failed:
            f = np.flatnonzero(failed)
            t["fail"] += np.bincount(S.region[f], weights=reqs[f], minlength=R)
            bad = f[S.pop[f] >= 0]
            code_i = np.minimum(np.searchsorted(CODES, code[bad]), len(CODES) - 1)
            self.pop_req[:, 1, :] += np.bincount(pop[bad] * len(CODES) + code_i, weights=reqs[bad],
                                                 minlength=P * len(CODES)).reshape(P, len(CODES))
        ch.fill_r[:], ch.fill_p[:] = 0.0, 0.0
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
        want = np.round(self.load.targets(at)).astype(np.int64)
        add = np.maximum(want - self.active, 0)
        if add.sum():
            self.S.admit(self._new_sessions(np.repeat(np.arange(len(self.regions)), add), steady=False))
            self.active += add


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
                   sink: SnapshotSink | None = None, start_ts: float | None = None,
                   telemetry_step_s: float | None = None, progress: bool = False,
                   fault_params: dict[str, Any] | None = None, step_s: float | None = None,
                   object_s: float = OBJECT_S, pop_cache_bytes: int | None = None,
                   policy: str = "s3fifo") -> SimulationResult:
    """Fast-forward `duration_s`, publishing a scrape per telemetry step to `sink`; deterministic per seed."""
    step_s = step_s or default_step(duration_s)
    if duration_s < step_s:
        from streamverse.errors import UsageError

        raise UsageError(f"a simulation needs at least {step_s:g}s of simulated time")
    if start_ts is None:  # series end now; a whole minute so reruns within it agree
        start_ts = math.floor((RealClock().now() - duration_s) / 60.0) * 60.0
    ff = FastForward(topology=topology, duration_s=duration_s, seed=seed, viewers=viewers, sink=sink,
                     start_ts=start_ts, telemetry_step_s=telemetry_step_s, step_s=step_s,
                     object_s=object_s, pop_cache_bytes=pop_cache_bytes, policy=policy)
    if scenario:
        ff.schedule(scenario, target=target, params=fault_params)
    return ff.run(progress=progress)


