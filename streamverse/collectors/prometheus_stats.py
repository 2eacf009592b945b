"""`metrics stats` for the Prometheus backend: what Prometheus itself reports, labelled as such.

Prometheus keeps one resolution and applies its own retention (`--storage.tsdb.retention.*`);
our raw/5m/1h tiers do not apply. The figures come from its TSDB status API
(`/api/v1/status/tsdb`), its flags and runtime info, and are passed on as it gives them.
"""

from __future__ import annotations

from typing import Any

import httpx

from streamverse.clock import utc_iso

_YEAR_2100_MS = 4_102_444_800_000  # an empty head reports min/max time as the int64 extremes
_FLAGS = ("storage.tsdb.retention.time", "storage.tsdb.retention.size", "storage.tsdb.path")


def _get(client: httpx.Client, url: str) -> dict[str, Any]:
    """The `data` of a Prometheus API answer; an error answer raises with its message."""
    resp = client.get(url)
    body = resp.json()
    if resp.status_code != 200 or body.get("status") != "success":
        raise httpx.HTTPStatusError(f"{url}: {body.get('error') or resp.status_code}", request=resp.request,
                                    response=resp)
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def _when(ms: object) -> str | None:
    return utc_iso(ms / 1000) if isinstance(ms, int) and 0 < ms < _YEAR_2100_MS else None


def prometheus_stats(url: str, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """Head series/samples/chunks, block span, retention flags and storage size, as Prometheus says."""
    base = url.rstrip("/")
    out: dict[str, Any] = {"backend": "prometheus", "url": base, "reachable": True,
                           "source": "reported by Prometheus (/api/v1/status/tsdb, flags, runtimeinfo)"}
    try:
        with httpx.Client(timeout=timeout_s) as client:
            tsdb = _get(client, f"{base}/api/v1/status/tsdb")
            flags = _get(client, f"{base}/api/v1/status/flags")
            runtime = _get(client, f"{base}/api/v1/status/runtimeinfo")
    except (httpx.HTTPError, ValueError) as exc:
        return {**out, "reachable": False, "error": f"{type(exc).__name__}: {exc}"}
    head = tsdb.get("headStats") or {}
    min_t, max_t = head.get("minTime"), head.get("maxTime")
    out["series"] = head.get("numSeries")
    out["head"] = {"series": head.get("numSeries"), "chunks": head.get("chunkCount"),
                   "label_pairs": head.get("numLabelPairs"),
                   "oldest": _when(min_t), "newest": _when(max_t)}
    out["top_metrics_by_series"] = [
        {"name": m.get("name"), "series": m.get("value")} for m in tsdb.get("seriesCountByMetricName") or []]
    out["retention"] = {"flags": {k: flags.get(k) for k in _FLAGS if k in flags},
                        "storage_retention": runtime.get("storageRetention")}
    out["tsdb_raw"] = tsdb
    return out
