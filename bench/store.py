"""Metric store benchmark: embedded ingest and 30-day queries, side by side with a real Prometheus.

Data: N counter series at 1-minute resolution over D days ending an hour ago, each with
one counter reset (a restart), so rate() must handle resets to agree. The same data goes
into the embedded store (timed write + flush) and, through OpenMetrics + promtool, into a
real Prometheus started on a free port. Both answer the same two queries several times:

- `query_30d_ms`: one series over D days at a 1-minute step (Prometheus caps a request at
  11,000 points, so its side is split into consecutive requests and their times summed);
- `query_1k_sum_rate_30d_ms`: `sum(rate(x[1h]))` over all N series, D days at a 1-hour step
  (every sample is read; Prometheus' 50 M samples-per-query limit allows this shape).

Headlines a skeptic would pick, side by side:
- `query_1k_sum_rate_30d_raw_ms`: the embedded store on the RAW path: as ingested, before any
  compaction, every sample read (no hourly summaries), against
  `prometheus_query_1k_sum_rate_30d_ms` (Prometheus with the promtool-backfilled 2 h blocks);
- `query_1k_sum_rate_30d_ms`: our compacted path (weekly chunks, hourly summaries; retention
  here keeps the whole window raw, so both stores hold the same samples), against
  `prometheus_query_1k_sum_rate_30d_compacted_ms`: Prometheus queried after its own compactor
  merged the backfilled blocks (we wait until `prometheus_tsdb_blocks_loaded` settles; the JSON
  says how many blocks before and after and whether it settled in time).

Each query time is the median over repeats of wall time; `*_cpu_ms` is the CPU time this
process (or, for Prometheus, its server process) spent, which other jobs on a loaded machine
do not inflate as much; `*_first_ms` is the first, cold run. `query_1k_sum_rate_30d_samples_ms`
answers the same query from the samples (no hourly summaries), as an unaligned query would.

Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamverse.collectors.backfill import SeriesArrays, backfill_series  # noqa: E402
from streamverse.collectors.embedded import EmbeddedStore, Retention  # noqa: E402
from streamverse.collectors.prometheus_process import start_prometheus  # noqa: E402
from streamverse.collectors.prometheus_store import PrometheusStore  # noqa: E402
from streamverse.collectors.promql import evaluate_range  # noqa: E402
from streamverse.metricstore import Sample  # noqa: E402

NAME = "bench_requests_total"
PROM_MAX_POINTS = 11_000


def make_data(n_series: int, days: float, end: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray, list]:
    """Timestamps (s), values [series, t] and label dicts."""
    ts = end - np.arange(int(days * 1440), -1, -1) * 60.0
    rng = np.random.default_rng(seed)
    rates = rng.uniform(1, 200, size=n_series)
    inc = rng.poisson(rates[:, None], size=(n_series, len(ts))).astype(np.float64)
    vals = np.cumsum(inc, axis=1)
    resets = rng.integers(len(ts) // 4, len(ts) * 3 // 4, size=n_series)
    for i, r in enumerate(resets):  # a restart: the counter starts again from zero
        vals[i, r:] -= vals[i, r - 1]
    labels = [{"series": f"s{i}", "region": f"r{i % 10}", "code": "500" if i % 7 == 0 else "200"}
              for i in range(n_series)]
    return ts, vals, labels


def ingest(store: EmbeddedStore, ts: np.ndarray, vals: np.ndarray, labels: list, batch_minutes: int) -> dict:
    total, spent, cpu = 0, 0.0, 0.0
    for lo in range(0, len(ts), batch_minutes):
        hi = min(lo + batch_minutes, len(ts))
        batch = [Sample(NAME, labels[i], float(t), float(v))
                 for j, t in enumerate(ts[lo:hi].tolist())
                 for i, v in enumerate(vals[:, lo + j].tolist())]
        started, cpu0 = time.perf_counter(), time.process_time()
        total += store.write(batch)
        spent += time.perf_counter() - started
        cpu += time.process_time() - cpu0
    started, cpu0 = time.perf_counter(), time.process_time()
    store.flush()
    spent += time.perf_counter() - started
    cpu += time.process_time() - cpu0
    return {"samples": total, "seconds": spent, "per_s": total / spent, "cpu_per_s": total / cpu}


def _proc_cpu_s(pid: int | None) -> float:
    """CPU seconds of this process (pid None) or of another one, from /proc."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, repeats: int, pid: int | None = None) -> tuple[dict, object]:
    """Median wall and CPU milliseconds over repeats, and the first (cold) run's wall time."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        cpu, started = _proc_cpu_s(pid), time.perf_counter()
        out = fn()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((_proc_cpu_s(pid) - cpu) * 1000)
    return {"ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "first_ms": walls[0]}, out


def record(result: dict, key: str, timing: dict) -> None:
    result[key] = timing["ms"]
    result[key.removesuffix("_ms") + "_cpu_ms"] = timing["cpu_ms"]
    result[key.removesuffix("_ms") + "_first_ms"] = timing["first_ms"]


class SamplesOnly:
    """The store without its hourly summaries: what a query not on whole hours reads."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store

    def load(self, selector: str, start: float, end: float) -> list:
        return self.store.load(selector, start, end)

    def iter_flat(self, selector: str, start: float, end: float):
        return self.store.iter_flat(selector, start, end)


