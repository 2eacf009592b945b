"""Savings found in the month's data, each with a dollar estimate and the assumptions behind it.

Every estimate is per month: the observed spend of the category, scaled from the days
with data to the whole month, times the effect of the change. When the category the
estimate rests on has no data, the saving says so instead of guessing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from streamverse.costs.catalog import PriceCatalog
from streamverse.costs.service import MonthCosts, days_in_month
from streamverse.costs.tiers import BYTES_PER_GB, price_of_byte

ASSUMPTIONS: dict[str, float] = {
    "target_cache_hit_ratio": 0.98,
    "share_hot_bytes_unwatched_90d": 0.6,  # the long tail of a UGC catalogue
    "top_titles_share_of_egress": 0.6,  # the popular tenth of titles carries ~60 % of demand (platform model)
    "efficient_codec_bitrate_saving": 0.35,  # H.265 / AV1 against H.264 at equal quality
    "devices_decoding_efficient_codec": 0.7,
    "spot_interruption_overhead": 0.1,  # reruns after preemption
    "routing_max_added_rtt_ms": 70.0,
    "routing_movable_share": 0.2,  # of a region's egress that may go elsewhere within the latency budget
}


def _monthly(costs: MonthCosts, category: str) -> float | None:
    v = costs.total(category)
    if v is None:
        return None
    days = costs.ledger[costs.ledger["category"] == category]["day"].nunique()
    return float(v) * days_in_month(costs.month) / days if days else None


def _row(name: str, usd: float | None, assumptions: dict[str, Any], how: str) -> dict[str, Any]:
    return {
        "name": name,
        "monthly_usd": None if usd is None else round(max(0.0, usd), 2),
        "status": "no data" if usd is None else "estimated",
        "how": how,
        "assumptions": assumptions,
    }


def find_savings(
    costs: MonthCosts, *, catalog: PriceCatalog, topology: Any, assumptions: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """The five levers, largest first."""
    a = {**ASSUMPTIONS, **(assumptions or {})}
    rows = [
        _cache(costs, a),
        _lifecycle(costs, catalog, a),
        _codec(costs, a),
        _spot(costs, catalog, a),
        _routing(costs, catalog, topology, a),
    ]
    return sorted(rows, key=lambda r: -(r["monthly_usd"] or -1))


def _cache(costs: MonthCosts, a: dict[str, float]) -> dict[str, Any]:
    fill, h = _monthly(costs, "cache_fill"), costs.hit_ratio
    target = a["target_cache_hit_ratio"]
    if h is not None and h >= target:
        target = 1 - (1 - h) / 2  # already past the goal: halve the misses
    usd = None if fill is None or h is None or h >= 1 else fill * (1 - (1 - target) / (1 - h))
    return _row(
        "raise the cache hit ratio",
        usd,
        {"current_hit_ratio": h, "target_hit_ratio": target, "cache_fill_usd_per_month": fill},
        "cache fill scales with misses: fill x (1 - (1 - target) / (1 - current))",
    )


def _lifecycle(costs: MonthCosts, catalog: PriceCatalog, a: dict[str, float]) -> dict[str, Any]:
    storage = _monthly(costs, "storage")
    if storage is None:
        return _row(
            "lifecycle moves for videos not watched in 90 days",
            None,
            {"share_hot_bytes_unwatched_90d": a["share_hot_bytes_unwatched_90d"]},
            "needs stored bytes per class (streamverse_usage_stored_bytes)",
        )
    hot, cold = float(catalog.storage["hot"]), float(catalog.storage["cold"])
    usd = storage * a["share_hot_bytes_unwatched_90d"] * (1 - cold / hot)
    return _row(
        "lifecycle moves for videos not watched in 90 days",
        usd,
        {
            "storage_usd_per_month": storage,
            "share_hot_bytes_unwatched_90d": a["share_hot_bytes_unwatched_90d"],
            "hot_usd_per_gb_month": hot,
            "cold_usd_per_gb_month": cold,
        },
        "storage x unwatched share x (1 - cold price / hot price); assumes spend is mostly hot",
    )


def _codec(costs: MonthCosts, a: dict[str, float]) -> dict[str, Any]:
    egress = _monthly(costs, "cdn_egress")
    usd = (
        None
        if egress is None
        else (
            egress
            * a["top_titles_share_of_egress"]
            * a["efficient_codec_bitrate_saving"]
            * a["devices_decoding_efficient_codec"]
        )
    )
    return _row(
        "H.265/AV1 for the most-watched titles",
        usd,
        {
            "cdn_egress_usd_per_month": egress,
            **{
                k: a[k]
                for k in (
                    "top_titles_share_of_egress",
                    "efficient_codec_bitrate_saving",
                    "devices_decoding_efficient_codec",
                )
            },
        },
        "egress x top titles' share x bitrate saving x devices that decode it (extra encodes are small)",
    )


def _spot(costs: MonthCosts, catalog: PriceCatalog, a: dict[str, float]) -> dict[str, Any]:
    tc = _monthly(costs, "transcode")
    c = catalog.compute
    od, spot, share = (
        float(c.gpu_hour_on_demand_usd),
        float(c.gpu_hour_spot_usd),
        float(c.transcode_spot_share),
    )
    blended = od * (1 - share) + spot * share
    usd = (
        None
        if tc is None or not blended
        else tc * (1 - share) * (od - spot * (1 + a["spot_interruption_overhead"])) / blended
    )
    return _row(
        "spot GPUs for transcoding",
        usd,
        {
            "transcode_usd_per_month": tc,
            "gpu_hour_on_demand_usd": od,
            "gpu_hour_spot_usd": spot,
            "spot_share_today": share,
            "spot_interruption_overhead": a["spot_interruption_overhead"],
        },
        "on-demand GPU-hours moved to spot, paying the preemption reruns",
    )


def _routing(costs: MonthCosts, catalog: PriceCatalog, topology: Any, a: dict[str, float]) -> dict[str, Any]:
    if not costs.egress_bytes_by_region:
        return _row("route to cheaper PoPs where latency allows", None, {}, "needs egress per region")
    scale = days_in_month(costs.month) / max(1, costs.ledger["day"].nunique())
    moves, total = [], 0.0
    for src, b in costs.egress_bytes_by_region.items():
        if src not in topology.region_by_name or src not in catalog.cdn_egress:
            continue
        month_bytes = int(b * scale)
        p_src = float(price_of_byte(catalog.cdn_egress[src], max(1, month_bytes)))
        own = min(topology.rtt_ms(src, p.name) for p in topology.region_by_name[src].pops)
        best = None
        for dst in topology.regions:
            if dst.name == src or dst.name not in catalog.cdn_egress:
                continue
            rtt = min(topology.rtt_ms(src, p.name) for p in dst.pops)
            dst_bytes = int(costs.egress_bytes_by_region.get(dst.name, 0) * scale)
            p_dst = float(price_of_byte(catalog.cdn_egress[dst.name], max(1, dst_bytes)))
            if (
                rtt - own <= a["routing_max_added_rtt_ms"]
                and p_dst < p_src
                and (best is None or p_dst < best[1])
            ):
                best = (dst.name, p_dst, rtt - own)
        if best:
            gb = month_bytes * a["routing_movable_share"] / float(BYTES_PER_GB)
            usd = gb * (p_src - best[1])
            total += usd
            moves.append(
                {
                    "from": src,
                    "to": best[0],
                    "added_rtt_ms": round(best[2], 1),
                    "usd_per_gb_saved": round(p_src - best[1], 4),
                    "monthly_usd": round(usd, 2),
                }
            )
    return _row(
        "route to cheaper PoPs where latency allows",
        total,
        {
            "max_added_rtt_ms": a["routing_max_added_rtt_ms"],
            "movable_share": a["routing_movable_share"],
            "moves": moves,
        },
        "movable share of a region's egress x (its marginal tier price - the cheaper region's)",
    )


def total_savings(rows: list[dict[str, Any]]) -> Decimal:
    """Sum of the estimates that have data (they overlap a little: codec and routing both cut egress)."""
    return sum((Decimal(str(r["monthly_usd"])) for r in rows if r["monthly_usd"] is not None), Decimal(0))
