"""Metered usage times the price catalog: daily cost per region, PoP, service and category.

Money is exact: tiered egress is priced per region across the month in Decimal, every
daily amount is rounded to the cent once, and shared costs (API compute, transcoding,
storage, fixed) are split across PoPs by that day's egress bytes with the largest
remainder, so every breakdown sums to the total to the cent. Ledger rows carry integer
cents. A category whose usage has no series is "no data" (None), never $0.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from streamverse.clock import month_bounds
from streamverse.costs.catalog import CATEGORIES, PriceCatalog
from streamverse.costs.tiers import BYTES_PER_GB, CENT, allocate, daily_costs, to_cents
from streamverse.costs.usage import DAY_S, OTHER_VIDEOS, Usage, bucketed
from streamverse.errors import UsageError
from streamverse.metricstore import MetricStore

SERVICE_OF = {
    "cdn_egress": "cdn",
    "requests": "cdn",
    "cache_fill": "origin",
    "compute": "api",
    "transcode": "transcode",
    "storage": "storage",
    "fixed": "platform",
}
SHARED = ("compute", "transcode", "storage", "fixed")
UNALLOCATED = ("unallocated", "unallocated")


@dataclass
class MonthCosts:
    """A month's ledger (one row per day, region, PoP, category, in cents) and what fed it."""

    month: str
    start: float
    end: float  # end of the period priced (now, for the running month)
    month_end: float
    ledger: pd.DataFrame  # day, region, pop, category, service, cents
    sources: dict[str, dict[str, Any] | None]
    notes: list[str] = field(default_factory=list)
    units: dict[str, float | None] = field(default_factory=dict)
    videos: pd.DataFrame | None = None
    hit_ratio: float | None = None
    egress_bytes_by_region: dict[str, float] = field(default_factory=dict)
    # storage class -> mean stored bytes over the days with data, and USD before the daily cent rounding
    storage_by_class: dict[str, dict[str, float]] = field(default_factory=dict)

    def total(self, category: str | None = None) -> Decimal | None:
        """USD in the period (one category, or all); None when that category has no data."""
        if category is not None and self.sources.get(category) is None:
            return None
        df = self.ledger if category is None else self.ledger[self.ledger["category"] == category]
        return Decimal(int(df["cents"].sum())) * CENT

    def by(self, *keys: str) -> dict[Any, Decimal]:
        """USD summed by ledger columns (day, region, pop, category, service)."""
        if not len(self.ledger):
            return {}
        g = self.ledger.groupby(list(keys))["cents"].sum()
        return {k: Decimal(int(v)) * CENT for k, v in g.items()}

    def daily_totals(self, category: str | None = None) -> list[tuple[str, Decimal]]:
        """(day, USD) for every day that has data, oldest first."""
        df = self.ledger if category is None else self.ledger[self.ledger["category"] == category]
        g = df.groupby("day")["cents"].sum().sort_index()
        return [(str(d), Decimal(int(v)) * CENT) for d, v in g.items()]


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


class _Ledger:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, int]] = []

    def add(self, day: str, region: str, pop: str, category: str, amount: Decimal) -> None:
        self.rows.append((day, region, pop, category, int(amount / CENT)))

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=["day", "region", "pop", "category", "cents"])
        df["service"] = df["category"].map(SERVICE_OF)
        return df


def _pop_weights(egress: Usage | None, day_start: float) -> dict[tuple[str, str], float]:
    if egress is None:
        return {}
    f = egress.frame[egress.frame["start"] == day_start]
    g = f.groupby(["region", "pop"])["value"].sum()
    return {k: float(v) for k, v in g.items() if v > 0}


def _spread(
    ledger: _Ledger, day: str, category: str, amount: Decimal, weights: dict[tuple[str, str], float]
) -> None:
    """Book a shared amount across PoPs by egress bytes (unallocated when nothing was served)."""
    if not weights:
        ledger.add(day, *UNALLOCATED, category, to_cents(amount))
        return
    keyed = {f"{r}\x00{p}": w for (r, p), w in weights.items()}
    for k, cents in allocate(amount, keyed).items():
        r, p = k.split("\x00")
        ledger.add(day, r, p, category, cents)


