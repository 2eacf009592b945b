"""GeoDNS: which PoP answers a viewer, from region, RTT, health, load and operator weights.

Health checks are shallow, as real ones are (Route 53, NS1): a probe asks a PoP's health
endpoint, which answers while the PoP is up even if the requests served there fail (a
gray failure). Only a PoP that stops answering (listener closed, process dead or frozen,
probe timed out) flips to unhealthy, after `fall` failed probes in a row; `rise` good ones
bring it back. Live, the probes are HTTP requests with a timeout (`system.live`); in
fast-forward the same checker is fed a modelled probe.

Routing: a region's viewers go to its own healthy, non-drained PoPs (nearest and largest
first, less when loaded); the region's weight is the share kept in-region, the rest (and
everything, when the region has no usable PoP) goes to the nearest usable region by RTT.
`distribution` is what the fast-forward simulator samples from, so it is cached until
health, weights or (every LOAD_REFRESH_S) load change.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from typing import Any

from streamverse.clock import Clock
from streamverse.errors import UsageError
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.topology import Topology, rtt_between

RTT_SCALE_MS = 10.0  # each 10 ms further than the nearest PoP costs a factor e in share
LOAD_REFRESH_S = 30.0  # how often a load-aware distribution is recomputed
MAX_POP_WEIGHT = 100.0


class HealthChecker:
    """Probes targets every `interval_s` (by the injected clock); `fall` failures mark one down, `rise` up."""

    def __init__(self, probe: Callable[[str], bool], targets: list[str], *, clock: Clock,
                 interval_s: float = 10.0, rise: int = 2, fall: int = 2) -> None:
        if interval_s <= 0 or rise < 1 or fall < 1:
            raise ValueError("health checks need interval_s > 0, rise >= 1 and fall >= 1")
        self.probe = probe
        self.targets = list(targets)
        self.clock = clock
        self.interval_s = float(interval_s)
        self.rise, self.fall = rise, fall
        self.version = 0  # bumps whenever a target changes state
        now = clock.now()
        self._healthy = {t: True for t in self.targets}
        self._streak = {t: 0 for t in self.targets}  # consecutive probes disagreeing with the state
        self._due = {t: now for t in self.targets}
        self._last: dict[str, float | None] = {t: None for t in self.targets}
        self._last_ok: dict[str, bool | None] = {t: None for t in self.targets}
        self._changed_at: dict[str, float | None] = {t: None for t in self.targets}

    def due(self, now: float | None = None) -> list[str]:
        """Targets whose next probe is due now (a live prober probes these over HTTP, then `record`s)."""
        now = self.clock.now() if now is None else now
        return [t for t in self.targets if self._due[t] <= now]

    def record(self, target: str, ok: bool, now: float | None = None) -> bool:
        """One probe's outcome; True when it flipped the target's state (after `rise`/`fall` in a row)."""
        now = self.clock.now() if now is None else now
        self._due[target] = now + self.interval_s
        self._last[target] = now
        self._last_ok[target] = ok
        if ok == self._healthy[target]:
            self._streak[target] = 0
            return False
        self._streak[target] += 1
        if self._streak[target] < (self.rise if ok else self.fall):
            return False
        self._healthy[target] = ok
        self._streak[target] = 0
        self._changed_at[target] = now
        self.version += 1
        return True

    def tick(self) -> list[str]:
        """Probe every due target with the injected probe; returns the targets whose state changed."""
        now = self.clock.now()
        flipped = []
        for t in self.due(now):
            try:
                ok = bool(self.probe(t))
            except Exception:  # a probe that blows up is a failed probe
                ok = False
            if self.record(t, ok, now):
                flipped.append(t)
        return flipped

    def last_ok(self, target: str) -> bool | None:
        """What the newest probe saw (None before the first); routing waits for `fall` failures."""
        return self._last_ok.get(target)

    def healthy(self, target: str) -> bool:
        """The target's state as routing sees it."""
        return self._healthy.get(target, False)

    def status(self) -> dict[str, Any]:
        """Every target's state, streak and last probe time."""
        return {t: {"healthy": self._healthy[t], "streak": self._streak[t], "last_probe": self._last[t],
                    "last_probe_ok": self._last_ok[t], "changed_at": self._changed_at[t]}
                for t in self.targets}


