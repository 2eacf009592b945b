"""Benchmark: 1,000 SLOs x 30 days at 1-minute resolution, burn rates over every window.

`wall_s` is what `slo status` does for 1,000 SLOs: from 30 days of per-minute events, the
error ratio and burn rate over every window (5m ... 3d and the 30-day period), budget,
page/ticket state and exhaustion forecast, now. Side by side in the same run, a
straightforward pandas `rolling(window).sum()` implementation of the same math (its last
row); the two must agree. `timeline_wall_s` is the engine computing every window at every
minute of the month plus the alert conditions at every minute (the alert history), checked
against pandas too. Prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd

from streamverse.slo import engine

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
    bad: np.ndarray, total: np.ndarray, objectives: np.ndarray, block: int = 32
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100 SLOs, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = 100 if args.quick else 1000
    repeats = 1 if args.quick else args.repeats
    minutes = int(PERIOD_S // STEP_S)
    bad, total, objectives = make_data(n, minutes)
    walls, pwalls, twalls = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        now = run_status(bad, total, objectives)
        walls.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ours = run_engine(bad, total, objectives)
    twalls.append(time.perf_counter() - t0)
    for _ in range(1 if args.quick else min(repeats, 2)):
        t0 = time.perf_counter()
        base = run_pandas(bad, total, objectives)
        pwalls.append(time.perf_counter() - t0)
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
    wall, pwall = statistics.median(walls), statistics.median(pwalls)
    print(
        json.dumps(
            {
                "slos": n,
                "minutes": minutes,
                "windows": list(WINDOWS),
                "wall_s": round(wall, 4),
                "pandas_wall_s": round(pwall, 4),
                "ratio": round(pwall / wall, 2),
                "timeline_wall_s": round(twalls[0], 4),
                "timeline_ratio": round(pwall / twalls[0], 2),
                "paging_now": int(now["page"].sum()),
                "max_abs_diff": diff,
                "alert_minutes_diff": alert_diff,
                "page_minutes_total": int(ours["page_minutes"].sum()),
                "target_s": 1.0,
                "meets_target": wall <= 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