def compute_month(*, store: MetricStore, catalog: PriceCatalog, month: str, now: float) -> MonthCosts:
    """Price one calendar month (up to `now` when it is the running month) from the store's usage."""
    start, month_end = month_bounds(month)
    if start >= now:
        raise UsageError(f"{month} has not started yet (now is {_day(now)})")
    end = min(month_end, now)
    q = {
        name: bucketed(store, name, start=start, end=end, bucket_s=DAY_S)
        for name in (
            "cdn_egress_bytes",
            "edge_requests",
            "edge_miss_requests",
            "edge_hit_requests",
            "cache_fill_bytes",
            "origin_egress_bytes",
            "api_requests",
            "transcode_cpu_seconds",
            "transcode_jobs",
            "stored_bytes",
            "playback_seconds",
            "sessions",
            "video_egress_bytes",
        )
    }
    ledger = _Ledger()
    by_class: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # bytes x days, days, USD
    sources: dict[str, dict[str, Any] | None] = {c: None for c in CATEGORIES}
    notes: list[str] = []
    days = sorted({float(s) for u in q.values() if u is not None for s in u.frame["start"].unique()})
    egress = q["cdn_egress_bytes"]
    month_s = month_end - start

    # CDN egress: tiers per region across the month; each day's regional bill split over its PoPs.
    if egress is not None:
        sources["cdn_egress"] = {
            "quantity": "cdn_egress_bytes",
            "selector": egress.source.selector,
            "note": egress.source.note,
        }
        per_region = egress.by("region")
        for region, rows in per_region.groupby("region"):
            tiers = catalog.cdn_egress.get(str(region))
            if tiers is None:
                notes.append(f"egress in region {region!r} has no price in {catalog.source}; left out")
                continue
            series = rows.set_index("start")["value"].reindex(days, fill_value=0.0)
            for d, cost in zip(days, daily_costs(tiers, [int(round(v)) for v in series]), strict=True):
                w = {k: v for k, v in _pop_weights(egress, d).items() if k[0] == region}
                _spread(ledger, _day(d), "cdn_egress", cost, w)

    reqs = q["edge_requests"]
    if reqs is not None:
        sources["requests"] = {
            "quantity": "edge_requests",
            "selector": reqs.source.selector,
            "note": reqs.source.note,
        }
        for (d, region, pop), v in (
            reqs.by("region", "pop").set_index(["start", "region", "pop"])["value"].items()
        ):
            price = catalog.requests.get(str(region))
            if price is not None:
                ledger.add(
                    _day(d),
                    str(region),
                    str(pop),
                    "requests",
                    to_cents(Decimal(round(v)) * price / Decimal(10_000)),
                )

    _cache_fill(q, catalog, ledger, sources, notes)

    for d in days:
        day, w = _day(d), _pop_weights(egress, d)
        span = Decimal(str(min(d + DAY_S, end) - d))
        api = _at(q["api_requests"], d)
        if api is not None:
            vcpu_h = Decimal(str(api)) * catalog.compute.api_vcpu_seconds_per_request / 3600
            _spread(ledger, day, "compute", vcpu_h * catalog.compute.vcpu_hour_usd, w)
        cpu = _at(q["transcode_cpu_seconds"], d)
        jobs = _at(q["transcode_jobs"], d)
        if cpu is not None:
            _spread(ledger, day, "transcode", Decimal(str(cpu)) / 3600 * catalog.compute.vcpu_hour_usd, w)
        elif jobs is not None:
            gpu_h = Decimal(str(jobs)) * catalog.compute.transcode_gpu_seconds_per_job / 3600
            _spread(ledger, day, "transcode", gpu_h * catalog.transcode_gpu_hour_usd(), w)
        stored = q["stored_bytes"]
        if stored is not None:
            f = stored.frame[stored.frame["start"] == d].groupby("storage_class")["value"].sum()
            amount = Decimal(0)
            for cls, b in f.items():
                price = catalog.storage.get(str(cls))
                if price is None:
                    notes.append(f"stored bytes in class {cls!r} have no price; left out")
                    continue
                part = Decimal(str(b)) / BYTES_PER_GB * price * span / Decimal(str(month_s))
                amount += part
                acc = by_class[str(cls)]
                acc[0] += float(b) * float(span) / DAY_S
                acc[1] += float(span) / DAY_S
                acc[2] += float(part)
            _spread(ledger, day, "storage", amount, w)
        if egress is not None and catalog.fixed_monthly and w:
            fixed = sum(catalog.fixed_monthly.values(), Decimal(0)) * span / Decimal(str(month_s))
            _spread(ledger, day, "fixed", fixed, w)
    _shared_sources(q, catalog, sources)
    out = MonthCosts(
        month=month,
        start=start,
        end=end,
        month_end=month_end,
        ledger=ledger.frame(),
        sources=sources,
        notes=sorted(set(notes)),
        storage_by_class={
            c: {"mean_stored_gb": a[0] / a[1] / float(BYTES_PER_GB), "usd": round(a[2], 2)}
            for c, a in sorted(by_class.items())
            if a[1] > 0
        },
    )
    _units(out, q)
    return out


