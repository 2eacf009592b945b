"""The Platform facade: one object holding the delivery path, shared by the live and fast-forward drivers.

Control operations are the only way remediation changes the platform. Each validates its
arguments (unknown names list the valid ones) and returns a dict saying exactly what
changed, old -> new, so audits and runbook plans can show it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamverse.clock import Clock
from streamverse.errors import UsageError
from streamverse.platform.cdn import CDN, OriginPool, Source
from streamverse.platform.edge_cache import POLICIES, Policy
from streamverse.platform.faults import Fault, fault_book_for
from streamverse.platform.geodns import GeoDNS, HealthChecker
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.topology import Topology


def _change(old: Any, new: Any) -> dict[str, Any]:
    return {"old": old, "new": new}


class Platform:
    """Topology, fault book, CDN tiers, health checks and GeoDNS, plus the control operations."""

    def __init__(self, *, topology: Topology, clock: Clock, policy: Policy = "s3fifo",
                 pop_cache_bytes: int | None = None, shield_cache_bytes: int | None = None,
                 origin_source: Source | None = None,
                 origin_size_of: Callable[[str], int | None] | None = None,
                 health_interval_s: float = 10.0, limits: object | None = None,
                 metrics: PlatformMetrics | None = None, seed: int = 7) -> None:
        if policy not in POLICIES:
            raise UsageError(f"unknown cache policy {policy!r}; choose one of {list(POLICIES)}")
        self.topology = topology
        self.clock = clock
        self.metrics = metrics
        self.limits = limits
        self.health_interval_s = float(health_interval_s)
        self.faults = fault_book_for(topology, clock)
        origin = OriginPool(topology, faults=self.faults, source=origin_source, size_of=origin_size_of)
        self.cdn = CDN(topology, clock=clock, faults=self.faults, policy=policy,
                       pop_cache_bytes=pop_cache_bytes, shield_cache_bytes=shield_cache_bytes,
                       origin=origin, metrics=metrics, seed=seed)
        self.health = HealthChecker(self.cdn.pop_health, list(topology.pops), clock=clock,
                                    interval_s=self.health_interval_s)
        self.dns = GeoDNS(topology, clock=clock, health=self.health, load=self.cdn.utilisation,
                          metrics=metrics, seed=seed)

    # -- lookups -------------------------------------------------------------------------------
    def size_of(self, key: str) -> int | None:
        """An object's size at the origin (None when it has none)."""
        origin = self.cdn.origin
        if origin.size_of is not None:
            return origin.size_of(key)
        if origin.source is not None:
            body = origin.source(key)
            return None if body is None else len(body)
        return None

    def _region(self, region: str) -> str:
        if region not in self.topology.region_by_name:
            valid = sorted(self.topology.region_by_name)
            raise UsageError(f"unknown region {region!r}; choose one of {valid}")
        return region

    def _pop(self, pop: str) -> str:
        if pop not in self.topology.pops:
            raise UsageError(f"unknown PoP {pop!r}; choose one of {sorted(self.topology.pops)}")
        return pop

    @staticmethod
    def _weight(weight: float, *, upper: float = 1.0) -> float:
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise UsageError(f"a weight must be a number, got {weight!r}") from None
        if not 0.0 <= w <= upper:
            raise UsageError(f"a weight must be between 0 and {upper:g}, got {weight}")
        return w

    def _cache_bytes(self, pops: list[str]) -> int:
        return sum(self.cdn.pops[p].cache.used_bytes for p in pops)

    # -- routing -------------------------------------------------------------------------------
    def set_region_weight(self, region: str, weight: float) -> dict[str, Any]:
        """Share of a region's viewers served in-region: 0 drains, fractions fail back gradually."""
        region, w = self._region(region), self._weight(weight)
        if w == 0.0:
            others = [r for r in self.topology.region_by_name if r != region
                      and self.dns.region_weight[r] > 0 and self.dns.usable(r)]
            if not others:
                raise UsageError(f"refusing to drain {region}: it is the last healthy region taking traffic")
        before = self.dns.distribution(region)
        old = self.dns.set_region_weight(region, w)
        return {"region": region, "weight": _change(old, w),
                "distribution": _change(_rounded(before), _rounded(self.dns.distribution(region)))}

    def drain_region(self, region: str) -> dict[str, Any]:
        """Send every viewer of `region` to the nearest healthy regions."""
        return self.set_region_weight(region, 0.0)

    def set_pop_weight(self, pop: str, weight: float) -> dict[str, Any]:
        """A PoP's relative weight within its region (0 drains it, 1 is normal)."""
        pop = self._pop(pop)
        w = self._weight(weight, upper=100.0)
        region = self.topology.pops[pop].region
        before = self.dns.distribution(region)
        old = self.dns.set_pop_weight(pop, w)
        return {"pop": pop, "region": region, "weight": _change(old, w),
                "distribution": _change(_rounded(before), _rounded(self.dns.distribution(region)))}

    def drain_pop(self, pop: str) -> dict[str, Any]:
        """Take a PoP out of GeoDNS answers."""
        return self.set_pop_weight(pop, 0.0)

    # -- caches --------------------------------------------------------------------------------
    def prewarm(self, items: list[tuple[str, int]], pops: list[str] | None = None) -> dict[str, Any]:
        """Copy objects into PoP caches (and their shields) before viewers ask for them."""
        targets = self.cdn.check_pops(pops)
        clean = []
        for item in items:
            try:
                key, size = item
                clean.append((str(key).lstrip("/"), int(size)))
            except (TypeError, ValueError):
                raise UsageError(f"prewarm items are (key, size) pairs, got {item!r}") from None
        before = self._cache_bytes(targets)
        stored = self.cdn.prewarm(clean, pops=targets)
        return {"pops": targets, "objects": len(clean), "stored": stored,
                "cache_bytes": _change(before, self._cache_bytes(targets))}

    def set_ttl(self, prefix: str, ttl_s: float, pops: list[str] | None = None) -> dict[str, Any]:
        """How long objects under `prefix` stay fresh at the PoPs (held objects re-dated too)."""
        targets = self.cdn.check_pops(pops)
        if not isinstance(prefix, str):
            raise UsageError("a TTL prefix must be a string such as 'videos/42/'")
        if not ttl_s >= 0:
            raise UsageError(f"a TTL must be >= 0 seconds, got {ttl_s}")
        prefix = prefix.lstrip("/")
        olds = {self.cdn.pops[p].cache.ttl_for(prefix) for p in targets}
        changed = self.cdn.set_ttl(prefix, float(ttl_s), pops=targets)
        old = olds.pop() if len(olds) == 1 else sorted(olds)
        return {"prefix": prefix, "pops": targets, "ttl_s": _change(old, float(ttl_s)),
                "entries_redated": changed}

    def purge(self, prefix: str, pops: list[str] | None = None) -> dict[str, Any]:
        """Drop cached objects under `prefix` at the PoPs and their shields."""
        targets = self.cdn.check_pops(pops)
        if not isinstance(prefix, str):
            raise UsageError("a purge prefix must be a string such as 'videos/42/'")
        prefix = prefix.lstrip("/")
        before = self._cache_bytes(targets)
        purged = self.cdn.purge(prefix, pops=targets)
        return {"prefix": prefix, "pops": targets, "purged": purged,
                "cache_bytes": _change(before, self._cache_bytes(targets))}

    # -- origin --------------------------------------------------------------------------------
    def scale_origin(self, factor: float) -> dict[str, Any]:
        """Multiply the active origin's capacity (1 = as configured)."""
        try:
            f = float(factor)
        except (TypeError, ValueError):
            raise UsageError(f"a scale factor must be a number, got {factor!r}") from None
        if not 0 < f <= 100:
            raise UsageError(f"a scale factor must be in (0, 100], got {factor}")
        origin = self.cdn.origin
        cap_before = origin.capacity_gbps
        old = origin.scale(f)
        return {"origin": origin.active, "capacity_factor": _change(old, f),
                "capacity_gbps": _change(cap_before, origin.capacity_gbps)}

    def switch_origin(self, name: str) -> dict[str, Any]:
        """Serve cache misses from another origin (e.g. the backup)."""
        old = self.cdn.origin.switch(name)
        return {"active_origin": _change(old, name)}

    # -- gateway limits ------------------------------------------------------------------------
    def set_rate_limit(self, key: str, rate_per_s: float, burst: int) -> dict[str, Any]:
        """Set a gateway limit: a scope default ("ip") or one key's override ("ip:10.0.0.1")."""
        from streamverse.platform.ratelimit import Limit, LimitTable

        if not isinstance(key, str) or not key:
            raise UsageError("a rate-limit key is a scope ('ip', 'user') or 'scope:key'")
        try:
            new = Limit(float(rate_per_s), int(burst))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad rate limit: {exc}") from None
        if self.limits is None:
            self.limits = LimitTable()
        table: Any = self.limits
        snap = table.snapshot() if hasattr(table, "snapshot") else {}
        table.set(key, new)
        return {"key": key,
                "limit": _change(snap.get(key), {"rate_per_s": new.rate_per_s, "burst": new.burst})}

    # -- faults --------------------------------------------------------------------------------
    def inject_fault(self, scenario: str, target: str | None = None, duration_s: float = 300.0,
                     params: dict[str, Any] | None = None, start: float | None = None) -> Fault:
        """Schedule a fault (now unless `start` is given)."""
        return self.faults.inject(scenario, target=target, duration_s=duration_s, params=params, start=start)

    def clear_fault(self, fault_id: str | None = None) -> list[Fault]:
        """End one fault, or all when `fault_id` is None."""
        return self.faults.clear(fault_id)

    # -- reporting -----------------------------------------------------------------------------
    def export_metrics(self) -> None:
        """Bring the Prometheus series up to date (edge/shield/origin counters, cache and health gauges)."""
        if self.metrics is not None:
            self.cdn.export_metrics(self.metrics)
            self.dns.export_metrics(self.metrics)

    def status(self) -> dict[str, Any]:
        """Regions, PoPs (health, weight, cache use, hit ratio), origin and active faults."""
        dns = self.dns.status()
        pops = {}
        for name in self.topology.pops:
            p = self.topology.pops[name]
            pops[name] = {**dns["pops"][name], **self.cdn.pop_status(name),
                          "hard_down": self.health.last_ok(name) is False,  # observed, not fault state
                          "city": p.city, "lat": p.lat, "lon": p.lon}
        regions = {}
        for r in self.topology.regions:
            sh = self.cdn.shields[r.name].cache
            regions[r.name] = {**dns["regions"][r.name], "city": r.city, "lat": r.lat, "lon": r.lon,
                               "shield": {"cache_used_bytes": sh.used_bytes, "objects": len(sh),
                                          "hit_ratio": round(sh.stats.hit_ratio, 4)}}
        origin = self.cdn.origin
        now = self.clock.now()
        return {"regions": regions, "pops": pops,
                "origin": {"active": origin.active, "origins": origin.names, "up": origin.up(),
                           "capacity_factor": origin.capacity_factor, "capacity_gbps": origin.capacity_gbps},
                "faults": [{**f.to_dict(), "active": f.active(now)} for f in self.faults.all()
                           if f.end > now],
                "health_interval_s": self.health_interval_s}


def _rounded(dist: dict[str, float]) -> dict[str, float]:
    return {p: round(s, 4) for p, s in dist.items()}