class GeoDNS:
    """Maps a client region to a PoP; weights shift traffic for failover and gradual failback."""

    def __init__(self, topology: Topology, *, clock: Clock, health: HealthChecker,
                 load: Callable[[str], float] | None = None, metrics: PlatformMetrics | None = None,
                 seed: int = 7) -> None:
        self.topology = topology
        self.clock = clock
        self.health = health
        self.load = load
        self.metrics = metrics
        self._rng = random.Random(seed)
        self.region_weight = {r.name: 1.0 for r in topology.regions}
        self.pop_weight = {p: 1.0 for p in topology.pops}
        self._version = 0
        self._cache: dict[str, tuple[tuple[Any, ...], dict[str, float], list[str], list[float]]] = {}
        # Static geometry: viewer region -> PoP RTT, and region -> region RTT (nearest first).
        self._rtt = {(r.name, p): topology.rtt_ms(r.name, p) for r in topology.regions for p in topology.pops}
        self._near: dict[str, list[str]] = {}
        for r in topology.regions:
            others = [o for o in topology.regions if o.name != r.name]
            others.sort(key=lambda o: rtt_between(r.lat, r.lon, o.lat, o.lon))
            self._near[r.name] = [o.name for o in others]

    # -- weights -----------------------------------------------------------------------------
    def set_region_weight(self, region: str, weight: float) -> float:
        """Share of the region's own viewers kept in-region (0 drains it); returns the old weight."""
        self._check_region(region)
        if not 0.0 <= weight <= 1.0:
            raise UsageError(f"a region weight is a share between 0 and 1, got {weight}")
        old, self.region_weight[region] = self.region_weight[region], float(weight)
        self._version += 1
        return old

    def set_pop_weight(self, pop: str, weight: float) -> float:
        """Relative weight of a PoP among its region's PoPs (0 drains it); returns the old weight."""
        if pop not in self.pop_weight:
            raise UsageError(f"unknown PoP {pop!r}; choose one of {sorted(self.pop_weight)}")
        if not 0.0 <= weight <= MAX_POP_WEIGHT:
            raise UsageError(f"a PoP weight must be between 0 and {MAX_POP_WEIGHT:g}, got {weight}")
        old, self.pop_weight[pop] = self.pop_weight[pop], float(weight)
        self._version += 1
        return old

    # -- answers -----------------------------------------------------------------------------
    def usable(self, region: str) -> list[str]:
        """The region's PoPs that are healthy and not drained."""
        healthy, w = self.health.healthy, self.pop_weight
        pops = self.topology.region_by_name[region].pops
        return [p.name for p in pops if w[p.name] > 0 and healthy(p.name)]

    def region_healthy(self, region: str) -> bool:
        """A region is healthy while any of its PoPs passes health checks."""
        return any(self.health.healthy(p.name) for p in self.topology.region_by_name[region].pops)

    def distribution(self, client_region: str) -> dict[str, float]:
        """Share of answers each PoP gets for viewers in `client_region` ({} when nothing is usable)."""
        return self._entry(client_region)[1]

    def resolve(self, client_region: str) -> str | None:
        """One answer, drawn from the distribution with the seeded generator."""
        _, dist, pops, cum = self._entry(client_region)
        if not pops:
            return None
        pop = pops[min(bisect.bisect_right(cum, self._rng.random() * cum[-1]), len(pops) - 1)]
        if self.metrics is not None:
            self.metrics.dns_answers.labels(client_region=client_region, pop=pop).inc()
        return pop

    def _entry(self, client_region: str) -> tuple[tuple[Any, ...], dict[str, float], list[str], list[float]]:
        key: tuple[Any, ...] = (self.health.version, self._version)
        if self.load is not None:
            key += (int(self.clock.now() // LOAD_REFRESH_S),)
        hit = self._cache.get(client_region)
        if hit is not None and hit[0] == key:
            return hit
        self._check_region(client_region)
        dist = self._compute(client_region)
        pops = list(dist)
        cum, acc = [], 0.0
        for p in pops:
            acc += dist[p]
            cum.append(acc)
        entry = (key, dist, pops, cum)
        self._cache[client_region] = entry
        return entry

    def _compute(self, client_region: str) -> dict[str, float]:
        own = self._shares(client_region, self.usable(client_region))
        keep = self.region_weight[client_region] if own else 0.0
        out = {p: s * keep for p, s in own.items()} if keep > 0 else {}
        spill = 1.0 - keep
        if spill > 1e-12:
            for other in self._near[client_region]:
                if self.region_weight[other] <= 0:
                    continue
                there = self._shares(client_region, self.usable(other))
                if there:
                    for p, s in there.items():
                        out[p] = out.get(p, 0.0) + s * spill
                    spill = 0.0
                    break
        if spill > 1e-12 and own and keep < 1.0:
            # Nowhere else to go: viewers stay home rather than get no answer.
            return own
        if not out and own:
            return own
        total = sum(out.values())
        return {p: s / total for p, s in out.items() if s > 0} if total > 0 else {}

    def _shares(self, client_region: str, pops: list[str]) -> dict[str, float]:
        """Normalised shares among `pops` for viewers in `client_region`: weight x capacity x nearness."""
        if not pops:
            return {}
        rtts = [self._rtt[(client_region, p)] for p in pops]
        best = min(rtts)
        topo = self.topology.pops
        score = {}
        for p, rtt in zip(pops, rtts, strict=True):
            s = self.pop_weight[p] * topo[p].capacity_gbps * math.exp(-(rtt - best) / RTT_SCALE_MS)
            if self.load is not None:
                s *= max(0.05, 1.0 - min(0.95, float(self.load(p))))
            score[p] = s
        total = sum(score.values())
        return {p: s / total for p, s in score.items()}

    # -- reporting ---------------------------------------------------------------------------
    def _check_region(self, region: str) -> None:
        if region not in self.region_weight:
            raise UsageError(f"unknown region {region!r}; choose one of {sorted(self.region_weight)}")

    def status(self) -> dict[str, Any]:
        """Regions and PoPs with weights and health, as routing sees them now."""
        regions = {}
        for r in self.topology.regions:
            usable = self.usable(r.name)
            regions[r.name] = {"weight": self.region_weight[r.name], "healthy": self.region_healthy(r.name),
                               "usable_pops": len(usable), "pops": len(r.pops)}
        pops = {p: {"region": self.topology.pops[p].region, "weight": self.pop_weight[p],
                    "healthy": self.health.healthy(p)} for p in self.topology.pops}
        return {"regions": regions, "pops": pops}

    def export_metrics(self, metrics: PlatformMetrics | None = None) -> None:
        """Set the pop_healthy gauges from the health checker."""
        m = metrics or self.metrics
        if m is None:
            return
        for p, pop in self.topology.pops.items():
            m.pop_healthy.labels(region=pop.region, pop=p).set(1.0 if self.health.healthy(p) else 0.0)
