"""Fault scenarios and the book of active faults that every component consults.

A fault is data (scenario, target, window, parameters); components ask the book for the
combined `Effects` at the current clock time. The same book drives live runs (faults
injected through control endpoints) and fast-forward runs (faults scheduled ahead).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from streamverse.clock import Clock, utc_iso
from streamverse.errors import UsageError


@dataclass(frozen=True)
class Scenario:
    """A kind of fault: what it hits by default and which parameters it takes."""

    name: str
    description: str
    target_kind: str  # region | pop | origin | video | service
    default_target: str | None
    params: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """The scenario as shown by `streamverse scenarios`."""
        return {"name": self.name, "description": self.description,
                "target_kind": self.target_kind, "default_target": self.default_target,
                "params": dict(self.params)}


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("viral-video", "one title's demand jumps by `multiplier` (cold in every cache)",
             "video", None, {"multiplier": 10000.0, "share_cap": 0.35}),
    Scenario("region-outage", "a region's PoPs fail requests; `mode: gray` keeps health checks "
             "green (routing alone does not escape it), `mode: hard` fails them too",
             "region", "us-east", {"mode": "gray", "error_rate": 1.0}),
    Scenario("origin-loss", "the primary origin stops answering; caches serve what they hold",
             "origin", "california-hq", {}),
    Scenario("pop-outage", "PoPs go dark (hard down, health checks fail); the target is a PoP "
             "name or a city", "pop", "tokyo-7", {}),
    Scenario("ddos", "bot traffic floods a region's gateway at `multiplier` times normal "
             "from `bot_ips` addresses", "region", "eu-west",
             {"multiplier": 50.0, "bot_ips": 2000}),
    Scenario("latency-spike", "`extra_ms` of added latency at a region's PoPs",
             "region", "ap-northeast", {"extra_ms": 400.0}),
    Scenario("transcode-backlog", "uploads arrive at `multiplier` times normal while workers "
             "slow down by `slowdown`", "service", "transcode",
             {"multiplier": 10.0, "slowdown": 3.0}),
    Scenario("edge-cache-failure", "a region's edge caches are wiped and cannot store: every "
             "request goes to the shield", "region", "sa-east", {}),
)}


@dataclass(frozen=True)
class Fault:
    """One injected fault with its window in UTC epoch seconds."""

    id: str
    scenario: str
    target: str
    start: float
    end: float
    params: dict[str, Any] = field(default_factory=dict)

    def active(self, now: float) -> bool:
        """Whether the fault is in effect at `now`."""
        return self.start <= now < self.end

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the control API and summaries show it."""
        return {"id": self.id, "scenario": self.scenario, "target": self.target,
                "start": utc_iso(self.start), "end": utc_iso(self.end), "params": self.params}


@dataclass
class Effects:
    """The combined effect of every active fault at one instant."""

    pops_down: set[str] = field(default_factory=set)  # health checks fail
    pop_error_rate: dict[str, float] = field(default_factory=dict)  # requests fail
    pop_extra_ms: dict[str, float] = field(default_factory=dict)
    cache_disabled: set[str] = field(default_factory=set)
    origins_down: set[str] = field(default_factory=set)
    video_multiplier: dict[int, float] = field(default_factory=dict)
    video_share_cap: float = 0.35
    ddos_multiplier: dict[str, float] = field(default_factory=dict)  # by region
    ddos_bot_ips: dict[str, int] = field(default_factory=dict)
    upload_multiplier: float = 1.0
    transcode_slowdown: float = 1.0

    @property
    def quiet(self) -> bool:
        """True when nothing is wrong, so hot paths can skip every lookup."""
        return not (self.pops_down or self.pop_error_rate or self.pop_extra_ms
                    or self.cache_disabled or self.origins_down or self.video_multiplier
                    or self.ddos_multiplier or self.upload_multiplier != 1.0
                    or self.transcode_slowdown != 1.0)


