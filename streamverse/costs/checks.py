"""The cost check: budgets against the month-end forecast, and recent spend spikes, as alert findings.

`streamverse cost report` / `cost check`, `POST /api/v1/costs/check` and the live alert loop
(every few minutes) all run this one function, so they agree on which cost alerts hold now.
It reads the store and prices; handing the findings to the alerts area is `flows.py`'s job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from streamverse.clock import month_bounds, utc_iso
from streamverse.costs.anomalies import Anomaly, detect_anomalies
from streamverse.costs.catalog import Budgets, PriceCatalog
from streamverse.costs.forecast import as_alerts, category_forecasts, check_budgets
from streamverse.costs.service import MonthCosts, compute_month
from streamverse.costs.usage import DAY_S
from streamverse.metricstore import MetricStore

ANOMALY_LOOKBACK_S = 7 * DAY_S  # the history a spike is measured against
ANOMALY_HOLD_S = DAY_S  # a spike's alert holds until the spike is a day old, then resolves


@dataclass
class CostCheck:
    """What one check found: budget rows, the spikes still held, and their alert findings."""

    at: float
    month: str
    budgets: list[dict[str, Any]]
    anomalies: list[Anomaly]
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def findings(self) -> list[dict[str, Any]]:
        """The alerts as findings for `alerts.service.report_findings` (notify-only: no incidents)."""
        keep = ("labels", "annotations", "value")
        return [{**{k: a.get(k) for k in keep}, "incident": False} for a in self.alerts]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "checked_at": utc_iso(self.at),
            "month": self.month,
            "budgets": self.budgets,
            "anomalies": [asdict(a) for a in self.anomalies],
            "alerts": [{"labels": a["labels"], "annotations": a["annotations"]} for a in self.alerts],
        }


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def check_costs(
    *,
    store: MetricStore,
    catalog: PriceCatalog,
    budgets: Budgets,
    now: float,
    costs: MonthCosts | None = None,
) -> CostCheck:
    """Budgets of the running month and the spikes of the last week that ended within a day.

    `costs`: the running month already priced (the report passes its own to save the work).
    """
    month = utc_iso(now)[:7]
    rows: list[dict[str, Any]] = []
    if now > month_bounds(month)[0]:
        if costs is None or costs.month != month:
            costs = compute_month(store=store, catalog=catalog, month=month, now=now)
        _, per_cat = category_forecasts(costs, now=now)
        rows = check_budgets(per_cat, budgets)
    found = detect_anomalies(store, catalog, start=now - ANOMALY_LOOKBACK_S, end=now)
    held = [a for a in found if _ts(a.end) >= now - ANOMALY_HOLD_S]
    return CostCheck(
        at=now, month=month, budgets=rows, anomalies=held, alerts=as_alerts(anomalies=held, budgets=rows)
    )
