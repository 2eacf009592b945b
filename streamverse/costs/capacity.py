"""The capacity plan: from a handful of stated assumptions to storage, egress, GPUs, database and cost.

Each intermediate figure is a step whose formula is the very expression evaluated to get
its value (over the inputs and earlier steps), so the plan cannot say one thing and
compute another, and anyone can recompute it by hand from what it prints.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from streamverse.costs.catalog import STORAGE_CLASSES, PriceCatalog
from streamverse.costs.tiers import cumulative_cost
from streamverse.errors import UsageError

RUNGS = ("360p", "480p", "720p", "1080p", "2160p")
LADDER_MBPS = {"360p": 0.5, "480p": 1.0, "720p": 2.5, "1080p": 5.0, "2160p": 15.0}
BITRATE_MIX = {"360p": 0.05, "480p": 0.10, "720p": 0.25, "1080p": 0.40, "2160p": 0.20}

# The seed's figures (100 M users, 10,000 uploads/day, the five-rung ladder) and the
# assumptions around them; every one is printed with the plan and can be overridden.
DEFAULT_INPUTS: dict[str, float] = {
    "users": 100_000_000,
    "peak_concurrency_share": 0.08,
    "viewing_hours_per_user_per_day": 0.5,
    **{f"mix_{r}": BITRATE_MIX[r] for r in RUNGS},
    **{f"ladder_{r}_mbps": LADDER_MBPS[r] for r in RUNGS},
    "uploads_per_day": 10_000,
    "avg_duration_min": 10.0,
    "source_mbps": 20.0,
    "codecs": 1,
    "replication": 2,
    "retention_days": 1825,
    "hot_days": 30,
    "warm_days": 90,
    "cold_days": 365,
    "cache_hit_ratio": 0.95,
    "segment_seconds": 6,
    "gpu_realtime_factor": 1.0,
    "encode_target_minutes_per_hour": 15,
    "upload_peak_factor": 3.0,
    "gpu_utilization": 0.7,
    "bytes_per_user": 2_000,
    "watch_events_per_user_per_day": 5,
    "bytes_per_watch_event": 200,
    "watch_history_days": 365,
    "bytes_per_video_metadata": 20_000,
    "db_replicas": 3,
    "api_requests_per_viewer_hour": 60,
    "api_cpu_utilization": 0.5,
    "days_per_month": 30.44,
}
SENSITIVITY_INPUTS = (
    "users",
    "peak_concurrency_share",
    "viewing_hours_per_user_per_day",
    "uploads_per_day",
    "avg_duration_min",
    "replication",
    "retention_days",
    "cache_hit_ratio",
)
SHARE_INPUTS = ("peak_concurrency_share", "cache_hit_ratio", "gpu_utilization", "api_cpu_utilization")


@dataclass(frozen=True)
class Step:
    """One figure of the plan: its formula is what was evaluated."""

    name: str
    value: float
    unit: str
    formula: str


def _ident(region: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", region.lower())


def price_inputs(catalog: PriceCatalog, region_shares: dict[str, float]) -> dict[str, float]:
    """The catalog's prices (and the audience split) as named plan inputs."""
    out: dict[str, float] = {f"share_{_ident(r)}": s for r, s in region_shares.items()}
    out |= {f"price_requests_{_ident(r)}_per_10k": float(catalog.requests[r]) for r in region_shares}
    out |= {f"price_storage_{c}_usd_per_gb_month": float(catalog.storage[c]) for c in STORAGE_CLASSES}
    out |= {
        f"price_lifecycle_{c}_per_1k": float(catalog.lifecycle.get(c, Decimal(0)))
        for c in ("warm", "cold", "archive")
    }
    out |= {
        "price_cache_fill_usd_per_gb": float(catalog.transfer.cache_fill_usd_per_gb),
        "price_gpu_hour_usd": float(catalog.transcode_gpu_hour_usd()),
        "price_vcpu_hour_usd": float(catalog.compute.vcpu_hour_usd),
        "api_vcpu_seconds_per_request": float(catalog.compute.api_vcpu_seconds_per_request),
        "price_database_usd_per_gb_month": float(catalog.database.usd_per_gb_month),
        "fixed_monthly_usd": float(sum(catalog.fixed_monthly.values(), Decimal(0))),
    }
    return out


class _Plan:
    """Accumulates steps, evaluating each formula over everything defined so far."""

    def __init__(self, inputs: dict[str, float], catalog: PriceCatalog) -> None:
        self.env: dict[str, Any] = dict(inputs)
        self.steps: list[Step] = []
        self.catalog = catalog

    def tiered(self, region: str, gb: float) -> float:
        """Monthly CDN bill of `gb` in a region under the catalog's volume tiers."""
        return float(cumulative_cost(self.catalog.cdn_egress[region], round(gb * 1e9)))

    def step(self, name: str, formula: str, unit: str) -> float:
        scope = {"__builtins__": {}, "ceil": math.ceil, "min": min, "max": max, "tiered": self.tiered}
        value = float(eval(formula, scope, self.env))  # noqa: S307 - formulas are ours, inputs are numbers
        self.env[name] = value
        self.steps.append(Step(name, value, unit, formula))
        return value


