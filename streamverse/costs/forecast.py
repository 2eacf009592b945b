"""Month-end forecast (trend + weekly seasonality, with a range), budgets, and spend anomalies.

The findings are plain data; `as_alerts` turns them into alert-shaped dicts (labels,
annotations, severity) for the alerts area to route, so this module never notifies.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from streamverse.clock import utc_iso
from streamverse.costs.catalog import Budgets, PriceCatalog
from streamverse.costs.tiers import BYTES_PER_GB, price_of_byte
from streamverse.costs.usage import bucketed

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


@dataclass(frozen=True)
class Anomaly:
    """A run of buckets whose spend sits far above its baseline."""

    category: str
    scope: str
    start: str
    end: str
    peak_usd: float
    baseline_usd: float
    excess_usd: float
    score: float


def _bucket_spend(
    store: Any, catalog: PriceCatalog, *, start: float, end: float, bucket_s: float
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(category, scope) -> (bucket starts, USD per bucket) at the marginal prices of the period."""
    out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    eg = bucketed(store, "cdn_egress_bytes", start=start, end=end, bucket_s=bucket_s)
    reqs = bucketed(store, "edge_requests", start=start, end=end, bucket_s=bucket_s)
    if eg is not None:
        for region, f in eg.by("region").groupby("region"):
            tiers = catalog.cdn_egress.get(str(region))
            if tiers is None:
                continue
            price = float(price_of_byte(tiers, max(1, int(f["value"].sum()))) / BYTES_PER_GB)
            out[("cdn_egress", str(region))] = (f["start"].to_numpy(), f["value"].to_numpy() * price)
    fill = bucketed(store, "cache_fill_bytes", start=start, end=end, bucket_s=bucket_s)
    price_fill = float(catalog.transfer.cache_fill_usd_per_gb / BYTES_PER_GB)
    if fill is not None:
        f = fill.frame.groupby("start", as_index=False)["value"].sum()
        out[("cache_fill", "all")] = (f["start"].to_numpy(), f["value"].to_numpy() * price_fill)
    else:
        miss = bucketed(store, "edge_miss_requests", start=start, end=end, bucket_s=bucket_s)
        if miss is not None and eg is not None and reqs is not None and reqs.total() > 0:
            mean_bytes = eg.total() / reqs.total()  # estimate, as in the ledger
            f = miss.frame.groupby("start", as_index=False)["value"].sum()
            out[("cache_fill", "all")] = (
                f["start"].to_numpy(),
                f["value"].to_numpy() * mean_bytes * price_fill,
            )
    return out


def _baseline(t: np.ndarray, x: np.ndarray, bucket_s: float) -> np.ndarray:
    """Same hour-of-day median when there are 3+ days of hourly-or-finer buckets, else the overall median."""
    if bucket_s <= 3600 and (t.max() - t.min()) >= 3 * 86400:
        slot = ((t % 86400) // bucket_s).astype(int)
        med = {s: float(np.median(x[slot == s])) for s in np.unique(slot)}
        return np.array([med[s] for s in slot])
    return np.full(len(x), float(np.median(x)))


def detect_anomalies(
    store: Any,
    catalog: PriceCatalog,
    *,
    start: float,
    end: float,
    bucket_s: float | None = None,
    threshold: float = 4.5,
    min_rise: float = 0.25,
) -> list[Anomaly]:
    """Spend spikes: buckets whose robust z-score passes `threshold` and that rise >= min_rise."""
    if bucket_s is None:  # 12+ buckets whatever the data's span: 10 min up to 6 h, hourly beyond
        probe = bucketed(store, "cdn_egress_bytes", start=start, end=end, bucket_s=3600.0)
        if probe is None:
            return []
        first, last = float(probe.frame["start"].min()), float(probe.frame["end"].max())
        if last - first <= 6 * 3600:  # short run: buckets aligned on its first sample
            sel = probe.source.selector
            df = store.query_range(f"sum({sel})", first, min(end, first + 3600), 30.0)
            first = float(df["timestamp"].min()) if df is not None and len(df) else first
            start, end, bucket_s = max(start, first), min(end, last), 600.0
        else:
            bucket_s = 3600.0
    found: list[Anomaly] = []
    for (cat, scope), (t, x) in _bucket_spend(
        store, catalog, start=start, end=end, bucket_s=bucket_s
    ).items():
        if len(x) < 6:
            continue
        base = _baseline(t, x, bucket_s)
        resid = x - base
        mad = float(np.median(np.abs(resid - np.median(resid))))
        scale = max(1.4826 * mad, 0.01 * float(np.median(np.abs(base))), 1e-9)
        z = resid / scale
        flag = (z >= threshold) & (x >= base * (1 + min_rise))
        i = 0
        while i < len(x):
            if not flag[i]:
                i += 1
                continue
            j = i
            while j + 1 < len(x) and flag[j + 1]:
                j += 1
            seg = slice(i, j + 1)
            k = i + int(np.argmax(x[seg]))
            found.append(
                Anomaly(
                    cat,
                    scope,
                    utc_iso(float(t[i])),
                    utc_iso(float(t[j]) + bucket_s),
                    round(float(x[k]), 2),
                    round(float(base[k]), 2),
                    round(float((x[seg] - base[seg]).sum()), 2),
                    round(float(z[k]), 1),
                )
            )
            i = j + 1
    return sorted(found, key=lambda a: -a.score)


def as_alerts(*, anomalies: list[Anomaly], budgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings as alert-shaped dicts (labels, annotations, severity) for the alerts area to route."""
    alerts = []
    for a in anomalies:
        alerts.append(
            {
                "labels": {
                    "alertname": "CostSpendAnomaly",
                    "area": "costs",
                    "category": a.category,
                    "scope": a.scope,
                    "severity": "warning",
                },
                "annotations": {
                    "summary": f"{a.category} spend spike ({a.scope}) from {a.start}",
                    "description": f"peak ${a.peak_usd:,.2f} per bucket against a baseline of "
                    f"${a.baseline_usd:,.2f} (robust z {a.score}); ${a.excess_usd:,.2f} "
                    f"above baseline until {a.end}",
                },
                "severity": "warning",
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
                    "finding": b,
                }
            )
    return alerts


def to_float(x: Decimal | float | None) -> float | None:
    """Money for JSON."""
    return None if x is None else float(x)
