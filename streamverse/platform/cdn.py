"""The delivery tiers: edge PoP caches, a shield per region, and the origin pool behind them.

`CDN.fetch` is the one code path for an object request in both drivers: the live edge
server calls it per HTTP request with real bytes, the fast-forward simulator calls it per
(PoP, chunk) with sizes only. Faults come from the FaultBook at the current clock time, so
an injected fault changes behaviour the same way in both. Counters are plain dicts on the
hot path; `export_metrics` turns them into Prometheus series when someone looks.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamverse.clock import Clock
from streamverse.errors import UsageError
from streamverse.platform.edge_cache import EdgeCache, Policy
from streamverse.platform.faults import FaultBook
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.topology import Topology, rtt_between

ORIGIN_SERVICE_MS = 15.0  # origin storage read + TLS to the shield, before queueing
EDGE_SERVICE_MS = 1.0  # an edge answering from memory
SHIELD_SERVICE_MS = 2.0
QUEUE_CAP_MS = 2000.0  # an overloaded tier is slow, not infinitely slow

Source = Callable[[str], "bytes | None"]
SizeOf = Callable[[str], "int | None"]


@dataclass(slots=True)
class FetchResult:
    """What one object request got: status, which tier answered, bytes and latency."""

    status: int
    tier: str  # "edge" | "shield" | "origin" | "none"
    size: int
    latency_ms: float
    body: bytes | None = None


def queue_delay_ms(utilisation: float, service_ms: float) -> float:
    """M/M/1-style waiting time: grows as u/(1-u) and is capped once the tier saturates."""
    if utilisation <= 0.0:
        return 0.0
    if utilisation >= 0.99:
        return QUEUE_CAP_MS
    return min(QUEUE_CAP_MS, service_ms * utilisation / (1.0 - utilisation))


class OriginPool:
    """Primary and backup origins; misses go to the `active` one."""

    def __init__(self, topology: Topology, *, faults: FaultBook, source: Source | None = None,
                 size_of: SizeOf | None = None) -> None:
        self.origins = {o.name: o for o in topology.origins}
        self.active = topology.primary_origin.name
        self.capacity_factor = 1.0
        self.load_gbps = 0.0
        self.source = source
        self.size_of = size_of
        self._faults = faults

    @property
    def names(self) -> list[str]:
        """Every origin's name, primary first."""
        return sorted(self.origins, key=lambda n: self.origins[n].role != "primary")

    @property
    def capacity_gbps(self) -> float:
        """The active origin's capacity after scaling."""
        return self.origins[self.active].capacity_gbps * self.capacity_factor

    def switch(self, name: str) -> str:
        """Serve misses from `name`; returns the previous active origin."""
        if name not in self.origins:
            raise UsageError(f"unknown origin {name!r}; choose one of {self.names}")
        old, self.active = self.active, name
        return old

    def scale(self, factor: float) -> float:
        """Set the capacity multiplier (1 = as configured); returns the previous one."""
        if not factor > 0:
            raise UsageError(f"an origin scale factor must be positive, got {factor}")
        old, self.capacity_factor = self.capacity_factor, float(factor)
        return old

    def up(self) -> bool:
        """Whether the active origin answers at all."""
        return self.active not in self._faults.effects().origins_down

    def fetch(self, key: str, size: int | None,
              down: set[str] | None = None) -> tuple[int, int, bytes | None]:
        """(status, size, body) for `key` from the active origin (`down`: origins known to be down)."""
        if self.active in (self._faults.effects().origins_down if down is None else down):
            return 503, 0, None
        if self.source is not None:
            body = self.source(key)
            if body is None:
                return 404, 0, None
            return 200, len(body), body
        if size is None and self.size_of is not None:
            size = self.size_of(key)
        if size is None:
            return 404, 0, None
        return 200, int(size), None

    def queue_ms(self) -> float:
        """Waiting time at the origin from its observed load."""
        return queue_delay_ms(self.load_gbps / self.capacity_gbps, ORIGIN_SERVICE_MS)


