"""Month-end forecast (trend + weekly seasonality, with a range), budgets, and findings as alerts.

The findings are plain data; `as_alerts` turns budget crossings and spend anomalies
(`anomalies.py`) into alert-shaped dicts (labels, annotations, severity) that
`costs/flows.py` reports to the alerts area, so this module never notifies.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from streamverse.clock import utc_iso
from streamverse.costs.anomalies import Anomaly
from streamverse.costs.catalog import CATEGORIES, Budgets

Z90 = 1.645  # the range is a 90 % band


def _dow(day: str) -> int:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).weekday()


def forecast_month(daily: list[tuple[str, float]], *, month_days: list[str]) -> dict[str, Any] | None:
    """Month-end spend from the complete days so far: point, low, high and the model used.

    14+ days: linear trend plus day-of-week effects; 3+: trend; fewer: the daily mean. The
    range widens with the residual spread and the number of days still to come.
    """
    known = {d: float(v) for d, v in daily}
    have = [d for d in month_days if d in known]
    if not have:
        return None
    rest = [d for d in month_days if d not in known and d > have[-1]]
    y = np.array([known[d] for d in have])
    idx = {d: i for i, d in enumerate(month_days)}

    def design(days: list[str], seasonal: bool) -> np.ndarray:
        cols = [np.ones(len(days)), np.array([idx[d] for d in days], dtype=float)]
        if seasonal:
            cols += [np.array([1.0 if _dow(d) == k else 0.0 for d in days]) for k in range(6)]
        return np.column_stack(cols)

    if len(have) >= 14:
        method, X = "trend + weekly seasonality", design(have, True)
    elif len(have) >= 3:
        method, X = "linear trend", design(have, False)
    else:
        method, X = "daily mean", np.ones((len(have), 1))
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = max(1, len(y) - X.shape[1])
    sigma = float(math.sqrt((resid**2).sum() / dof)) if len(y) > X.shape[1] else float(np.std(y) or 0.0)
    if rest:
        Xr = design(rest, X.shape[1] > 2) if X.shape[1] > 1 else np.ones((len(rest), 1))
        pred = np.clip(Xr @ beta, 0, None)
    else:
        pred = np.array([])
    to_date = float(y.sum())
    point = to_date + float(pred.sum())
    half = Z90 * sigma * math.sqrt(len(rest)) if rest else 0.0
    return {
        "method": method,
        "days_with_data": len(have),
        "days_forecast": len(rest),
        "to_date_usd": round(to_date, 2),
        "point_usd": round(point, 2),
        "low_usd": round(max(to_date, point - half), 2),
        "high_usd": round(point + half, 2),
        "daily_forecast": [{"day": d, "usd": round(float(v), 2)} for d, v in zip(rest, pred, strict=True)],
    }


def category_forecasts(
    costs: Any, *, now: float
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any] | None]]:
    """Month-end forecasts of the total and of each category (None: that category has no data).

    Today is partial, so the fit uses whole days when there are any.
    """
    y, m = costs.month.split("-")
    n_days = calendar.monthrange(int(y), int(m))[1]
    month_days = [f"{y}-{m}-{d:02d}" for d in range(1, n_days + 1)]
    today = utc_iso(now)[:10]

    def days_for(cat: str | None) -> list[tuple[str, float]]:
        rows = [(d, float(v)) for d, v in costs.daily_totals(cat)]
        whole = [r for r in rows if r[0] != today]
        return whole or rows

    total = forecast_month(days_for(None), month_days=month_days)
    per_cat = {
        cat: None if costs.sources.get(cat) is None else forecast_month(days_for(cat), month_days=month_days)
        for cat in CATEGORIES
    }
    return total, per_cat


def check_budgets(forecasts: dict[str, dict[str, Any] | None], budgets: Budgets) -> list[dict[str, Any]]:
    """Each budgeted category: spend to date and forecast against its budget, and whether it is crossed."""
    rows = []
    for cat, budget in budgets.budgets.items():
        f = forecasts.get(cat)
        if f is None:
            rows.append({"category": cat, "budget_usd": float(budget), "status": "no data"})
            continue
        b = float(budget)
        status = (
            "over"
            if f["to_date_usd"] > b
            else "forecast over"
            if f["point_usd"] > b
            else "at risk"
            if f["high_usd"] > b
            else "ok"
        )
        rows.append(
            {
                "category": cat,
                "budget_usd": b,
                "to_date_usd": f["to_date_usd"],
                "forecast_usd": f["point_usd"],
                "forecast_high_usd": f["high_usd"],
                "status": status,
            }
        )
    return rows


def as_alerts(*, anomalies: list[Anomaly], budgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings as alert-shaped dicts (labels, annotations, severity, value) for the alerts area to route.

    Labels identify the alert series (category, scope, the title for a per-video spike), so a
    spike seen again by the next check is the same alert; times and dollars go in annotations.
    """
    alerts = []
    for a in anomalies:
        labels = {
            "alertname": "CostSpendAnomaly",
            "area": "costs",
            "category": a.category,
            "scope": a.scope,
            "severity": "warning",
        }
        where = f"({a.scope})"
        if a.video_id is not None:
            labels["video_id"] = a.video_id
            where = f"on video {a.video_id}"
        alerts.append(
            {
                "labels": labels,
                "annotations": {
                    "summary": f"{a.category} spend spike {where} from {a.start}",
                    "description": f"peak ${a.peak_usd:,.2f} per bucket against a baseline of "
                    f"${a.baseline_usd:,.2f} (robust z {a.score}); ${a.excess_usd:,.2f} "
                    f"above baseline until {a.end}",
                    "starts_at": a.start,
                    "ends_at": a.end,
                },
                "severity": "warning",
                "value": a.excess_usd,
                "starts_at": a.start,
                "ends_at": a.end,
                "finding": asdict(a),
            }
        )
    for b in budgets:
        if b.get("status") in ("over", "forecast over"):
            sev = "critical" if b["status"] == "over" else "warning"
            alerts.append(
                {
                    "labels": {
                        "alertname": "CostBudgetExceeded"
                        if sev == "critical"
                        else "CostBudgetForecastExceeded",
                        "area": "costs",
                        "category": b["category"],
                        "severity": sev,
                    },
                    "annotations": {
                        "summary": f"{b['category']} {b['status']} budget ${b['budget_usd']:,.2f}",
                        "description": f"to date ${b['to_date_usd']:,.2f}, month-end forecast "
                        f"${b['forecast_usd']:,.2f}",
                    },
                    "severity": sev,
                    "value": b["forecast_usd"],
                    "finding": b,
                }
            )
    return alerts


def to_float(x: Decimal | float | None) -> float | None:
    """Money for JSON."""
    return None if x is None else float(x)