def evaluate_formula(formula: str, env: dict[str, Any], catalog: PriceCatalog) -> float:
    """Recompute one step's formula from named values (what a reader checking the plan does)."""
    plan = _Plan(env, catalog)
    return plan.step("_check", formula, "")


def _plan(inputs: dict[str, float], catalog: PriceCatalog, regions: list[str]) -> _Plan:
    p = _Plan(inputs, catalog)
    s = p.step
    s("avg_bitrate_mbps", " + ".join(f"mix_{r} * ladder_{r}_mbps" for r in RUNGS), "Mbps")
    s("ladder_total_mbps", " + ".join(f"ladder_{r}_mbps" for r in RUNGS), "Mbps")
    s("peak_concurrent_viewers", "users * peak_concurrency_share", "viewers")
    s("peak_egress_tbps", "peak_concurrent_viewers * avg_bitrate_mbps / 1e6", "Tbps")
    s("viewing_hours_per_month", "users * viewing_hours_per_user_per_day * days_per_month", "h")
    s("egress_gb_per_month", "viewing_hours_per_month * avg_bitrate_mbps * 3600 / 8 / 1000", "GB")
    for r in regions:
        i = _ident(r)
        s(f"egress_gb_{i}", f"egress_gb_per_month * share_{i}", "GB")
        s(f"cdn_egress_usd_{i}", f'tiered("{r}", egress_gb_{i})', "USD/month")
    s("cdn_egress_usd", " + ".join(f"cdn_egress_usd_{_ident(r)}" for r in regions), "USD/month")
    s("cache_fill_gb", "egress_gb_per_month * (1 - cache_hit_ratio)", "GB")
    s("cache_fill_usd", "cache_fill_gb * price_cache_fill_usd_per_gb", "USD/month")
    s("segment_requests_per_month", "viewing_hours_per_month * 3600 / segment_seconds", "requests")
    s(
        "requests_usd",
        "segment_requests_per_month * ("
        + " + ".join(f"share_{_ident(r)} * price_requests_{_ident(r)}_per_10k" for r in regions)
        + ") / 10000",
        "USD/month",
    )
    s("upload_hours_per_day", "uploads_per_day * avg_duration_min / 60", "h/day")
    s("stored_gb_per_video_hour", "(ladder_total_mbps * codecs + source_mbps) * 3600 / 8 / 1000", "GB")
    s("new_storage_gb_per_day", "upload_hours_per_day * stored_gb_per_video_hour * replication", "GB/day")
    s("hot_gb", "new_storage_gb_per_day * min(hot_days, retention_days)", "GB")
    s("warm_gb", "new_storage_gb_per_day * max(0, min(warm_days, retention_days) - hot_days)", "GB")
    s("cold_gb", "new_storage_gb_per_day * max(0, min(cold_days, retention_days) - warm_days)", "GB")
    s("archive_gb", "new_storage_gb_per_day * max(0, retention_days - cold_days)", "GB")
    s("storage_pb", "(hot_gb + warm_gb + cold_gb + archive_gb) / 1e6", "PB")
    s(
        "storage_usd",
        " + ".join(f"{c}_gb * price_storage_{c}_usd_per_gb_month" for c in STORAGE_CLASSES),
        "USD/month",
    )
    s(
        "objects_per_video",
        f"avg_duration_min * 60 / segment_seconds * ({len(RUNGS)} * codecs + 1)",
        "objects",
    )
    s(
        "lifecycle_usd",
        "uploads_per_day * days_per_month * objects_per_video * replication * "
        "(price_lifecycle_warm_per_1k + price_lifecycle_cold_per_1k + price_lifecycle_archive_per_1k) / 1000",
        "USD/month",
    )
    s("encode_speed_needed", "60 / encode_target_minutes_per_hour", "x real time")
    s("gpus_per_job", "ceil(encode_speed_needed * codecs / gpu_realtime_factor)", "GPUs")
    s("avg_gpus_busy", "upload_hours_per_day / 24 * codecs / gpu_realtime_factor", "GPUs")
    s(
        "transcode_gpus",
        "max(gpus_per_job, ceil(avg_gpus_busy * upload_peak_factor / gpu_utilization))",
        "GPUs",
    )
    s("hours_per_month", "days_per_month * 24", "h")
    s("transcode_usd", "transcode_gpus * hours_per_month * price_gpu_hour_usd", "USD/month")
    s("user_profiles_gb", "users * bytes_per_user / 1e9", "GB")
    s(
        "watch_history_gb",
        "users * watch_events_per_user_per_day * bytes_per_watch_event * watch_history_days / 1e9",
        "GB",
    )
    s("video_metadata_gb", "uploads_per_day * retention_days * bytes_per_video_metadata / 1e9", "GB")
    s("database_gb", "(user_profiles_gb + watch_history_gb + video_metadata_gb) * db_replicas", "GB")
    s("database_usd", "database_gb * price_database_usd_per_gb_month", "USD/month")
    s(
        "api_vcpus_peak",
        "ceil(peak_concurrent_viewers * api_requests_per_viewer_hour / 3600 * "
        "api_vcpu_seconds_per_request / api_cpu_utilization)",
        "vCPU",
    )
    s("compute_usd", "api_vcpus_peak * hours_per_month * price_vcpu_hour_usd", "USD/month")
    s(
        "monthly_cost_usd",
        "cdn_egress_usd + cache_fill_usd + requests_usd + storage_usd + lifecycle_usd + "
        "transcode_usd + database_usd + compute_usd + fixed_monthly_usd",
        "USD/month",
    )
    return p


