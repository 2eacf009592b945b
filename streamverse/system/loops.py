"""The periodic loops of a running control plane: alert evaluation, cost checks, store compaction.

They share one APScheduler leader (with Redis, only the replica holding the lock runs
them), so a second control-plane replica neither double-notifies nor compacts twice.
Every firing or resolved alert goes to the alert handler the composition root wires to
incidents and remediation.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from streamverse.alerts.config import load_config
from streamverse.alerts.loop import AlertService
from streamverse.alerts.rules import Rule, default_rules
from streamverse.alerts.scheduler import AlertScheduler, PeriodicCheck
from streamverse.clock import Clock
from streamverse.collectors.service import make_store
from streamverse.costs.flows import periodic_cost_check
from streamverse.metricstore import CompactingStore, MetricStore
from streamverse.remediation.failback import FailbackWatcher
from streamverse.remediation.flows import Remediator
from streamverse.settings import Settings

log = logging.getLogger("streamverse.system")
COMPACT_INTERVAL_S = 600.0  # raw -> 5 m -> 1 h summaries, and retention: settings.metrics_compaction_interval
FAILBACK_CHECK_S = 15.0  # how often failed-over regions are looked at


@dataclass
class AlertLoop:
    """A started alert scheduler and the pool its notifications and incident hooks run on."""

    scheduler: AlertScheduler
    service: AlertService
    pool: ThreadPoolExecutor

    def stop(self) -> None:
        """Stop evaluating, hand leadership over, finish queued deliveries."""
        try:
            self.scheduler.stop()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=False)


def compaction_check(store: MetricStore, clock: Clock, interval_s: float = COMPACT_INTERVAL_S
                     ) -> PeriodicCheck | None:
    """Downsampling and retention for a store that does its own (the embedded one); None otherwise."""
    if not isinstance(store, CompactingStore):
        return None

    def run() -> dict[str, int]:
        return store.compact(now=clock.now())

    return PeriodicCheck(name="compaction", interval_s=interval_s, run=run)


def failback_check(settings: Settings, remediator: Remediator, interval_s: float = FAILBACK_CHECK_S
                   ) -> PeriodicCheck | None:
    """Automatic gradual failback of failed-over regions once healthy (off with failback_auto=false)."""
    if not settings.failback_auto:
        return None
    watcher = FailbackWatcher(remediator, healthy_for_s=settings.failback_after_s,
                              step=settings.failback_step, interval_s=settings.failback_interval_s)
    return PeriodicCheck(name="failback", interval_s=interval_s, run=watcher.check, first_after_s=interval_s)


def default_checks(*, settings: Settings, engine: Engine, clock: Clock, store: MetricStore,
                   remediator: Remediator | None = None) -> list[PeriodicCheck]:
    """The slower jobs beside evaluation: the cost check when enabled, compaction, automatic failback."""
    checks: list[PeriodicCheck] = []
    failback = failback_check(settings, remediator) if remediator is not None else None
    if failback is not None:
        checks.append(failback)
    if settings.cost_check_interval_s:
        checks.append(periodic_cost_check(settings=settings, engine=engine, clock=clock, store=store))
    compaction = (compaction_check(store, clock, settings.metrics_compaction_interval)
                  if settings.metrics_compaction_interval else None)
    if compaction is not None:
        checks.append(compaction)
    return checks


def start_alert_loop(*, settings: Settings, engine: Engine, remediator: Remediator | None, clock: Clock,
                     interval_s: float | None = None, store: MetricStore | None = None,
                     rules: list[Rule] | None = None, config_path: Path | str | None = None,
                     checks: list[PeriodicCheck] | None = None) -> AlertLoop:
    """Build the AlertService (alerts -> Remediator.on_alert) and start its scheduler.

    `checks` (`default_checks` when None) run on the same leader, slower: they report
    findings the next evaluation cycles turn into alerts.
    """
    config = load_config(config_path)
    if interval_s is not None:
        config = config.model_copy(update={"evaluation_interval": float(interval_s)})
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="alerts")

    store = store if store is not None else make_store(settings)
    handler = remediator.handle_alert if remediator is not None else None  # None: alerts only notify
    service = AlertService(engine=engine, store=store,
                           clock=clock, rules=rules if rules is not None else default_rules(), config=config,
                           on_alert=handler, spawn=pool.submit)
    scheduler = AlertScheduler(service, interval_s=config.evaluation_interval, redis_url=settings.redis_url)
    if checks is None:
        checks = default_checks(settings=settings, engine=engine, clock=clock, store=store,
                                remediator=remediator)
    for check in checks:
        scheduler.add_check(check)
    scheduler.start()
    log.info("alert loop started", extra={"interval_s": config.evaluation_interval})
    return AlertLoop(scheduler, service, pool)
