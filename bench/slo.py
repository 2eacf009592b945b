"""Benchmark: 1,000 SLOs x 30 days at 1-minute resolution, burn rates over every window.

Headline, the same work on both sides: `timeline_wall_s` is the engine computing every
window's error ratio (5m ... 3d and the 30-day period) at every minute of the month plus the
page/ticket conditions at every minute (the alert history); `pandas_wall_s` is a
straightforward pandas `rolling(window).sum()` doing exactly that; `timeline_ratio` is their
quotient, and the two must agree (`max_abs_diff`, `alert_minutes_diff`).

`status_service_s` is `slo status` through the real service path: a native SLO file with
1,000 SLOs read by the loader, evaluated by `streamverse.slo.service.status` against an
EmbeddedStore (SQLite) holding 30 days of per-minute request counters for every SLO.

`wall_s` (kept for continuity) is the array engine alone computing only "now" for 1,000 SLOs
from arrays already in memory; it is not compared with pandas, which computes every minute.
Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.slo import engine, loader, service

STEP_S = 60.0
PERIOD_S = 30 * 86400.0
WINDOWS = {**engine.WINDOWS, "period": PERIOD_S}


def make_data(n: int, minutes: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-minute total and bad events with background errors and a few outages."""
    rng = np.random.default_rng(seed)
    total = rng.poisson(1000.0, size=(n, minutes)).astype(np.float64)
    bad = rng.binomial(total.astype(np.int64), 0.0004).astype(np.float64)
    for i in range(0, n, 7):
        at = rng.integers(0, minutes - 120)
        bad[i, at : at + 60] = total[i, at : at + 60] * 0.3
    objectives = rng.choice([0.99, 0.999, 0.9999], size=n)
    return bad, total, objectives


def run_engine(
    bad: np.ndarray, total: np.ndarray, objectives: np.ndarray, block: int = 8
) -> dict[str, np.ndarray]:
    """The engine: every window's ratio at every minute, alert minutes, and the values now."""
    n = bad.shape[0]
    now = {w: np.empty(n) for w in WINDOWS}
    page_minutes = np.zeros(n, dtype=np.int64)
    ticket_minutes = np.zeros(n, dtype=np.int64)
    for i in range(0, n, block):
        ratios = engine.window_ratios(
            bad[i : i + block], total[i : i + block], step_s=STEP_S, windows=WINDOWS
        )
        fire = engine.alert_series(ratios, objectives[i : i + block])
        page_minutes[i : i + block] = fire["page"].sum(axis=1)
        ticket_minutes[i : i + block] = fire["ticket"].sum(axis=1)
        for w, r in ratios.items():
            now[w][i : i + block] = r[:, -1]
    return {"now": now, "page_minutes": page_minutes, "ticket_minutes": ticket_minutes}


def run_status(bad: np.ndarray, total: np.ndarray, objectives: np.ndarray) -> dict[str, np.ndarray]:
    """Every window now for every SLO, budget, alerts and forecast, vectorised across SLOs."""
    sums = engine.last_window_sums(bad, total, step_s=STEP_S, windows=WINDOWS)
    eb = 1.0 - objectives
    ratios = {w: engine.error_ratio(b, t) for w, (b, t) in sums.items()}
    burn = {w: r / eb for w, r in ratios.items()}
    page = np.zeros(len(eb), dtype=bool)
    ticket = np.zeros(len(eb), dtype=bool)
    for sev, factor, long_w, short_w in engine.ALERT_CONDITIONS:
        hit = (burn[long_w] > factor) & (burn[short_w] > factor)
        if sev == "page":
            page |= hit
        else:
            ticket |= hit
    remaining = 1.0 - burn["period"]
    with np.errstate(divide="ignore", invalid="ignore"):
        exhaustion = np.where(remaining <= 0, 0.0, remaining * PERIOD_S / burn["1h"])
    return {"now": ratios, "page": page, "ticket": ticket, "remaining": remaining, "exhaustion_s": exhaustion}