def _validate(inputs: dict[str, float]) -> None:
    for k, v in inputs.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise UsageError(f"capacity input {k!r} must be a number, got {v!r}")
        if v < 0:
            raise UsageError(f"capacity input {k!r} cannot be negative ({v})")
    for k in SHARE_INPUTS:
        if not 0 <= inputs[k] <= 1:
            raise UsageError(f"capacity input {k!r} is a share between 0 and 1, got {inputs[k]}")
    for k in (
        "gpu_realtime_factor",
        "gpu_utilization",
        "api_cpu_utilization",
        "encode_target_minutes_per_hour",
        "segment_seconds",
    ):
        if inputs[k] <= 0:
            raise UsageError(f"capacity input {k!r} must be above 0")
    mix = sum(inputs[f"mix_{r}"] for r in RUNGS)
    if abs(mix - 1) > 1e-6:
        raise UsageError(f"the bitrate mix (mix_*) must add up to 1, it adds up to {mix:g}")


def plan_capacity(
    *,
    catalog: PriceCatalog,
    region_shares: dict[str, float],
    overrides: dict[str, float] | None = None,
    sensitivity: bool = True,
) -> dict[str, Any]:
    """The capacity and cost plan: inputs, headline figures, every step, and a sensitivity table."""
    unknown = sorted(set(overrides or {}) - set(DEFAULT_INPUTS) - set(price_inputs(catalog, region_shares)))
    if unknown:
        raise UsageError(f"unknown capacity input {unknown[0]!r}; known: {', '.join(sorted(DEFAULT_INPUTS))}")
    total_share = sum(region_shares.values())
    shares = {r: v / total_share for r, v in region_shares.items()}
    inputs = {**DEFAULT_INPUTS, **price_inputs(catalog, shares), **(overrides or {})}
    _validate(inputs)
    p = _plan(inputs, catalog, list(shares))
    env = p.env
    out: dict[str, Any] = {
        "inputs": inputs,
        "storage_pb": round(env["storage_pb"], 3),
        "peak_egress_tbps": round(env["peak_egress_tbps"], 3),
        "transcode_gpus": int(env["transcode_gpus"]),
        "database_gb": round(env["database_gb"], 1),
        "monthly_cost_usd": round(env["monthly_cost_usd"], 2),
        "cost_breakdown_usd": {
            k: round(env[f"{k}_usd"], 2)
            for k in (
                "cdn_egress",
                "cache_fill",
                "requests",
                "storage",
                "lifecycle",
                "transcode",
                "database",
                "compute",
            )
        }
        | {"fixed": round(env["fixed_monthly_usd"], 2)},
        "price_catalog": catalog.source,
        "steps": [asdict(st) for st in p.steps],
    }
    if sensitivity:
        out["sensitivity"] = sensitivity_table(catalog=catalog, region_shares=region_shares, inputs=inputs)
    return out


def sensitivity_table(
    *,
    catalog: PriceCatalog,
    region_shares: dict[str, float],
    inputs: dict[str, float],
    factors: tuple[float, float] = (0.8, 1.2),
) -> list[dict[str, Any]]:
    """How the headline figures move when one input moves by -20 % / +20 % (shares capped at 1)."""
    base = plan_capacity(catalog=catalog, region_shares=region_shares, overrides=inputs, sensitivity=False)
    rows = []
    for name in SENSITIVITY_INPUTS:
        for f in factors:
            value = inputs[name] * f
            if name in SHARE_INPUTS:
                value = min(1.0, value)
            if name == "replication":
                value = max(1.0, round(value))
            res = plan_capacity(
                catalog=catalog,
                region_shares=region_shares,
                overrides={**inputs, name: value},
                sensitivity=False,
            )
            rows.append(
                {
                    "input": name,
                    "factor": f,
                    "value": value,
                    "monthly_cost_usd": res["monthly_cost_usd"],
                    "monthly_cost_change_pct": round(
                        100 * (res["monthly_cost_usd"] / base["monthly_cost_usd"] - 1), 2
                    )
                    if base["monthly_cost_usd"]
                    else None,
                    "storage_pb": res["storage_pb"],
                    "peak_egress_tbps": res["peak_egress_tbps"],
                    "transcode_gpus": res["transcode_gpus"],
                    "database_gb": res["database_gb"],
                }
            )
    return rows
