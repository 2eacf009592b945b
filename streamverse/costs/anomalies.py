"""Spend anomalies: buckets of spend far above the level they should have had.

Looked for per region, in cache fill, and per title: a viral video's egress is a small share
of a region's bill but an unmistakable jump in its own share of it. Baselines are the same
hour of other days when three days are known, else the trailing buckets' trend; only whole
buckets on the UTC grid count, so checks minutes apart agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamverse.clock import utc_iso
from streamverse.costs.catalog import PriceCatalog
from streamverse.costs.tiers import BYTES_PER_GB, price_of_byte
from streamverse.costs.usage import OTHER_VIDEOS, bucketed
from streamverse.metricstore import MetricStore

# A title's spike is a jump of this much in its share of the bucket's CDN egress spend: titles
# that drift in and out of the metered top N are noise, a viral one takes a visible slice of the bill.
VIDEO_MIN_SHARE = 0.05


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
    video_id: str | None = None  # set when the spike is one title's egress


def _bucket_spend(
    store: MetricStore, catalog: PriceCatalog, *, start: float, end: float, bucket_s: float
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
    _video_spend(store, out, eg, start=start, end=end, bucket_s=bucket_s)
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


def _video_spend(
    store: MetricStore,
    out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    eg: Any,
    *,
    start: float,
    end: float,
    bucket_s: float,
) -> None:
    """Per-title egress spend at the period's blended CDN price (regions' bytes at their marginal tiers).

    A title is metered only while it is in the top N, so its missing buckets are filled with
    zero (it was below the N-th title then): a title that jumps into the top shows as the rise it is.
    """
    vids = bucketed(store, "video_egress_bytes", start=start, end=end, bucket_s=bucket_s)
    if vids is None or eg is None:
        return
    priced = [(t, x) for (cat, _), (t, x) in out.items() if cat == "cdn_egress"]
    regions = {scope for cat, scope in out if cat == "cdn_egress"}
    nbytes = float(eg.frame[eg.frame["region"].astype(str).isin(regions)]["value"].sum())
    if not priced or nbytes <= 0:
        return
    per_byte = sum(float(x.sum()) for _, x in priced) / nbytes
    grid = np.sort(eg.frame["start"].unique())
    for vid, f in vids.by("video_id").groupby("video_id"):
        if str(vid) in ("", OTHER_VIDEOS):
            continue
        x = f.set_index("start")["value"].reindex(grid, fill_value=0.0).to_numpy()
        out[("cdn_egress", f"video:{vid}")] = (grid, x * per_byte)


def _egress_total(spend: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> dict[float, float]:
    """Bucket start -> the CDN egress spend of every region in it."""
    total: dict[float, float] = {}
    for (cat, scope), (t, x) in spend.items():
        if cat == "cdn_egress" and not scope.startswith("video:"):
            for ti, xi in zip(t.tolist(), x.tolist(), strict=True):
                total[ti] = total.get(ti, 0.0) + xi
    return total


def _baseline(t: np.ndarray, x: np.ndarray, bucket_s: float, trail: int = 6) -> np.ndarray:
    """Same hour-of-day median with 3+ days of hourly-or-finer buckets; else the trailing trend.

    Under three days the daily curve cannot be learnt, and an overall median reads a morning
    ramp as a spike: the last `trail` buckets' line carried one bucket on (never below their
    median, so a dip ending is no spike) is the level the bucket should have had. The first
    three buckets have no baseline (NaN) and are never flagged.
    """
    if bucket_s <= 3600 and (t.max() - t.min()) >= 3 * 86400:
        slot = ((t % 86400) // bucket_s).astype(int)
        med = {s: float(np.median(x[slot == s])) for s in np.unique(slot)}
        return np.array([med[s] for s in slot])
    out = _trailing_median(x, trail)
    for i in range(3, len(x)):
        lo = max(0, i - trail)
        slope, icpt = np.polyfit(np.arange(lo, i, dtype=float), x[lo:i], 1)
        out[i] = max(out[i], float(slope * i + icpt))
    return out


def _trailing_median(x: np.ndarray, trail: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for i in range(3, len(x)):
        out[i] = float(np.median(x[max(0, i - trail) : i]))
    return out


def detect_anomalies(
    store: MetricStore,
    catalog: PriceCatalog,
    *,
    start: float,
    end: float,
    bucket_s: float | None = None,
    threshold: float = 4.5,
    min_rise: float = 0.25,
    video_min_share: float = VIDEO_MIN_SHARE,
) -> list[Anomaly]:
    """Spend spikes: buckets whose robust z-score passes `threshold` and that rise >= min_rise.

    Titles are judged by their share of the bucket's CDN egress spend instead: a rise of
    `video_min_share` (5 points) over the trailing buckets (`_title_spikes`).
    """
    if bucket_s is None:  # 12+ buckets whatever the data's span: 10 min up to 6 h, hourly beyond
        probe = bucketed(store, "cdn_egress_bytes", start=start, end=end, bucket_s=3600.0)
        if probe is None:
            return []
        first, last = float(probe.frame["start"].min()), float(probe.frame["end"].max())
        df = store.query_range(f"sum({probe.source.selector})", first, min(end, first + 3600), 30.0)
        first = float(df["timestamp"].min()) if df is not None and len(df) else first
        bucket_s = 600.0 if last - first <= 6 * 3600 else 3600.0
        # Whole buckets on the UTC grid: checks minutes apart see the same buckets, and a bucket
        # the data covers in part (the first, the running one) is neither a dip nor, in a
        # same-hour median, a drag on the baseline.
        start = math.ceil(max(start, first) / bucket_s) * bucket_s
        end = math.floor(min(end, last) / bucket_s) * bucket_s
        if end <= start:
            return []
    found: list[Anomaly] = []
    spend = _bucket_spend(store, catalog, start=start, end=end, bucket_s=bucket_s)
    egress_total = _egress_total(spend)
    for (cat, scope), (t, x) in spend.items():
        if len(x) < 6:
            continue
        if scope.startswith("video:"):
            total = np.array([egress_total.get(ti, 0.0) for ti in t.tolist()])
            base, z, flag = _title_spikes(x, total, min_share=video_min_share, min_rise=min_rise)
        else:
            base = _baseline(t, x, bucket_s)
            known = ~np.isnan(base)
            resid = np.where(known, x - base, 0.0)
            mad = float(np.median(np.abs(resid[known] - np.median(resid[known]))))
            scale = max(1.4826 * mad, 0.01 * float(np.median(np.abs(base[known]))), 1e-9)
            z = resid / scale
            flag = known & (z >= threshold) & (x >= np.nan_to_num(base) * (1 + min_rise))
            base = np.nan_to_num(base)
        found.extend(_runs(cat, scope, t, x, base, z, flag, bucket_s))
    return sorted(found, key=lambda a: -a.score)


def _title_spikes(
    x: np.ndarray, total: np.ndarray, *, min_share: float, min_rise: float, trail: int = 6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A title's spike as a jump in its share of the CDN egress spend, against the trailing buckets.

    Shares do not follow the daily load curve, and a trailing median (the last `trail` buckets,
    3 at least) is the level before the jump even when the spike fills half of a short run.
    Returns the baseline in USD, a score (share points risen over the trailing spread) and flags.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, x / total, 0.0)
    base_share = _trailing_median(share, trail)
    spread = np.full(len(x), np.nan)
    for i in range(3, len(x)):
        prev = share[max(0, i - trail) : i]
        spread[i] = 1.4826 * float(np.median(np.abs(prev - base_share[i])))
    rise = share - base_share
    with np.errstate(invalid="ignore"):
        flag = (rise >= min_share) & (share >= base_share * (1 + min_rise))
    z = np.nan_to_num(rise / np.maximum(np.nan_to_num(spread), min_share / 10))
    return np.nan_to_num(base_share) * total, z, flag


def _runs(
    cat: str,
    scope: str,
    t: np.ndarray,
    x: np.ndarray,
    base: np.ndarray,
    z: np.ndarray,
    flag: np.ndarray,
    bucket_s: float,
) -> list[Anomaly]:
    """One anomaly per run of consecutive flagged buckets."""
    video = scope.removeprefix("video:") if scope.startswith("video:") else None
    out = []
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
        out.append(
            Anomaly(
                cat,
                scope,
                utc_iso(float(t[i])),
                utc_iso(float(t[j]) + bucket_s),
                round(float(x[k]), 2),
                round(float(base[k]), 2),
                round(float((x[seg] - base[seg]).sum()), 2),
                round(float(min(z[k], 1e6)), 1),
                video,
            )
        )
        i = j + 1
    return out