def run_pandas(bad: np.ndarray, total: np.ndarray, objectives: np.ndarray) -> dict[str, np.ndarray]:
    """The baseline: pandas rolling sums per window over a minutes x SLOs frame."""
    b, t = pd.DataFrame(bad.T), pd.DataFrame(total.T)
    ratios = {}
    for w, secs in WINDOWS.items():
        k = max(1, int(round(secs / STEP_S)))
        ratios[w] = b.rolling(k, min_periods=1).sum() / t.rolling(k, min_periods=1).sum()
    eb = 1.0 - objectives
    page = np.zeros_like(bad.T, dtype=bool)
    ticket = np.zeros_like(bad.T, dtype=bool)
    for sev, factor, long_w, short_w in engine.ALERT_CONDITIONS:
        hit = ((ratios[long_w] > factor * eb) & (ratios[short_w] > factor * eb)).to_numpy()
        if sev == "page":
            page |= hit
        else:
            ticket |= hit
    return {
        "now": {w: r.iloc[-1].to_numpy() for w, r in ratios.items()},
        "page_minutes": page.sum(axis=0),
        "ticket_minutes": ticket.sum(axis=0),
    }


SERVICE_NOW = 1_700_006_400.0  # a whole minute; the store holds the 30 days before it


def slo_file(n: int) -> str:
    """A native SLO file of `n` availability SLOs, one per service, over one shared counter name."""
    lines = ["version: streamverse/v1", "service: bench", "slos:"]
    for i in range(n):
        objective = ("99%", "99.9%", "99.99%")[i % 3]
        lines += [
            f"  - name: svc{i:04d}-availability",
            f"    objective: {objective}",
            "    window: 30d",
            "    indicator:",
            "      ratio:",
            f'        bad: bench_requests_total{{service="svc{i:04d}", code="500"}}',
            f'        total: bench_requests_total{{service="svc{i:04d}"}}',
        ]
    return "\n".join(lines) + "\n"


def fill_store(store: EmbeddedStore, bad: np.ndarray, total: np.ndarray) -> int:
    """Cumulative counters per minute, as a scrape would leave them: code 200 and code 500 per service."""
    minutes = bad.shape[1]
    ts = SERVICE_NOW - STEP_S * np.arange(minutes - 1, -1, -1)
    for i in range(bad.shape[0]):
        svc = f"svc{i:04d}"
        store.write_arrays("bench_requests_total", {"service": svc, "code": "500"}, ts, np.cumsum(bad[i]))
        store.write_arrays("bench_requests_total", {"service": svc, "code": "200"}, ts,
                           np.cumsum(total[i] - bad[i]))
        if i % 50 == 49:
            store.flush()  # bounded memory: ~4 M samples in the head at a time
    store.flush()
    return 2 * bad.shape[0] * minutes


