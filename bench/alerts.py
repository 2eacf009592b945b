"""10,000 alert rules with 10,000 distinct expressions evaluated in one cycle (<= 1 s).

Every rule has its own expression and every expression is its own store query: a different
label selector (one PoP, one region, a status class, a regex over PoPs...), function and
window over 40 metrics of 150 series each (5 regions x 10 PoPs x 3 status codes; 6,000 series,
1 h at 15 s), through the real `Evaluator` against the embedded store. A few PoPs have a bad
day (errors and latency up) so a few percent of rules fire; 1 % are no-data rules on a metric
that never arrives.
Side by side: the naive one-store-query-per-rule loop (`naive_cycle`), timed on a slice and
extrapolated (labelled so). Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamverse.alerts.evaluator import Evaluator, naive_cycle  # noqa: E402
from streamverse.alerts.rules import Rule  # noqa: E402
from streamverse.collectors.embedded import EmbeddedStore  # noqa: E402

REGIONS = 5
POPS = 10  # per region
CODES = ("200", "404", "500")
WINDOWS = ("1m", "5m", "15m")


def build(store: EmbeddedStore, *, metrics: int, now: float) -> int:
    """`metrics` request counters and latency gauges per PoP and status code, 1 h at 15 s."""
    ts = np.arange(now - 3600, now + 1, 15.0)
    rng = np.random.default_rng(1)
    series = 0
    for m in range(metrics):
        for r in range(REGIONS):
            for p in range(POPS):
                pop = {"region": f"r{r}", "pop": f"r{r}-p{p}"}
                bad = p == 0 and (m + r) % 4 == 0  # a bad day at a few PoPs: errors and latency up
                for code in CODES:
                    rate = rng.uniform(1, 100) * (1.0 if code == "200" else 3.0 if bad else 0.05)
                    store.write_arrays(f"bench_requests_{m}_total", {**pop, "code": code}, ts,
                                       np.cumsum(rng.poisson(rate * 15, len(ts))).astype(float))
                    store.write_arrays(f"bench_latency_{m}_seconds", {**pop, "code": code}, ts,
                                       rng.gamma(2.0, 0.25 if bad else 0.05, len(ts)))
                    series += 2
    store.flush()
    return series


def expressions(metrics: int) -> list[tuple[str, float]]:
    """Distinct (expression, typical value) pairs: each a different selector, function or window."""
    out: list[tuple[str, float]] = []
    for m in range(metrics):
        req, lat = f"bench_requests_{m}_total", f"bench_latency_{m}_seconds"
        for r in range(REGIONS):
            for p in range(POPS):
                pop = f'pop="r{r}-p{p}"'
                for w in WINDOWS:
                    out.append((f'sum(rate({req}{{{pop}, code="500"}}[{w}]))', 2.5))
                    out.append((f'sum by (code) (rate({req}{{{pop}, code!="200"}}[{w}]))', 2.5))
                out.append((f"max({lat}{{{pop}}})", 0.2))
                out.append((f'avg by (code) ({lat}{{{pop}, code=~"[45].."}})', 0.2))
            region = f'region="r{r}"'
            for w in WINDOWS:
                out.append((f'sum by (pop) (rate({req}{{{region}, code="500"}}[{w}]))', 2.5))
                out.append((f"sum(increase({req}{{{region}}}[{w}]))", 5000.0))
                out.append((f'max by (pop) (max_over_time({lat}{{{region}, code="500"}}[{w}]))', 0.3))
            out.append((f'count({lat}{{{region}, pop=~"r{r}-p[0-4]"}} > 0.25)', 3.0))
    return out


def rules_for(n: int, metrics: int) -> list[Rule]:
    """n rules, one per distinct expression (a few no-data rules on metrics that never arrive)."""
    exprs = expressions(metrics)
    if len(exprs) < n:
        raise SystemExit(f"{metrics} metrics give {len(exprs)} distinct expressions, fewer than {n} rules")
    out = []
    for i in range(n):
        if i % 100 == 99:
            out.append(Rule(name=f"NoData{i}", kind="nodata", expr=f'bench_missing_total{{rule="{i}"}}',
                            severity="ticket"))
            continue
        expr, typical = exprs[i]
        out.append(Rule(name=f"Bench{i}", expr=expr, op=">", threshold=typical * 3 * (1.0 + (i % 7) / 10.0),
                        labels={"team": f"t{i % 13}"}, **{"for": "1m"}))
    return out


def count_reads(store: EmbeddedStore, cycle: Callable[[], object]) -> int:
    """Store queries one (untimed) cycle makes: how many reads the evaluator's plan really costs."""
    calls = 0
    query = store.query

    def counted(expr: str, at: float) -> pd.DataFrame:
        nonlocal calls
        calls += 1
        return query(expr, at)

    store.query = counted  # type: ignore[method-assign]
    try:
        cycle()
    finally:
        del store.query
    return calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rules", type=int, default=10_000)
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    n = 1000 if args.quick else args.rules
    metrics = 4 if args.quick else 40
    now = 1_700_000_000.0
    with tempfile.TemporaryDirectory() as d:
        store = EmbeddedStore.at_path(Path(d) / "m.db")
        series = build(store, metrics=metrics, now=now)
        rules = rules_for(n, metrics)
        ev = Evaluator(rules, store)
        t = time.perf_counter()
        ev.cycle(now)  # the first cycle also builds fingerprints and fills the store's decode cache
        first_s = time.perf_counter() - t
        runs = []
        for k in range(3 if args.quick else 5):
            t = time.perf_counter()
            trs = ev.cycle(now + 15 * (k + 1))
            runs.append(time.perf_counter() - t)
        firing = len(ev.firing())
        rules_firing = len({a.name for a in ev.firing()})
        reads = count_reads(store, lambda: ev.cycle(now + 15 * 10))
        if ev.errors:
            raise SystemExit(f"rules failed to evaluate: {list(ev.errors.items())[:3]}")
        naive_rules = rules[: max(1, n // (10 if not args.quick else 2))]
        t = time.perf_counter()
        naive_cycle(naive_rules, store, now)
        naive_part = time.perf_counter() - t
        naive_s = naive_part * n / len(naive_rules)  # per-rule cost is flat; extrapolated from a slice
    cycle_s = statistics.median(runs)
    print(
        json.dumps(
            {
                "rules": n,
                "cycle_s": round(cycle_s, 4),
                "cycle_runs_s": [round(x, 4) for x in runs],
                "first_cycle_s": round(first_s, 4),
                "distinct_queries": len({" ".join(r.expr.split()) for r in rules}),
                "series": series,
                "store_reads_per_cycle": reads,
                "alerts_firing": firing,
                "rules_firing": rules_firing,
                "transitions_last_cycle": len(trs),
                "naive_cycle_s": round(naive_s, 3),
                "naive_measured_rules": len(naive_rules),
                "naive_cycle_s_is": f"extrapolated from {len(naive_rules)} rules",
                "speedup_vs_naive": round(naive_s / cycle_s, 1) if cycle_s else None,
                "target_cycle_s": 1.0,
                "ok": cycle_s <= 1.0,
                "load_avg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
