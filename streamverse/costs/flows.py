"""Costs meeting alerts: the cost check's findings reported to the alerts area.

The report is stored (alerts' `ExternalReport`), so whichever process runs the check (the
CLI, the API, the live loop's periodic job), the live alert loop's next cycle turns the
findings into alerts with fingerprints, grouping, notifications and history, and resolves
them when a later check leaves them out or the report expires.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from streamverse.clock import Clock, utc_iso
from streamverse.costs.catalog import Budgets, PriceCatalog
from streamverse.costs.checks import CostCheck, check_costs
from streamverse.costs.service import MonthCosts
from streamverse.db import session_scope
from streamverse.metricstore import MetricStore

SOURCE = "costs"
MANUAL_TTL_S = 3600.0  # a check run by hand holds its alerts an hour unless checked again
PERIODIC_TTL_FACTOR = 3.0  # the live job's report outlives two missed runs, not more


def report_check(*, session: Session, check: CostCheck, ttl_s: float) -> dict[str, Any]:
    """Hand a check's findings to the alerts area; returns what was reported, for people and scripts."""
    from streamverse.alerts.service import report_findings

    report_findings(session=session, source=SOURCE, findings=check.findings(), at=check.at, ttl_s=ttl_s)
    return {
        **check.as_dict(),
        "reported": len(check.alerts),
        "source": SOURCE,
        "held_until": utc_iso(check.at + ttl_s),
    }


def run_cost_check(
    *,
    session: Session,
    store: MetricStore,
    catalog: PriceCatalog,
    budgets: Budgets,
    now: float,
    ttl_s: float = MANUAL_TTL_S,
    costs: MonthCosts | None = None,
) -> dict[str, Any]:
    """Check budgets and spend spikes now and report them as alerts (the session writes only at the end)."""
    check = check_costs(store=store, catalog=catalog, budgets=budgets, now=now, costs=costs)
    return report_check(session=session, check=check, ttl_s=ttl_s)


def load_cost_config(settings: Any) -> tuple[Any, PriceCatalog, Budgets]:
    """Topology, price catalog and budgets named by the settings (shipped defaults when unset)."""
    from streamverse.costs.catalog import load_budgets, load_prices
    from streamverse.platform.topology import load_topology

    topology = load_topology(settings.topology_file)
    catalog = load_prices(settings.prices_file, regions=[r.name for r in topology.regions])
    return topology, catalog, load_budgets(settings.budgets_file)


def periodic_cost_check(*, settings: Any, engine: Engine, clock: Clock, store: MetricStore) -> Any:
    """The live loop's job: the cost check every `cost_check_interval_s` (files read once, at start)."""
    from streamverse.alerts.scheduler import PeriodicCheck

    interval = float(settings.cost_check_interval_s)
    _, catalog, budgets = load_cost_config(settings)

    def run() -> dict[str, Any]:
        with session_scope(engine) as s:
            return run_cost_check(
                session=s,
                store=store,
                catalog=catalog,
                budgets=budgets,
                now=clock.now(),
                ttl_s=PERIODIC_TTL_FACTOR * interval,
            )

    return PeriodicCheck(name="costs", interval_s=interval, run=run)