class Shield:
    """A region's mid-tier cache: PoP misses land here before the origin."""

    def __init__(self, region: str, cache: EdgeCache, lat: float, lon: float) -> None:
        self.region = region
        self.cache = cache
        self.lat, self.lon = lat, lon


class EdgePoP:
    """An edge PoP: its cache, region, shield and the load it carries."""

    def __init__(self, name: str, region: str, cache: EdgeCache, shield: Shield, capacity_gbps: float,
                 shield_rtt_ms: float) -> None:
        self.name = name
        self.region = region
        self.cache = cache
        self.shield = shield
        self.capacity_gbps = capacity_gbps
        self.shield_rtt_ms = shield_rtt_ms
        self.load_gbps = 0.0
        self.queue_ms = 0.0


class CDN:
    """Edge PoPs, regional shields and the origin pool, with faults and a latency model."""

    def __init__(self, topology: Topology, *, clock: Clock, faults: FaultBook, policy: Policy = "s3fifo",
                 pop_cache_bytes: int | None = None, shield_cache_bytes: int | None = None,
                 origin: OriginPool, metrics: PlatformMetrics | None = None, seed: int = 7) -> None:
        self.topology = topology
        self.clock = clock
        self.faults = faults
        self.origin = origin
        self.metrics = metrics
        self.policy = policy
        self._rng = random.Random(seed)
        self.shields: dict[str, Shield] = {}
        self.pops: dict[str, EdgePoP] = {}
        self._origin_rtt: dict[tuple[str, str], float] = {}
        for r in topology.regions:
            sh = r.shield
            cache = EdgeCache(shield_cache_bytes or sh.cache_size, clock=clock, policy=policy)
            shield = Shield(r.name, cache, sh.lat, sh.lon)
            self.shields[r.name] = shield
            for o in topology.origins:
                self._origin_rtt[(r.name, o.name)] = rtt_between(sh.lat, sh.lon, o.lat, o.lon)
            for p in r.pops:
                cache = EdgeCache(pop_cache_bytes or p.cache_size, clock=clock, policy=policy)
                self.pops[p.name] = EdgePoP(p.name, r.name, cache, shield, p.capacity_gbps,
                                            rtt_between(p.lat, p.lon, sh.lat, sh.lon))
        self._client_rtt: dict[tuple[str, str], float] = {
            (r.name, p): topology.rtt_ms(r.name, p) for r in topology.regions for p in self.pops}
        self._own_rtt = {p.name: self._client_rtt[(p.region, p.name)] for p in self.pops.values()}
        self._last_effects: Any = None
        # Counters: (pop, cache, code) -> requests; pop -> bytes; (region, cache, code) at shields.
        self.edge_requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.edge_bytes: defaultdict[str, int] = defaultdict(int)
        self.shield_requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.origin_requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.origin_bytes: defaultdict[str, int] = defaultdict(int)
        self.shield_bytes: defaultdict[str, int] = defaultdict(int)  # region -> bytes sent to its PoPs
        self._exported: dict[str, dict[Any, int]] = {}
        self._export_lock = threading.Lock()

    # -- the request path --------------------------------------------------------------------
    def fetch(self, pop: str, key: str, size: int | None = None, *,
              client_region: str | None = None) -> FetchResult:
        """Serve `key` at `pop`: edge, then shield, then origin, filling caches on the way back."""
        p = self.pops.get(pop)
        if p is None:
            raise UsageError(f"unknown PoP {pop!r}; choose one of {sorted(self.pops)}")
        eff = self.faults.effects()
        if eff is not self._last_effects:
            self._on_effects(eff)
        rtt = self._client_rtt[(client_region, pop)] if client_region else self._own_rtt[pop]
        lat = rtt + EDGE_SERVICE_MS + p.queue_ms
        caching = True
        if not eff.quiet:
            lat += eff.pop_extra_ms.get(pop, 0.0)
            if pop in eff.pops_down:
                self.edge_requests[(pop, "miss", 503)] += 1
                return FetchResult(503, "none", 0, lat)
            rate = eff.pop_error_rate.get(pop)
            if rate and self._rng.random() < rate:
                self.edge_requests[(pop, "miss", 503)] += 1
                return FetchResult(503, "none", 0, lat)
            caching = pop not in eff.cache_disabled
        if caching:
            e = p.cache.get(key, size or 0)
            if e is not None:
                self.edge_requests[(pop, "hit", 200)] += 1
                self.edge_bytes[pop] += e.size
                return FetchResult(200, "edge", e.size, lat, e.value)
        # Edge miss: ask the region's shield.
        shield = p.shield
        region = p.region
        lat += p.shield_rtt_ms + SHIELD_SERVICE_MS
        e = shield.cache.get(key, size or 0)
        if e is not None:
            self.shield_requests[(region, "hit", 200)] += 1
            self.shield_bytes[region] += e.size
            if caching:
                p.cache.put(key, e.size, e.value)
            self.edge_requests[(pop, "miss", 200)] += 1
            self.edge_bytes[pop] += e.size
            return FetchResult(200, "shield", e.size, lat, e.value)
        # Shield miss: the origin.
        origin = self.origin
        status, got, body = origin.fetch(key, size, eff.origins_down)
        self.origin_requests[(origin.active, status)] += 1
        self.shield_requests[(region, "miss", status)] += 1
        self.edge_requests[(pop, "miss", status)] += 1
        lat += self._origin_rtt[(region, origin.active)] + ORIGIN_SERVICE_MS
        if origin.load_gbps:
            lat += origin.queue_ms()
        if status != 200:
            return FetchResult(status, "none" if status >= 500 else "origin", 0, lat)
        self.origin_bytes[origin.active] += got
        self.shield_bytes[region] += got
        self.edge_bytes[pop] += got
        shield.cache.put(key, got, body)
        if caching:
            p.cache.put(key, got, body)
        return FetchResult(200, "origin", got, lat, body)

    def _on_effects(self, eff: Any) -> None:
        """Fault edges: an edge-cache failure wipes the PoP's cache when it starts."""
        before = self._last_effects.cache_disabled if self._last_effects is not None else set()
        for pop in eff.cache_disabled - before:
            if pop in self.pops:
                self.pops[pop].cache.clear()
        self._last_effects = eff

    def count(self, pop: str, code: int, nbytes: int = 0) -> None:
        """Count a request the edge answered without fetching (a refused token, a bad path)."""
        self.edge_requests[(pop, "miss", code)] += 1
        if nbytes:
            self.edge_bytes[pop] += nbytes

    # -- load and health ---------------------------------------------------------------------
    def observe_load(self, pop: str, gbps: float) -> None:
        """The egress a PoP carries now; its queueing delay follows from it."""
        p = self.pops[pop]
        p.load_gbps = float(gbps)
        p.queue_ms = queue_delay_ms(p.load_gbps / p.capacity_gbps, EDGE_SERVICE_MS)

    def observe_origin_load(self, gbps: float) -> None:
        """The egress the active origin carries now."""
        self.origin.load_gbps = float(gbps)

    def utilisation(self, pop: str) -> float:
        """Load over capacity for a PoP (0 when nothing was observed)."""
        p = self.pops[pop]
        return p.load_gbps / p.capacity_gbps

    def local_latency_ms(self, pop: str) -> float:
        """The part of a fetch's latency a nearby client sees anyway (its RTT and the edge's work).

        The live edge holds a response for the rest (shield/origin round trips, queueing, fault
        latency), so loopback viewers feel what modelled distant tiers would cost them.
        """
        return self._own_rtt[pop] + EDGE_SERVICE_MS

    def pop_health(self, pop: str) -> bool:
        """What a shallow health check sees: False only when the PoP is hard-down."""
        return pop not in self.faults.effects().pops_down

    # -- control -----------------------------------------------------------------------------
    def check_pops(self, pops: list[str] | None) -> list[str]:
        """The named PoPs (all when None), refusing unknown names."""
        if pops is None:
            return list(self.pops)
        bad = [p for p in pops if p not in self.pops]
        if bad:
            raise UsageError(f"unknown PoP(s) {bad}; choose from {sorted(self.pops)}")
        return list(pops)

    def prewarm(self, items: list[tuple[str, int]], pops: list[str] | None = None) -> int:
        """Copy objects into PoP caches (and their shields) ahead of demand; returns objects stored."""
        stored = 0
        source = self.origin.source
        bodies: dict[str, bytes | None] = {}
        if source is not None:  # live: real bytes, fetched once and shared by every cache
            for key, _ in items:
                bodies[key] = source(key)
        shields = set()
        for name in self.check_pops(pops):
            p = self.pops[name]
            if source is None:
                stored += p.cache.put_many(items)
            else:
                for key, _size in items:
                    body = bodies[key]
                    if body is not None and p.cache.put(key, len(body), body):
                        stored += 1
            shields.add(p.region)
        for region in shields:
            cache = self.shields[region].cache
            for key, size in items:
                body = bodies.get(key)
                cache.put(key, len(body) if body is not None else size, body)
        return stored

    def purge(self, prefix: str, pops: list[str] | None = None, *, shields: bool = True) -> int:
        """Drop objects under `prefix` at the PoPs (and their shields); returns objects dropped at PoPs."""
        dropped = 0
        regions = set()
        for name in self.check_pops(pops):
            dropped += self.pops[name].cache.purge(prefix)
            regions.add(self.pops[name].region)
        if shields:
            for region in regions:
                self.shields[region].cache.purge(prefix)
        return dropped

    def set_ttl(self, prefix: str, ttl_s: float, pops: list[str] | None = None) -> int:
        """A TTL rule for keys under `prefix` at the PoPs; returns entries re-dated."""
        return sum(self.pops[name].cache.set_ttl(prefix, ttl_s) for name in self.check_pops(pops))

    # -- reporting ---------------------------------------------------------------------------
    def pop_status(self, pop: str) -> dict[str, Any]:
        """One PoP's cache use, hit ratio and load."""
        p = self.pops[pop]
        st = p.cache.stats
        return {"region": p.region, "cache_used_bytes": p.cache.used_bytes,
                "cache_capacity_bytes": p.cache.capacity_bytes, "objects": len(p.cache),
                "hit_ratio": round(st.hit_ratio, 4), "hits": st.hits, "misses": st.misses,
                "load_gbps": round(p.load_gbps, 3), "capacity_gbps": p.capacity_gbps}

    def export_metrics(self, metrics: PlatformMetrics | None = None) -> None:
        """Add what was counted since the last export to the Prometheus series, set cache gauges."""
        m = metrics or self.metrics
        if m is None:
            return
        with self._export_lock:
            for (pop, cache, code), n in self._deltas("edge", self.edge_requests):
                region = self.pops[pop].region
                m.edge_requests.labels(region=region, pop=pop, cache=cache, code=str(code)).inc(n)
            for pop, n in self._deltas("edge_bytes", self.edge_bytes):
                m.edge_bytes.labels(region=self.pops[pop].region, pop=pop).inc(n)
            for (region, cache, code), n in self._deltas("shield", self.shield_requests):
                m.shield_requests.labels(region=region, cache=cache, code=str(code)).inc(n)
            for (origin, code), n in self._deltas("origin", self.origin_requests):
                m.origin_requests.labels(origin=origin, code=str(code)).inc(n)
            for origin, n in self._deltas("origin_bytes", self.origin_bytes):
                m.origin_bytes.labels(origin=origin).inc(n)
            for region, n in self._deltas("shield_bytes", self.shield_bytes):
                m.shield_bytes.labels(region=region).inc(n)
            for name, p in self.pops.items():
                m.cache_bytes.labels(tier="edge", region=p.region, pop=name).set(p.cache.used_bytes)
            for region, sh in self.shields.items():
                m.cache_bytes.labels(tier="shield", region=region, pop="").set(sh.cache.used_bytes)

    def _deltas(self, name: str, counts: dict[Any, int]) -> list[tuple[Any, int]]:
        seen = self._exported.setdefault(name, {})
        out = []
        for k, v in list(counts.items()):
            d = v - seen.get(k, 0)
            if d:
                out.append((k, d))
                seen[k] = v
        return out