def _at(u: Usage | None, d: float) -> float | None:
    if u is None:
        return None
    f = u.frame[u.frame["start"] == d]
    return float(f["value"].sum()) if len(f) else None


def _cache_fill(
    q: dict[str, Usage | None],
    catalog: PriceCatalog,
    ledger: _Ledger,
    sources: dict[str, dict[str, Any] | None],
    notes: list[str],
) -> None:
    """Fill traffic: metered shield egress when present, else misses x mean bytes per request at the PoP."""
    price = catalog.transfer.cache_fill_usd_per_gb
    fill = q["cache_fill_bytes"]
    if fill is not None:
        sources["cache_fill"] = {
            "quantity": "cache_fill_bytes",
            "selector": fill.source.selector,
            "note": fill.source.note,
        }
        for (d, region), v in fill.by("region").set_index(["start", "region"])["value"].items():
            ledger.add(
                _day(d), str(region), "shield", "cache_fill", to_cents(Decimal(str(v)) / BYTES_PER_GB * price)
            )
    else:
        miss, egress, reqs = q["edge_miss_requests"], q["cdn_egress_bytes"], q["edge_requests"]
        if miss is None or egress is None or reqs is None:
            return
        sources["cache_fill"] = {
            "quantity": "edge_miss_requests",
            "selector": miss.source.selector,
            "note": "estimated: miss requests x the PoP's mean bytes per request",
        }
        notes.append("cache fill estimated from edge misses (no shield byte series)")
        e = egress.by("region", "pop").set_index(["start", "region", "pop"])["value"]
        r = reqs.by("region", "pop").set_index(["start", "region", "pop"])["value"]
        for key, v in miss.by("region", "pop").set_index(["start", "region", "pop"])["value"].items():
            n = r.get(key, 0.0)
            if n > 0:
                fill_bytes = Decimal(str(v)) * Decimal(str(e.get(key, 0.0))) / Decimal(str(n))
                ledger.add(
                    _day(key[0]),
                    str(key[1]),
                    str(key[2]),
                    "cache_fill",
                    to_cents(fill_bytes / BYTES_PER_GB * price),
                )
    origin = q["origin_egress_bytes"]
    op = catalog.transfer.origin_egress_usd_per_gb
    if origin is not None and op > 0:
        for (d, name), v in origin.by("origin").set_index(["start", "origin"])["value"].items():
            ledger.add(
                _day(d), "origin", str(name), "cache_fill", to_cents(Decimal(str(v)) / BYTES_PER_GB * op)
            )


def _shared_sources(
    q: dict[str, Usage | None], catalog: PriceCatalog, sources: dict[str, dict[str, Any] | None]
) -> None:
    def src(name: str, note: str = "") -> dict[str, Any] | None:
        u = q[name]
        return (
            None
            if u is None
            else {"quantity": name, "selector": u.source.selector, "note": note or u.source.note}
        )

    sources["compute"] = src(
        "api_requests", f"API requests x {catalog.compute.api_vcpu_seconds_per_request} vCPU-s each"
    )
    sources["transcode"] = src("transcode_cpu_seconds") or src(
        "transcode_jobs", f"estimated: jobs x {catalog.compute.transcode_gpu_seconds_per_job} GPU-s each"
    )
    sources["storage"] = src("stored_bytes")
    if q["cdn_egress_bytes"] is not None and catalog.fixed_monthly:
        sources["fixed"] = {
            "quantity": "fixed_monthly",
            "selector": None,
            "note": "catalog fixed_monthly, pro rata over days with traffic",
        }


