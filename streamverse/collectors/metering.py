"""Usage metering for costs: egress, requests, transcode CPU and storage as `streamverse_usage_*` series.

Each usage series is defined once, from the platform counters that exist, with its unit in
the name. The meter keeps its own cumulative totals and adds `increase()` of the source
over each interval, so a restarting edge (a counter reset) never makes usage go down or
count twice; gauges (stored bytes) are copied and also integrated into byte-seconds,
which is what storage is billed on. `usage_report` answers "how much in this window"
for the cost report from any store that speaks the PromQL subset.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from streamverse.clock import Clock
from streamverse.metricstore import MetricStore, Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    """One metered quantity: its series, the source expression (a counter or gauge) and grouping."""

    name: str
    source: str
    by: tuple[str, ...]
    kind: str = "counter"  # counter: increase per interval; gauge: value now
    labels: tuple[tuple[str, str], ...] = ()
    help: str = ""


USAGE: tuple[Usage, ...] = (
    Usage(
        "streamverse_usage_egress_bytes_total",
        "streamverse_edge_bytes_sent_total",
        ("region", "pop"),
        labels=(("tier", "edge"),),
        help="bytes sent to viewers per PoP",
    ),
    Usage(
        "streamverse_usage_egress_bytes_total",
        "streamverse_shield_bytes_sent_total",
        ("region",),
        labels=(("tier", "shield"),),
        help="bytes shields sent to edges (needs the shield byte counter)",
    ),
    Usage(
        "streamverse_usage_egress_bytes_total",
        "streamverse_origin_bytes_sent_total",
        ("origin",),
        labels=(("tier", "origin"),),
        help="bytes origins sent to shields",
    ),
    Usage(
        "streamverse_usage_requests_total",
        "streamverse_edge_requests_total",
        ("region", "pop"),
        labels=(("tier", "edge"),),
        help="requests served by edges",
    ),
    Usage(
        "streamverse_usage_requests_total",
        "streamverse_origin_requests_total",
        ("origin",),
        labels=(("tier", "origin"),),
        help="requests reaching origins",
    ),
    Usage(
        "streamverse_usage_requests_total",
        "streamverse_gateway_requests_total",
        ("route",),
        labels=(("tier", "gateway"),),
        help="API gateway requests",
    ),
    Usage(
        "streamverse_usage_transcode_cpu_seconds_total",
        "streamverse_transcode_cpu_seconds_total",
        ("rendition",),
        help="encoder CPU seconds (when the media pipeline exports them)",
    ),
    Usage(
        "streamverse_usage_transcode_cpu_seconds_total",
        "streamverse_transcode_rendition_seconds_sum",
        ("rendition",),
        labels=(("basis", "wall"),),
        help="encode wall seconds, a CPU lower bound",
    ),
    Usage(
        "streamverse_usage_stored_bytes",
        "streamverse_object_store_bytes",
        ("storage_class",),
        kind="gauge",
        help="bytes stored per storage class now",
    ),
)


def _key(row: dict[str, Any], by: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(str(row.get(k, "")) for k in by)


def _rows(store: MetricStore, expr: str, at: float) -> list[dict[str, Any]]:
    df = store.query(expr, at)
    if df is None or len(df) == 0:
        return []
    return df.to_dict("records")


class UsageMeter:
    """Turns the platform counters into usage series on each `collect()`."""

    def __init__(self, *, store: MetricStore, clock: Clock, usage: tuple[Usage, ...] = USAGE) -> None:
        self.store = store
        self.clock = clock
        self.usage = usage
        self.totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.missing: set[str] = set()
        self.last_at: float | None = None

    def collect(self, *, at: float | None = None) -> int:
        """Add each source's increase since the last call and write every usage series; returns samples."""
        self.store_flush()
        at = self.clock.now() if at is None else at
        prev, self.last_at = self.last_at, at
        samples: list[Sample] = []
        found: set[str] = set()
        for u in self.usage:
            by = ", ".join(u.by)
            if u.kind == "gauge":
                rows = _rows(self.store, f"sum by ({by}) ({u.source})", at)
                for row in rows:
                    labels = dict(zip(u.by, _key(row, u.by), strict=True)) | dict(u.labels)
                    value = float(row["value"])
                    samples.append(Sample(u.name, labels, at, value))
                    if prev is not None:  # byte-seconds: the gauge held over the interval
                        k = ("streamverse_usage_stored_byte_seconds_total", tuple(sorted(labels.items())))
                        self.totals[k] = self.totals.get(k, 0.0) + value * (at - prev)
            elif prev is not None and at > prev:
                window = max(1, round(at - prev))
                rows = _rows(self.store, f"sum by ({by}) (increase({u.source}[{window}s]))", at)
                for row in rows:
                    labels = dict(zip(u.by, _key(row, u.by), strict=True)) | dict(u.labels)
                    k = (u.name, tuple(sorted(labels.items())))
                    self.totals[k] = self.totals.get(k, 0.0) + max(0.0, float(row["value"]))
            else:
                rows = _rows(self.store, f"count by ({by}) ({u.source})", at)  # first call: present series
                for row in rows:
                    labels = dict(zip(u.by, _key(row, u.by), strict=True)) | dict(u.labels)
                    self.totals.setdefault((u.name, tuple(sorted(labels.items()))), 0.0)
            if rows:
                found.add(u.source)
        self.missing = {u.source for u in self.usage} - found
        samples += [Sample(name, dict(labels), at, v) for (name, labels), v in self.totals.items()]
        return self.store.write(samples) if samples else 0

    def store_flush(self) -> None:
        """Make this process's freshest samples visible to the queries."""
        flush = getattr(self.store, "flush", None)
        if flush is not None:
            flush()


def usage_report(store: MetricStore, *, start: float, end: float) -> dict[str, list[dict[str, Any]]]:
    """Usage in [start, end] straight from the platform counters: usage name -> rows with labels and value."""
    window = max(1, round(end - start))
    out: dict[str, list[dict[str, Any]]] = {}
    for u in USAGE:
        by = ", ".join(u.by)
        expr = (
            f"sum by ({by}) (avg_over_time({u.source}[{window}s]))"
            if u.kind == "gauge"
            else f"sum by ({by}) (increase({u.source}[{window}s]))"
        )
        for row in _rows(store, expr, end):
            labels = dict(zip(u.by, _key(row, u.by), strict=True)) | dict(u.labels)
            out.setdefault(u.name, []).append({**labels, "value": float(row["value"])})
    return out


def prometheus_rules() -> dict[str, Any]:
    """The usage series as Prometheus recording rules (rates summed, so restarts do not bite)."""
    rules = []
    for u in USAGE:
        by = ", ".join(u.by)
        record = u.name.removesuffix("_total") + ":rate5m" if u.kind == "counter" else u.name
        expr = (
            f"sum by ({by}) (rate({u.source}[5m]))" if u.kind == "counter" else f"sum by ({by}) ({u.source})"
        )
        rule: dict[str, Any] = {"record": record, "expr": expr}
        if u.labels:
            rule["labels"] = dict(u.labels)
        rules.append(rule)
    return {"groups": [{"name": "streamverse-usage", "rules": rules}]}