def service_status(
    bad: np.ndarray, total: np.ndarray, data_dir: Path, repeats: int
) -> dict[str, object]:
    """`slo status` for every SLO through loader + service + EmbeddedStore; checked against the arrays."""
    n = bad.shape[0]
    path = data_dir / f"slo-bench-{n}x{bad.shape[1]}.db"
    reused = path.exists()
    store = EmbeddedStore.at_path(path, flush_samples=10_000_000)
    t0 = time.perf_counter()
    samples = 0 if reused else fill_store(store, bad, total)
    ingest_s = time.perf_counter() - t0
    slo_path = data_dir / "bench-slos.yaml"
    slo_path.write_text(slo_file(n))
    loaded = loader.load_files([slo_path])
    if loaded.errors or len(loaded.slos) != n:
        raise SystemExit(f"generated SLO file did not load: {loaded.errors[:3]}")
    runs: list[float] = []
    while len(runs) < repeats and sum(runs) < 60:  # one run when a run takes minutes
        t0 = time.perf_counter()
        out = service.status(loaded.slos, store, now=SERVICE_NOW)
        runs.append(time.perf_counter() - t0)
    if out["errors"]:
        raise SystemExit(f"slo status reported errors: {out['errors'][:3]}")
    # The service's period ratio must equal the arrays' (first minute excluded: no prior sample).
    got = np.array([row["error_ratio"]["period"] for row in out["slos"]])
    want = bad[:, 1:].sum(axis=1) / total[:, 1:].sum(axis=1)
    return {
        "status_service_s": round(statistics.median(runs), 3),
        "status_service_runs_s": [round(x, 3) for x in runs],
        "status_service_rows": len(out["slos"]),
        "status_service_max_abs_diff": float(np.nanmax(np.abs(got - want))),
        "status_store_samples": samples if not reused else "reused",
        "status_store_ingest_s": round(ingest_s, 1) if not reused else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100 SLOs, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, help="keep the service bench's store here and reuse it")
    ap.add_argument("--skip-service", action="store_true", help="only the array engine vs pandas")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    n = 100 if args.quick else 1000
    repeats = 1 if args.quick else args.repeats
    minutes = int(PERIOD_S // STEP_S)
    bad, total, objectives = make_data(n, minutes)
    walls, pwalls, twalls = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        now = run_status(bad, total, objectives)
        walls.append(time.perf_counter() - t0)
    tcpu, pcpu = [], []  # CPU seconds too: on a shared machine they vary less than wall time
    for _ in range(repeats):  # interleaved: machine load hits both alike
        t0, c0 = time.perf_counter(), time.process_time()
        ours = run_engine(bad, total, objectives)
        twalls.append(time.perf_counter() - t0)
        tcpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        base = run_pandas(bad, total, objectives)
        pwalls.append(time.perf_counter() - t0)
        pcpu.append(time.process_time() - c0)
    diff = max(
        max(
            float(np.nanmax(np.abs(now["now"][w] - base["now"][w]))),
            float(np.nanmax(np.abs(ours["now"][w] - base["now"][w]))),
        )
        for w in WINDOWS
    )
    alert_diff = int(
        np.abs(ours["page_minutes"] - base["page_minutes"]).max()
        + np.abs(ours["ticket_minutes"] - base["ticket_minutes"]).max()
    )
    wall, pwall, twall = statistics.median(walls), statistics.median(pwalls), statistics.median(twalls)
    result: dict[str, object] = {
        "slos": n,
        "minutes": minutes,
        "windows": list(WINDOWS),
        "timeline_wall_s": round(twall, 4),
        "pandas_wall_s": round(pwall, 4),
        "timeline_ratio": round(pwall / twall, 2),
        "timeline_runs_s": [round(x, 3) for x in twalls],
        "pandas_runs_s": [round(x, 3) for x in pwalls],
        "timeline_cpu_ratio": round(statistics.median(pcpu) / statistics.median(tcpu), 2),
        "max_abs_diff": diff,
        "alert_minutes_diff": alert_diff,
        "page_minutes_total": int(ours["page_minutes"].sum()),
        "wall_s": round(wall, 4),
        "wall_s_is": "array engine, current values only, arrays in memory (not compared with pandas)",
        "paging_now": int(now["page"].sum()),
        "timeline_ratio_target": 10.0,
    }
    if not args.skip_service:
        with tempfile.TemporaryDirectory(prefix="sv-bench-slo-") as tmp:
            data_dir = args.data_dir or Path(tmp)
            data_dir.mkdir(parents=True, exist_ok=True)
            result.update(service_status(bad, total, data_dir, repeats))
        result["status_service_target_s"] = 1.0
        result["meets_target"] = bool(
            result["timeline_ratio"] >= 10.0 and result["status_service_s"] <= 1.0  # type: ignore[operator]
        )
    result["load_avg_1m"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]  # shared 2-core machine
    print(json.dumps(result))

if __name__ == "__main__":
    main()