def prom_range_split(prom: PrometheusStore, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
    """Consecutive requests of at most 11,000 points (Prometheus' per-request limit)."""
    frames, t = [], start
    while t <= end:
        stop = min(end, t + (PROM_MAX_POINTS - 1) * step)
        frames.append(prom.query_range(expr, t, stop, step))
        if not frames[-1].attrs.get("reachable", True):
            raise RuntimeError(frames[-1].attrs.get("error"))
        t = stop + step
    return pd.concat(frames, ignore_index=True)


def max_rel_diff(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest |a-b|/max(|a|,|b|) over timestamps both answered (labels aside: one series each)."""
    ma = dict(zip(np.round(a["timestamp"], 3), a["value"], strict=True))
    mb = dict(zip(np.round(b["timestamp"], 3), b["value"], strict=True))
    common = sorted(set(ma) & set(mb))
    if not common:
        return float("nan")
    x = np.array([ma[t] for t in common])
    y = np.array([mb[t] for t in common])
    den = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)
    return float(np.max(np.abs(x - y) / den))


def _blocks(url: str) -> int | None:
    """How many TSDB blocks the Prometheus server has loaded, from its own /metrics."""
    import re

    import httpx

    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    m = re.search(r"^prometheus_tsdb_blocks_loaded (\S+)$", text, re.M)
    return int(float(m.group(1))) if m else None


def wait_for_compaction(url: str, max_s: float) -> dict:
    """Let Prometheus' own compactor merge the backfilled blocks; settled = no change for 60 s."""
    before = _blocks(url)
    last, since, started = before, time.monotonic(), time.monotonic()
    while time.monotonic() - started < max_s:
        time.sleep(5)
        now = _blocks(url)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 60:
            break
    settled = time.monotonic() - since >= 60
    return {"blocks_before": before, "blocks_after": last, "settled": settled,
            "waited_s": round(time.monotonic() - started, 1),
            "note": None if settled else "still compacting when measured (time limit); see blocks_after"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2 days x 100 series")
    ap.add_argument("--series", type=int)
    ap.add_argument("--days", type=float)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n_series = args.series or (100 if args.quick else 1000)
    days = args.days or (2 if args.quick else 30)
    end = (time.time() // 3600 - 1) * 3600
    ts, vals, labels = make_data(n_series, days, end)
    start = float(ts[0])
    result: dict = {"series": n_series, "days": days, "samples": int(vals.size)}

    with tempfile.TemporaryDirectory(prefix="sv-bench-store-") as tmp:
        root = Path(tmp)
        # raw kept for the whole window: compaction merges chunks, it does not downsample here
        keep = Retention(raw_s=(days + 2) * 86400.0, res_5m_s=(days + 3) * 86400.0,
                         res_1h_s=(days + 4) * 86400.0)
        store = EmbeddedStore.at_path(root / "metrics.db", flush_after_s=3600, retention=keep)
        ing = ingest(store, ts, vals, labels, batch_minutes=360)
        result["ingest_samples_per_s"] = round(ing["per_s"])
        result["ingest_samples_per_cpu_s"] = round(ing["cpu_per_s"])
        result["ingest_s"] = round(ing["seconds"], 2)

        one = f'{NAME}{{series="s7"}}'
        sum_rate = f"sum(rate({NAME}[1h]))"
        q_start = start + 3600
        timing, emb_raw = timed(  # the raw path: as ingested, no compaction, every sample read
            lambda: evaluate_range(SamplesOnly(store), sum_rate, start=q_start, end=end, step=3600),
            args.repeats)
        record(result, "query_1k_sum_rate_30d_raw_ms", timing)

        started = time.perf_counter()  # the store's own compaction: batch-sized chunks -> weekly chunks
        result["compaction"] = store.compact(now=end + 7200)
        result["compact_s"] = round(time.perf_counter() - started, 2)
        timing, emb_one = timed(lambda: store.query_range(one, start, end, 60), args.repeats)
        record(result, "query_30d_ms", timing)
        timing, emb_sum = timed(lambda: store.query_range(sum_rate, q_start, end, 3600), args.repeats)
        record(result, "query_1k_sum_rate_30d_ms", timing)
        plain = SamplesOnly(store)
        timing, emb_sum_samples = timed(
            lambda: evaluate_range(plain, sum_rate, start=q_start, end=end, step=3600), args.repeats)
        record(result, "query_1k_sum_rate_30d_samples_ms", timing)
        result["max_rel_diff_summaries_vs_samples"] = max_rel_diff(emb_sum, emb_sum_samples)
        timing, _ = timed(lambda: store.range_query(one, start, end, 60), args.repeats)
        result["raw_selector_30d_ms"] = timing["ms"]

        started = time.perf_counter()
        backfill_series((SeriesArrays(NAME, labels[i], ts, vals[i]) for i in range(n_series)),
                        root / "prom" / "tsdb")
        result["prometheus_backfill_s"] = round(time.perf_counter() - started, 1)
        prom_proc = start_prometheus(data_dir=root / "prom", targets=[])
        try:
            prom = PrometheusStore(prom_proc.url, timeout_s=120)
            pid = prom_proc.process.pid
            timing, prom_one = timed(lambda: prom_range_split(prom, one, start, end, 60), args.repeats, pid)
            record(result, "prometheus_query_30d_ms", timing)
            timing, prom_sum = timed(lambda: prom.query_range(sum_rate, q_start, end, 3600),
                                     args.repeats, pid)
            record(result, "prometheus_query_1k_sum_rate_30d_ms", timing)
            result["prometheus_compaction"] = wait_for_compaction(prom_proc.url, 60 if args.quick else 600)
            timing, prom_sum_c = timed(lambda: prom.query_range(sum_rate, q_start, end, 3600),
                                       args.repeats, pid)
            record(result, "prometheus_query_1k_sum_rate_30d_compacted_ms", timing)
            result["max_rel_diff_sum_rate_compacted"] = max_rel_diff(emb_sum, prom_sum_c)
        finally:
            prom_proc.stop()
        result["points_one_series"] = [len(emb_one), len(prom_one)]
        result["points_sum_rate"] = [len(emb_sum), len(prom_sum)]
        result["max_rel_diff_30d"] = max_rel_diff(emb_one, prom_one)
        result["max_rel_diff_sum_rate"] = max_rel_diff(emb_sum, prom_sum)
        result["max_rel_diff_raw_vs_compacted"] = max_rel_diff(emb_raw, emb_sum)
        result["ratio_sum_rate_raw_vs_prometheus"] = round(
            result["prometheus_query_1k_sum_rate_30d_ms"] / result["query_1k_sum_rate_30d_raw_ms"], 2)
        result["ratio_sum_rate_vs_prometheus_compacted"] = round(
            result["prometheus_query_1k_sum_rate_30d_compacted_ms"] / result["query_1k_sum_rate_30d_ms"],
            2)
        result["ratio_query_30d_vs_prometheus"] = round(
            result["prometheus_query_30d_ms"] / result["query_30d_ms"], 2)
        result["ratio_sum_rate_vs_prometheus"] = round(
            result["prometheus_query_1k_sum_rate_30d_ms"] / result["query_1k_sum_rate_30d_ms"], 2)
        result["ratio_sum_rate_cpu_vs_prometheus"] = round(
            result["prometheus_query_1k_sum_rate_30d_cpu_ms"] / result["query_1k_sum_rate_30d_cpu_ms"], 2)
        result["targets_met"] = {"ingest": result["ingest_samples_per_s"] >= 500_000,
                                 "query_30d": result["query_30d_ms"] <= 50,
                                 "query_1k_sum_rate_30d": result["query_1k_sum_rate_30d_ms"] <= 1000,
                                 "query_1k_sum_rate_30d_raw": result["query_1k_sum_rate_30d_raw_ms"] <= 1000,
                                 "raw_ahead_of_prometheus": result["query_1k_sum_rate_30d_raw_ms"]
                                 < result["prometheus_query_1k_sum_rate_30d_ms"]}
        store.close()
    for k, v in list(result.items()):
        if isinstance(v, float):
            result[k] = round(v, 3) if abs(v) >= 1e-3 else v
    print(json.dumps(result))


if __name__ == "__main__":
    main()
