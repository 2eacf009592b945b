"""An SLO over its period: the SLI per bucket against the objective, and the error-budget burn-down.

`buckets` is pure numbers (testable with plain lists); `history` fetches the events from
the store with the same code as the status, so the burn-down ends where the status is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streamverse.clock import utc_iso
from streamverse.metricstore import MetricStore
from streamverse.slo.models import SLO
from streamverse.slo.service import fetch_events, period_bounds


def buckets(
    bad: np.ndarray, total: np.ndarray, *, objective: float, per_bucket: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bucket of `per_bucket` steps: SLI in the bucket, budget left so far (ratio), and events in it."""
    bad = np.nan_to_num(np.asarray(bad, dtype=float))
    total = np.nan_to_num(np.asarray(total, dtype=float))
    n = math.ceil(len(total) / per_bucket) if len(total) else 0
    pad = n * per_bucket - len(total)
    # Pad at the front, so the last bucket ends at the last step (now).
    b = np.concatenate([np.zeros(pad), bad]).reshape(n, per_bucket).sum(axis=1)
    t = np.concatenate([np.zeros(pad), total]).reshape(n, per_bucket).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sli = np.where(t > 0, 1.0 - b / t, np.nan)
        cum_b, cum_t = np.cumsum(b), np.cumsum(t)
        left = np.where(cum_t > 0, 1.0 - (cum_b / cum_t) / (1.0 - objective), np.nan)
    return sli, left, t


def history(
    slo: SLO, store: MetricStore, *, now: float, step: float = 60.0, bucket_s: float = 3600.0
) -> dict[str, Any]:
    """The aggregate's SLI per bucket and budget left over the SLO period ending now."""
    end = math.floor(now / step) * step
    start, period_s = period_bounds(slo, end)
    base = {"id": slo.id, "objective": slo.objective, "bucket_s": bucket_s, "start": utc_iso(start),
            "end": utc_iso(end), "timestamps": [], "sli": [], "budget_left": [], "events": []}
    if slo.indicator.kind == "query":
        return {**base, "message": "a raw-query SLO has no per-step events to draw"}
    events, attrs = fetch_events(slo, store, start=start, end=end, step=step)
    if not events:
        reason = "metric store unreachable" if attrs.get("reachable") is False else "no data in the period"
        return {**base, "message": reason}
    agg = events[0]
    per = max(1, round(bucket_s / step))
    sli, left, tot = buckets(agg.bad, agg.total, objective=slo.objective, per_bucket=per)
    ends = end - step * per * np.arange(len(sli))[::-1]

    def floats(xs: np.ndarray) -> list[float | None]:
        return [float(x) if math.isfinite(x) else None for x in xs]

    return {**base, "timestamps": [float(x) for x in ends], "sli": floats(sli), "budget_left": floats(left),
            "events": floats(tot)}
