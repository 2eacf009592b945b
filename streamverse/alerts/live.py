"""The alert loop of a live system, and the SLI that sees what health checks cannot.

`streamverse up` evaluates rules on APScheduler every `evaluation_interval` (alerting.yaml,
10 s by default); every firing or resolved alert goes to the incidents Remediator, which
opens incidents and runs policies' runbooks through the platform's control endpoints.
Verification reads the affected users' edge error ratio from the metric store: a gray
region outage (health checks green, requests failing) is invisible in /control/status.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from streamverse.clock import Clock

log = logging.getLogger("streamverse.alerts")
EDGE = "streamverse_edge_requests_total"
PLAYBACK_ERRORS = "streamverse_playback_errors_total"
WINDOW_S = 30.0


def _sum(store: Any, expr: str, at: float) -> float | None:
    """The single value of a `sum(...)` query, None when there is no series."""
    df = store.query(expr, at)
    if df is None or len(df) == 0:
        return None
    value = float(df["value"].iloc[-1])
    return None if math.isnan(value) else value


def error_ratio(store: Any, *, label: str, value: str, at: float, window_s: float = WINDOW_S,
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

    def __init__(self, store: Any, clock: Clock, *, regions: set[str], pops: set[str],
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


def probe_for_topology(topology: Any, store: Any, clock: Clock,
                       fallback: Callable[[str], float | None] | None = None) -> EdgeErrorProbe:
    """An EdgeErrorProbe knowing the topology's regions and PoPs."""
    regions = {r.name for r in topology.regions}
    pops = {p.name for r in topology.regions for p in r.pops}
    return EdgeErrorProbe(store, clock, regions=regions, pops=pops, fallback=fallback)


@dataclass
class AlertLoop:
    """A started alert scheduler and the pool its notifications and incident hooks run on."""

    scheduler: Any
    service: Any
    pool: ThreadPoolExecutor

    def stop(self) -> None:
        """Stop evaluating, hand leadership over, finish queued deliveries."""
        try:
            self.scheduler.stop()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=False)


def default_checks(*, settings: Any, engine: Any, clock: Clock, store: Any) -> list[Any]:
    """The slower checks beside evaluation: the cost check (budgets, spend anomalies) when enabled."""
    if not getattr(settings, "cost_check_interval_s", 0):
        return []
    from streamverse.costs.flows import periodic_cost_check

    return [periodic_cost_check(settings=settings, engine=engine, clock=clock, store=store)]


def start_alert_loop(*, settings: Any, engine: Any, remediator: Any, clock: Clock,
                     interval_s: float | None = None, store: Any = None, rules: Any = None,
                     config_path: Any = None, checks: Any = None) -> AlertLoop:
    """Build the AlertService (alerts -> Remediator.on_alert) and start its scheduler.

    `checks` (PeriodicCheck list; `default_checks` when None) run on the same leader, slower:
    they report findings the next evaluation cycles turn into alerts.
    """
    from streamverse.alerts.config import load_config
    from streamverse.alerts.rules import default_rules
    from streamverse.alerts.scheduler import AlertScheduler
    from streamverse.alerts.service import AlertService
    from streamverse.collectors.service import make_store

    config = load_config(config_path)
    if interval_s is not None:
        config = config.model_copy(update={"evaluation_interval": float(interval_s)})
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="alerts")

    def on_alert(event: Any) -> None:
        remediator.on_alert(alert=event)

    store = store if store is not None else make_store(settings)
    service = AlertService(engine=engine, store=store,
                           clock=clock, rules=rules if rules is not None else default_rules(), config=config,
                           on_alert=on_alert, spawn=pool.submit)
    scheduler = AlertScheduler(service, interval_s=config.evaluation_interval,
                               redis_url=getattr(settings, "redis_url", None))
    if checks is None:
        checks = default_checks(settings=settings, engine=engine, clock=clock, store=store)
    for check in checks:
        scheduler.add_check(check)
    scheduler.start()
    log.info("alert loop started", extra={"interval_s": config.evaluation_interval})
    return AlertLoop(scheduler, service, pool)