class FaultBook:
    """Faults scheduled or injected, and their combined effects at any time."""

    def __init__(self, clock: Clock, *, pops_by_region: dict[str, list[str]],
                 pop_city: dict[str, str], origins: list[str]) -> None:
        self._clock = clock
        self._pops_by_region = pops_by_region
        self._pop_city = {p: c.lower() for p, c in pop_city.items()}
        self._origins = origins
        self._faults: dict[str, Fault] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._cache_key: tuple[int, float] | None = None
        self._cache: Effects = Effects()
        self._version = 0
        self._edges: list[float] = []

    def validate_target(self, scenario: str, target: str | None) -> str:
        """The fault's target, checked against the topology; errors list valid choices."""
        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
        spec = SCENARIOS[scenario]
        target = target or spec.default_target
        if spec.target_kind == "region":
            if target not in self._pops_by_region:
                raise UsageError(f"{scenario}: unknown region {target!r}; "
                                 f"choose one of {sorted(self._pops_by_region)}")
        elif spec.target_kind == "pop":
            if target not in self._pop_city and str(target).lower() not in self._pop_city.values():
                raise UsageError(f"{scenario}: {target!r} is neither a PoP nor a city of one")
        elif spec.target_kind == "origin":
            if target not in self._origins:
                raise UsageError(f"{scenario}: unknown origin {target!r}; choose one of {self._origins}")
        elif spec.target_kind == "video":
            if target is None or not str(target).isdigit():
                raise UsageError(f"{scenario}: the target must be a video id")
        return str(target)

    def inject(self, scenario: str, *, target: str | None = None, start: float | None = None,
               duration_s: float, params: dict[str, Any] | None = None) -> Fault:
        """Schedule a fault (now when `start` is omitted) and return it."""
        if duration_s <= 0:
            raise UsageError("a fault's duration must be positive")
        target = self.validate_target(scenario, target)
        merged = {**SCENARIOS[scenario].params, **(params or {})}
        unknown = set(merged) - set(SCENARIOS[scenario].params)
        if unknown:
            raise UsageError(f"{scenario}: unknown parameters {sorted(unknown)}; "
                             f"it takes {sorted(SCENARIOS[scenario].params)}")
        begin = self._clock.now() if start is None else start
        with self._lock:
            fault = Fault(f"f{next(self._ids)}", scenario, target, begin, begin + duration_s, merged)
            self._faults[fault.id] = fault
            self._changed()
        return fault

    def clear(self, fault_id: str | None = None) -> list[Fault]:
        """End one fault (or all) now; returns the faults ended."""
        now = self._clock.now()
        with self._lock:
            ids = [fault_id] if fault_id else list(self._faults)
            ended = []
            for fid in ids:
                f = self._faults.get(fid)
                if f is None:
                    raise UsageError(f"no fault {fid!r}; see `streamverse fault list`")
                if f.end > now:
                    f = Fault(f.id, f.scenario, f.target, f.start, max(f.start, now), f.params)
                    self._faults[fid] = f
                ended.append(f)
            self._changed()
        return ended

    def all(self) -> list[Fault]:
        """Every fault ever scheduled, oldest first."""
        return sorted(self._faults.values(), key=lambda f: f.start)

    def active(self, now: float | None = None) -> list[Fault]:
        """Faults in effect now."""
        t = self._clock.now() if now is None else now
        return [f for f in self.all() if f.active(t)]

    def _changed(self) -> None:
        self._version += 1
        self._edges = sorted({x for f in self._faults.values() for x in (f.start, f.end)})
        self._cache_key = None

    def _targets(self, fault: Fault) -> list[str]:
        spec = SCENARIOS[fault.scenario]
        if spec.target_kind == "region":
            return list(self._pops_by_region[fault.target])
        if spec.target_kind == "pop":
            if fault.target in self._pop_city:
                return [fault.target]
            return [p for p, c in self._pop_city.items() if c == fault.target.lower()]
        return []

    def effects(self, now: float | None = None) -> Effects:
        """Combined effects at `now`; cached until a fault starts, ends or changes."""
        t = self._clock.now() if now is None else now
        # Effects only change at fault edges: key the cache on the edge interval.
        import bisect

        slot = bisect.bisect_right(self._edges, t)
        key = (self._version, slot)
        if key == self._cache_key:
            return self._cache
        eff = Effects()
        for f in self._faults.values():
            if not f.active(t):
                continue
            pops = self._targets(f)
            p = f.params
            if f.scenario == "region-outage":
                for pop in pops:
                    eff.pop_error_rate[pop] = max(eff.pop_error_rate.get(pop, 0.0),
                                                  float(p.get("error_rate", 1.0)))
                    if p.get("mode") == "hard":
                        eff.pops_down.add(pop)
            elif f.scenario == "pop-outage":
                for pop in pops:
                    eff.pops_down.add(pop)
                    eff.pop_error_rate[pop] = 1.0
            elif f.scenario == "latency-spike":
                for pop in pops:
                    eff.pop_extra_ms[pop] = eff.pop_extra_ms.get(pop, 0.0) + float(p["extra_ms"])
            elif f.scenario == "edge-cache-failure":
                eff.cache_disabled.update(pops)
            elif f.scenario == "origin-loss":
                eff.origins_down.add(f.target)
            elif f.scenario == "viral-video":
                vid = int(f.target)
                eff.video_multiplier[vid] = max(eff.video_multiplier.get(vid, 1.0),
                                                float(p["multiplier"]))
                eff.video_share_cap = float(p.get("share_cap", eff.video_share_cap))
            elif f.scenario == "ddos":
                eff.ddos_multiplier[f.target] = float(p["multiplier"])
                eff.ddos_bot_ips[f.target] = int(p["bot_ips"])
            elif f.scenario == "transcode-backlog":
                eff.upload_multiplier *= float(p["multiplier"])
                eff.transcode_slowdown *= float(p["slowdown"])
        self._cache_key, self._cache = key, eff
        return eff


def fault_book_for(topology: object, clock: Clock) -> FaultBook:
    """A fault book that knows the topology's regions, PoPs and origins."""
    regions = topology.regions  # type: ignore[attr-defined]
    return FaultBook(
        clock,
        pops_by_region={r.name: [p.name for p in r.pops] for r in regions},
        pop_city={p.name: p.city for r in regions for p in r.pops},
        origins=[o.name for o in topology.origins],  # type: ignore[attr-defined]
    )
