"""The SLI a run is verified on, read from what users saw: the edge error ratio in the metric store.

A gray region outage (health checks green, requests failing) is invisible in the
platform's /control/status, so verification reads the affected users' edge error ratio
from the metric store instead, the same telemetry the alerts fired on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from statistics import fmean

from streamverse.clock import Clock
from streamverse.metricstore import MetricStore
from streamverse.platform.topology import Topology
from streamverse.remediation.control import PlatformControl

log = logging.getLogger("streamverse.remediation")
EDGE = "streamverse_edge_requests_total"
PLAYBACK_ERRORS = "streamverse_playback_errors_total"
WINDOW_S = 30.0


def _sum(store: MetricStore, expr: str, at: float) -> float | None:
    """The single value of a `sum(...)` query, None when there is no series."""
    df = store.query(expr, at)
    if df is None or len(df) == 0:
        return None
    value = float(df["value"].iloc[-1])
    return None if math.isnan(value) else value


def error_ratio(store: MetricStore, *, label: str, value: str, at: float, window_s: float = WINDOW_S,
                viewers_region: str | None = None) -> float | None:
    """Failed share of the requests of `label=value` edges over the window (viewer failures count too).

    A drained region serves nobody, so it fails nobody: 0 requests and 0 errors read 0.0.
    None means no telemetry at all (nothing scraped yet).
    """
    sel = f'{label}="{value}"'
    w = f"{window_s:g}s"
    bad = _sum(store, f'sum(increase({EDGE}{{{sel},code=~"5.."}}[{w}]))', at)
    total = _sum(store, f"sum(increase({EDGE}{{{sel}}}[{w}]))", at)
    failed = 0.0
    if viewers_region:
        failed = _sum(store, f'sum(increase({PLAYBACK_ERRORS}{{region="{viewers_region}"}}[{w}]))', at) or 0.0
    if bad is None and total is None:
        return None
    bad_all = (bad or 0.0) + failed
    denominator = max(total or 0.0, bad_all)
    return round(bad_all / denominator, 6) if denominator > 0 else 0.0


class EdgeErrorProbe:
    """Remediator SLI from the metric store: the target region's (or PoP's) edge error ratio over 30 s."""

    def __init__(self, store: MetricStore, clock: Clock, *, regions: set[str], pops: set[str],
                 fallback: Callable[[str], float | None] | None = None, window_s: float = WINDOW_S) -> None:
        self.store, self.clock = store, clock
        self.regions, self.pops = regions, pops
        self.fallback = fallback
        self.window_s = window_s

    def __call__(self, target: str) -> float | None:
        """Badness in [0, 1] now (higher is worse); the fallback answers for non-edge targets."""
        if target in self.regions:
            return error_ratio(self.store, label="region", value=target, at=self.clock.now(),
                               window_s=self.window_s)
        if target in self.pops:
            return error_ratio(self.store, label="pop", value=target, at=self.clock.now(),
                               window_s=self.window_s)
        return self.fallback(target) if self.fallback else None


def probe_for_topology(topology: Topology, store: MetricStore, clock: Clock,
                       fallback: Callable[[str], float | None] | None = None) -> EdgeErrorProbe:
    """An EdgeErrorProbe knowing the topology's regions and PoPs."""
    regions = {r.name for r in topology.regions}
    pops = {p.name for r in topology.regions for p in r.pops}
    return EdgeErrorProbe(store, clock, regions=regions, pops=pops, fallback=fallback)


class StatusProbe:
    """Default SLI, read from /control/status as a badness in [0, 1] (higher is worse)."""

    def __init__(self, ctl: PlatformControl, kind: str) -> None:
        self.ctl = ctl
        self.kind = kind

    def __call__(self, target: str) -> float | None:
        """The share of the target's traffic that is being served badly now."""
        if self.kind == "none":
            return None
        status = self.ctl.status()
        if self.kind == "region" and target in status["regions"]:
            r = status["regions"][target]
            served_badly = 1.0 - (int(r.get("usable_pops", 0)) / max(1, int(r.get("pops", 1))))
            return round(float(r["weight"]) * served_badly, 6)
        if self.kind == "pop" and target in status["pops"]:
            p = status["pops"][target]
            return (
                0.0
                if float(p["weight"]) == 0
                else (0.0 if p.get("healthy") and not p.get("hard_down") else 1.0)
            )
        if self.kind == "cache":
            ratios = [float(p.get("hit_ratio", 0.0)) for p in status["pops"].values() if p.get("hits", 0)]
            return round(1.0 - fmean(ratios), 6) if ratios else None
        if self.kind == "origin":
            return 0.0 if status["origin"].get("up", True) else 1.0
        return None