def _units(out: MonthCosts, q: dict[str, Usage | None]) -> None:
    """Unit costs, hit ratio and the most expensive titles (None where the data is missing)."""
    total = out.total()
    play, sess = q["playback_seconds"], q["sessions"]
    hours = play.total() / 3600 if play is not None else None
    views = sess.total() if sess is not None else None
    out.units = {
        "streamed_hours": hours,
        "views": views,
        "usd_per_streamed_hour": float(total) / hours if total is not None and hours else None,
        "usd_per_1000_views": float(total) / views * 1000 if total is not None and views else None,
    }
    hit, miss = q["edge_hit_requests"], q["edge_miss_requests"]
    if hit is not None and miss is not None and hit.total() + miss.total() > 0:
        out.hit_ratio = hit.total() / (hit.total() + miss.total())
    eg = q["cdn_egress_bytes"]
    if eg is not None:
        out.egress_bytes_by_region = {
            str(k): float(v) for k, v in eg.frame.groupby("region")["value"].sum().items()
        }
    vids = q["video_egress_bytes"]
    cdn = out.total("cdn_egress")
    if vids is not None and eg is not None and cdn is not None and eg.total() > 0:
        per_byte = float(cdn) / eg.total()  # the month's blended egress price, tiers included
        by_video = vids.frame.groupby("video_id")["value"].sum()
        titled = by_video[~by_video.index.astype(str).isin(["", OTHER_VIDEOS])]
        v = titled.sort_values(ascending=False).head(10)
        out.videos = pd.DataFrame(
            {"video_id": v.index.astype(str), "egress_bytes": v.values, "usd": (v.values * per_byte).round(2)}
        )


def summarize(costs: MonthCosts) -> dict[str, Any]:
    """The month as JSON-ready data: totals, breakdowns, daily series, unit costs, sources."""

    def usd(x: Decimal | None) -> float | None:
        return None if x is None else float(x)

    cats = {c: usd(costs.total(c)) for c in CATEGORIES}
    daily: dict[str, dict[str, float]] = defaultdict(dict)
    for (d, c), v in costs.by("day", "category").items():
        daily[str(d)][str(c)] = float(v)
    return {
        "month": costs.month,
        "period": {"start": _iso(costs.start), "end": _iso(costs.end), "month_end": _iso(costs.month_end)},
        "currency": "USD",
        "total_usd": usd(costs.total()) if len(costs.ledger) else None,
        "by_category": {c: (v if v is not None else "no data") for c, v in cats.items()},
        "by_service": {str(k): float(v) for k, v in costs.by("service").items()},
        "by_region": {str(k): float(v) for k, v in costs.by("region").items()},
        "by_pop": {f"{r}/{p}": float(v) for (r, p), v in costs.by("region", "pop").items()},
        "daily": [
            {"day": d, "total_usd": round(sum(v.values()), 2), "by_category": v}
            for d, v in sorted(daily.items())
        ],
        "daily_by_region": [
            {"day": str(d), "region": str(r), "usd": float(v)}
            for (d, r), v in costs.by("day", "region").items()
        ],
        "unit_costs": costs.units,
        "cache_hit_ratio": costs.hit_ratio,
        "top_videos": (
            costs.videos.to_dict("records")
            if costs.videos is not None
            else "no data: no per-title usage series (streamverse_usage_video_egress_bytes_total)"
        ),
        "storage_by_class": costs.storage_by_class
        or "no data: no stored-bytes series (streamverse_usage_stored_bytes, streamverse_object_store_bytes)",
        "sources": {c: (s if s is not None else "no data") for c, s in costs.sources.items()},
        "notes": costs.notes,
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def days_in_month(month: str) -> int:
    """Calendar days of YYYY-MM."""
    y, m = (int(x) for x in month.split("-"))
    return calendar.monthrange(y, m)[1]
