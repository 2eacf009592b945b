"""Seeded telemetry under the project's real metric names, for the PromQL differential test.

Counters reset and miss scrapes, gauges' series come and go (no staleness markers on
either side: backfilled blocks carry none), some samples are NaN, and the classic
histograms keep `_bucket`/`_sum`/`_count` consistent. Timestamps are whole multiples of
125 ms so that promtool's seconds-to-milliseconds conversion (a truncation) and the
embedded store's rounding give the same instant.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streamverse.collectors.backfill import SeriesArrays

SCRAPE_S = 15.0
SPAN_S = 6 * 3600.0
REGIONS: dict[str, tuple[str, ...]] = {"eu-west": ("fra", "ams"), "us-east": ("nyc", "iad"),
                                       "ap-south": ("sin",)}
POPS = [(r, p) for r, pops in REGIONS.items() for p in pops]

Dims = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Family:
    """One metric: its kind (counter, gauge, histogram) and the label sets of its series."""

    name: str
    kind: str
    dims: Dims
    buckets: tuple[float, ...] = ()


def product(*axes: Dims) -> list[dict[str, str]]:
    """Every combination of the label sets of each axis, merged."""
    return [{k: v for d in combo for k, v in d.items()} for combo in itertools.product(*axes)]


def axis(label: str, *values: str) -> list[dict[str, str]]:
    """One label dimension as label sets."""
    return [{label: v} for v in values]


POP_AXIS = [{"region": r, "pop": p} for r, p in POPS]
REGION_AXIS = axis("region", *REGIONS)
PHASES = axis("phase", "dns", "manifest")

FAMILIES: tuple[Family, ...] = (
    Family("streamverse_edge_requests_total", "counter",
           product(POP_AXIS, axis("code", "200", "404", "500", "503"), axis("cache", "hit", "miss"),
                   axis("job", "edge"))),
    Family("streamverse_edge_bytes_sent_total", "counter", product(POP_AXIS, axis("job", "edge"))),
    Family("streamverse_playback_errors_total", "counter", product(REGION_AXIS, axis("job", "player"))),
    Family("streamverse_playback_seconds_total", "counter", product(REGION_AXIS, axis("job", "player"))),
    Family("streamverse_playback_sessions_total", "counter", product(REGION_AXIS, axis("job", "player"))),
    Family("streamverse_rebuffer_seconds_total", "counter", product(REGION_AXIS, axis("job", "player"))),
    Family("streamverse_gateway_requests_total", "counter",
           product(REGION_AXIS, axis("code", "200", "429", "500"), axis("job", "gateway"))),
    Family("streamverse_gateway_ratelimited_total", "counter",
           product(REGION_AXIS, axis("scope", "ip", "key"), axis("job", "gateway"))),
    Family("streamverse_origin_requests_total", "counter",
           product(axis("origin", "o1", "o2"), axis("code", "200", "502"), axis("job", "origin"))),
    Family("streamverse_probe_journey_total", "counter", product(REGION_AXIS, axis("job", "probe"))),
    Family("streamverse_probe_journey_success_total", "counter", product(REGION_AXIS, axis("job", "probe"))),
    Family("streamverse_usage_egress_bytes_total", "counter",
           product(POP_AXIS, axis("tier", "edge")) + product(REGION_AXIS, axis("tier", "shield"))
           + product(axis("origin", "o1", "o2"), axis("tier", "origin"))),
    Family("streamverse_shield_bytes_sent_total", "counter", REGION_AXIS),
    Family("streamverse_origin_bytes_sent_total", "counter", axis("origin", "o1", "o2")),
    Family("streamverse_usage_requests_total", "counter",
           product(POP_AXIS, axis("tier", "edge")) + axis("tier", "gateway")),
    Family("streamverse_usage_transcode_cpu_seconds_total", "counter", axis("basis", "cpu", "wall")),
    Family("streamverse_transcode_jobs_total", "counter", axis("status", "succeeded", "failed")),
    Family("streamverse_usage_video_egress_bytes_total", "sparse_counter", axis("video_id", "v1", "v2", "v3",
                                                                                 "v4", "other")),
    Family("streamverse_usage_stored_bytes", "gauge", axis("storage_class", "standard", "cold")),
    Family("streamverse_object_store_bytes", "gauge", axis("storage_class", "standard", "cold")),
    Family("streamverse_pop_healthy", "flag", product(POP_AXIS, axis("job", "edge"))),
    Family("streamverse_transcode_queue_depth", "gauge", [{"job": "transcoder"}]),
    Family("streamverse_video_start_surge", "sparse_gauge", axis("video_id", "v1", "v2", "v3", "v4", "v5")),
    Family("streamverse_probe_phase_seconds", "gauge", product(REGION_AXIS, PHASES)),
    Family("streamverse_probe_phase_budget_seconds", "gauge", product(REGION_AXIS, PHASES)),
    Family("streamverse_playback_startup_seconds", "histogram", product(REGION_AXIS, axis("job", "player")),
           (0.25, 0.5, 1.0, 2.5, 5.0)),
    Family("streamverse_request_duration_seconds", "histogram",
           product(axis("service", "gateway", "api"), REGION_AXIS), (0.05, 0.1, 0.25, 1.0)),
    Family("streamverse_upload_to_playable_seconds_per_video_hour", "histogram", [{"job": "media"}],
           (60.0, 300.0, 900.0, 3600.0)),
    Family("streamverse_transcode_rendition_seconds", "histogram", axis("rendition", "720p", "1080p"),
           (1.0, 10.0, 60.0)),
)


def _grid(rng: np.random.Generator, start: float) -> np.ndarray:
    """Scrape times: a per-series phase plus jitter, multiples of 1/8 s."""
    n = int(SPAN_S // SCRAPE_S) + 1
    phase = rng.integers(0, 120) * 0.125
    jitter = rng.integers(-3, 4, n) * 0.125
    return start + phase + np.arange(n) * SCRAPE_S + jitter


def _gaps(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """A keep-mask with `count` missed runs: mostly short, some longer than the 5 m lookback."""
    keep = np.ones(n, dtype=bool)
    for _ in range(count):
        at = int(rng.integers(1, n - 1))
        keep[at: at + int(rng.choice([1, 2, 3, 8, 30]))] = False
    return keep


def _counter(rng: np.random.Generator, n: int, rate: float, resets: int) -> np.ndarray:
    incs = rng.poisson(rate, n).astype(float)
    if rng.random() < 0.3:  # fractional counters (seconds, bytes per second...)
        incs = incs * 0.25 + rng.integers(0, 4, n) * 0.125
    vals = np.cumsum(incs)
    for at in sorted(rng.integers(5, n - 5, resets)):
        vals[at:] -= vals[at] - incs[at] * rng.integers(0, 2)  # a restart: back to 0 or one increment
    return vals


def _series(fam: Family, labels: Mapping[str, str], rng: np.random.Generator,
            start: float) -> Iterator[SeriesArrays]:
    ts = _grid(rng, start)
    n = len(ts)
    keep = _gaps(rng, n, int(rng.integers(0, 5)))
    if fam.kind in ("counter", "sparse_counter"):
        vals = _counter(rng, n, float(rng.choice([0.2, 3.0, 40.0])), int(rng.integers(0, 3)))
        if fam.kind == "sparse_counter":  # present in some intervals only (a top-N meter)
            keep &= np.repeat(rng.random(n // 240 + 1) < 0.6, 240)[:n]
        if rng.random() < 0.05:
            vals[rng.integers(0, n, 3)] = np.nan
        yield SeriesArrays(fam.name, dict(labels), ts[keep], vals[keep])
    elif fam.kind in ("gauge", "sparse_gauge", "flag"):
        if fam.kind == "flag":
            vals = (rng.random(n) > 0.03).astype(float)
        else:
            vals = np.round(rng.normal(100.0, 40.0, n).cumsum() / 10, 3)
        if fam.kind == "sparse_gauge":  # series appear and disappear
            keep &= np.repeat(rng.random(n // 80 + 1) < 0.5, 80)[:n]
            vals = np.round(rng.normal(0.05, 0.1, n), 3)
        vals[rng.random(n) < 0.01] = np.nan
        yield SeriesArrays(fam.name, dict(labels), ts[keep], vals[keep])
    else:
        yield from _histogram(fam, labels, rng, ts, keep)


def _histogram(fam: Family, labels: Mapping[str, str], rng: np.random.Generator, ts: np.ndarray,
               keep: np.ndarray) -> Iterator[SeriesArrays]:
    n = len(ts)
    bounds = np.array([*fam.buckets, np.inf])
    obs = rng.poisson(float(rng.choice([2.0, 20.0])), n)
    counts = np.zeros((n, len(bounds)))
    sums = np.zeros(n)
    scale = fam.buckets[len(fam.buckets) // 2]
    for i, k in enumerate(obs):
        if k:
            x = rng.lognormal(np.log(scale), 1.0, k)
            counts[i] = (x[:, None] <= bounds).sum(0)
            sums[i] = np.round(x.sum(), 3)
    cum, total = counts.cumsum(0), sums.cumsum()
    for at in sorted(rng.integers(5, n - 5, int(rng.integers(0, 2)))):
        cum[at:] -= cum[at - 1]
        total[at:] -= total[at - 1]
    for j, le in enumerate(bounds):
        le_txt = "+Inf" if np.isinf(le) else repr(float(le))
        yield SeriesArrays(f"{fam.name}_bucket", {**labels, "le": le_txt}, ts[keep], cum[keep, j])
    yield SeriesArrays(f"{fam.name}_count", dict(labels), ts[keep], cum[keep, -1])
    yield SeriesArrays(f"{fam.name}_sum", dict(labels), ts[keep], np.round(total[keep], 3))


def recorded_family(name: str, label_sets: Dims) -> Family:
    """A recording rule's output as a gauge (its rules are not run: we compare queries over data)."""
    return Family(name, "ratio", label_sets)


def generate(start: float, *, seed: int = 42, extra: Sequence[Family] = ()) -> list[SeriesArrays]:
    """Every series of FAMILIES (and `extra`) over SPAN_S from `start`."""
    rng = np.random.default_rng(seed)
    out: list[SeriesArrays] = []
    for fam in (*FAMILIES, *extra):
        for labels in fam.dims:
            if fam.kind == "ratio":
                ts = _grid(rng, start)
                keep = _gaps(rng, len(ts), 2)
                vals = np.round(np.abs(rng.normal(0.002, 0.01, len(ts))), 6)
                out.append(SeriesArrays(fam.name, dict(labels), ts[keep], vals[keep]))
            else:
                out.extend(_series(fam, labels, rng, start))
    return out
