"""Evaluate SLOs against a MetricStore; the same code for the embedded store and Prometheus.

The store answers PromQL (`query_range`/`query`); events per step go to the pure engine.
A missing series or an unreachable backend is reported as no data with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from streamverse.clock import utc_iso
from streamverse.metricstore import MetricStore
from streamverse.slo import engine, periods
from streamverse.slo.models import SLO
from streamverse.slo.queries import events_exprs, window_ratio_expr
from streamverse.slo.rules import windows as rule_windows
from streamverse.slo.windows import alert_conditions

MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series and query
SliceKey = tuple[tuple[str, str], ...]


@dataclass
class Events:
    """Bad and total events per step for one slice of one SLO (the aggregate has no labels)."""

    labels: dict[str, str]
    bad: np.ndarray
    total: np.ndarray


def period_bounds(slo: SLO, now: float) -> tuple[float, float]:
    """(start, seconds) of the SLO period ending now: rolling window, or this calendar period so far."""
    return periods.period_bounds(slo, now)


def _grid(start: float, end: float, step: float) -> np.ndarray:
    first = math.ceil(start / step) * step
    return np.arange(first, end + step / 2, step)


def _range(
    store: MetricStore, expr: str, grid: np.ndarray, step: float,
) -> tuple[dict[SliceKey, np.ndarray], dict]:
    """Values of an expression on the grid, one array per label set (NaN where absent)."""
    out: dict[SliceKey, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    for i in range(0, len(grid), MAX_POINTS):
        part = grid[i : i + MAX_POINTS]
        df: pd.DataFrame = store.query_range(expr, float(part[0]), float(part[-1]), step)
        attrs.update(df.attrs)
        if df.empty:
            continue
        label_cols = [c for c in df.columns if c not in ("timestamp", "value", "__name__")]
        idx = np.clip(
            np.round((df["timestamp"].to_numpy() - grid[0]) / step).astype(np.int64), 0, len(grid) - 1
        )
        vals = df["value"].to_numpy(dtype=float)
        codes, uniques = _slice_codes(df, label_cols)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        for k, key in enumerate(uniques):
            arr = out.get(tuple(zip(label_cols, key, strict=True)))
            if arr is None:
                arr = out[tuple(zip(label_cols, key, strict=True))] = np.full(len(grid), np.nan)
            rows = order[bounds[k] : bounds[k + 1]]
            arr[idx[rows]] = vals[rows]
    return out, attrs


def _slice_codes(df: pd.DataFrame, label_cols: list[str]) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per row, the index of its label set; the label sets (as strings) in order of first appearance.

    Factorizes column by column: zipping label columns row by row costs seconds on 30 days of data.
    """
    if not label_cols:
        return np.zeros(len(df), dtype=np.int64), [()]
    combined = np.zeros(len(df), dtype=np.int64)
    size = 1
    for c in label_cols:
        col_codes, col_uniques = pd.factorize(df[c], use_na_sentinel=False)
        if size * max(len(col_uniques), 1) > 2**62:  # keep the mixed code in range
            combined = np.unique(combined, return_inverse=True)[1].astype(np.int64)
            size = int(combined.max()) + 1
        combined = combined * len(col_uniques) + col_codes
        size *= max(len(col_uniques), 1)
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    by_appearance = np.argsort(first, kind="stable")
    rank = np.empty_like(by_appearance)
    rank[by_appearance] = np.arange(len(by_appearance))
    firsts = first[by_appearance]
    columns = [df[c].iloc[firsts].astype(str).tolist() for c in label_cols]
    return rank[inverse.ravel()].astype(np.int64), list(zip(*columns, strict=True))


def _increments(cum: np.ndarray) -> np.ndarray:
    """Per-step increase of a cumulative sum; a drop (a counter restart) counts as no increase."""
    filled = pd.Series(cum).ffill().to_numpy()
    inc = np.diff(filled, prepend=np.nan)
    inc[np.isnan(inc)] = 0.0
    return np.maximum(inc, 0.0)


def fetch_events(
    slo: SLO, store: MetricStore, *, start: float, end: float, step: float,
) -> tuple[list[Events], dict]:
    """Events per step in (start, end] for every slice, the aggregate first; [] for query SLOs."""
    exprs = events_exprs(slo)
    if exprs is None:
        return [], {}
    first_expr, total_expr, which = exprs
    grid = _grid(start - step if which != "bad-slices" else start, end, step)
    totals, attrs = _range(store, total_expr, grid, step)
    firsts, _ = _range(store, first_expr, grid, step)
    n = len(grid) - (0 if which == "bad-slices" else 1)
    if slo.indicator.kind == "latency" and totals and not firsts:
        raise ValueError(f"{slo.indicator.histogram} has no bucket at le={slo.indicator.threshold:g}: "
                         "a latency threshold must be one of the histogram's bucket bounds")
    slices: list[Events] = []
    for key, tot in totals.items():
        other = firsts.get(key)
        if which == "bad-slices":
            total = np.nan_to_num(tot)
            bad = np.nan_to_num(other) if other is not None else np.zeros_like(total)
        else:
            total = _increments(tot)[1:]
            part = _increments(other)[1:] if other is not None else np.zeros(n)
            bad = part if which == "bad" else np.maximum(total - part, 0.0)
        if slo.budgeting != "occurrences" and which != "bad-slices":
            bad, total = engine.timeslices(
                bad, total, slice_target=slo.timeslice_target or slo.objective,
                slice_steps=engine.window_steps(slo.timeslice_window_s, step),
                ratio=slo.budgeting == "ratio_timeslices",
            )
        slices.append(Events(dict(key), bad, total))
    if not slo.slice_by:
        return slices[:1], attrs
    agg = Events(
        {},
        np.sum([s.bad for s in slices], axis=0) if slices else np.zeros(n),
        np.sum([s.total for s in slices], axis=0) if slices else np.zeros(n),
    )
    return [agg, *sorted(slices, key=lambda s: tuple(s.labels.items()))], attrs


def _query_ratios(slo: SLO, store: MetricStore, at: float) -> tuple[dict[SliceKey, dict[str, float]], dict]:
    """Error ratio per window and slice, for raw-query SLOs that cannot be re-windowed."""
    period = rule_windows(slo)[-1]
    out: dict[SliceKey, dict[str, float]] = {}
    attrs: dict[str, Any] = {}
    for w in [*engine.WINDOWS, period]:
        df = store.query(" ".join(window_ratio_expr(slo, w).split()), at)
        attrs.update(df.attrs)
        label_cols = [c for c in df.columns if c not in ("timestamp", "value", "__name__")]
        for _, row in df.iterrows():
            key = tuple((c, str(row[c])) for c in label_cols)
            out.setdefault(key, {})["period" if w == period else w] = float(row["value"])
    return out, attrs


def _describe(slo: SLO, labels: dict[str, str], result: dict[str, Any], now: float, attrs: dict) -> dict:
    exh = result.get("exhaustion_s")
    if slo.disabled_alerts:  # `alerting: {page: false}`: the condition is shown, nobody is paged
        alerts = dict(result["alerts"])
        for kind in slo.disabled_alerts:
            alerts[f"{kind}_condition"] = alerts.get(kind, False)
            alerts[kind] = False
        alerts["disabled"] = list(slo.disabled_alerts)
        result = {**result, "alerts": alerts,
                  "policy": engine.policy_state(result["error_budget"]["remaining_ratio"],
                                                page=alerts["page"], ticket=alerts["ticket"])}
    return {
        "id": slo.id,
        "service": slo.service,
        "name": slo.name,
        "slice": labels,
        "description": slo.description,
        "window": periods.describe(slo),
        "budgeting": slo.budgeting,
        **result,
        "exhausts_at": utc_iso(now + exh) if exh is not None and math.isfinite(exh) else None,
        "data": {k: attrs.get(k) for k in ("backend", "reachable", "stale", "age_s") if k in attrs},
    }


def evaluate_slo(slo: SLO, store: MetricStore, *, now: float, step: float = 60.0) -> list[dict[str, Any]]:
    """Status of one SLO (aggregate and each slice) at `now`."""
    end = math.floor(now / step) * step
    start, period_s = period_bounds(slo, end)
    if slo.indicator.kind == "query":
        ratios, attrs = _query_ratios(slo, store, end)
        if not ratios:
            return [_no_data(slo, "the queries returned no series", end, attrs)]
        return [
            _describe(
                slo,
                dict(k),
                engine.evaluate_ratios(r, objective=slo.objective, period_s=period_s,
                                       conditions=alert_conditions(slo)),
                end,
                attrs,
            )
            for k, r in sorted(ratios.items())
        ]
    events, attrs = fetch_events(slo, store, start=start, end=end, step=step)
    if not events:
        expr = events_exprs(slo)
        reason = (
            "metric store unreachable"
            if attrs.get("reachable") is False
            else f"no series match {expr[1] if expr else slo.id} in the metric store (unknown metric?)"
        )
        return [_no_data(slo, reason, end, attrs)]
    return [
        _describe(
            slo,
            ev.labels,
            _evaluate_events(slo, ev, step=step, period_s=period_s),
            end,
            attrs,
        )
        for ev in events
    ]


def _evaluate_events(slo: SLO, ev: Events, *, step: float, period_s: float) -> dict[str, Any]:
    """engine.evaluate; with `period_ratio: sloth` the period is Sloth's mean of 5m ratios instead."""
    conditions = alert_conditions(slo)
    out = engine.evaluate(ev.bad, ev.total, objective=slo.objective, step_s=step, period_s=period_s,
                          conditions=conditions)
    if slo.period_ratio != "sloth":
        return out
    r5 = engine.window_ratios(np.nan_to_num(ev.bad), np.nan_to_num(ev.total), step_s=step,
                              windows={"5m": 300.0})["5m"]
    tail = r5[-engine.window_steps(period_s, step):]
    er = float(np.nanmean(tail)) if np.isfinite(tail).any() else math.nan
    fig = engine.BudgetFigures(objective=slo.objective, period_s=period_s, bad=out["bad"], total=out["total"],
                               sli=1.0 - er)
    burn = {**out["burn_rate"], "period": float(engine.burn_rate(er, slo.objective))}
    budget = {
        **out["error_budget"],
        "consumed_ratio": fig.consumed_ratio,
        "remaining_ratio": fig.remaining_ratio,
        "consumed_minutes": fig.consumed_minutes,
        "remaining_minutes": fig.remaining_minutes,
    }
    current = burn["1h"] if not math.isnan(burn["1h"]) else burn["period"]
    return {
        **out, "sli": fig.sli, "error_ratio": {**out["error_ratio"], "period": er}, "burn_rate": burn,
        "error_budget": budget, "exhaustion_s": engine.exhaustion_s(fig.remaining_ratio, current, period_s),
        "policy": engine.policy_state(fig.remaining_ratio, page=out["alerts"]["page"],
                                      ticket=out["alerts"]["ticket"]),
    }


def _no_data(slo: SLO, reason: str, now: float, attrs: dict) -> dict[str, Any]:
    res = engine.evaluate(
        np.zeros(1), np.zeros(1), objective=slo.objective, step_s=60.0, period_s=slo.window_s
    )
    return {**_describe(slo, {}, res, now, attrs), "message": reason}


def _selectors(slo: SLO) -> list[tuple[str, str]]:
    """(field, selector) of every plain series selector an indicator names."""
    ind = slo.indicator
    out = [(f"indicator.{ind.kind}.{name}", sel) for name, sel in
           (("good", ind.good), ("bad", ind.bad), ("total", ind.total)) if sel]
    if ind.histogram:
        base, brace, rest = ind.histogram.partition("{")
        out.append((f"indicator.{ind.kind}.histogram", f"{base}_count{brace}{rest}"))
    return out


def unknown_metrics(slo: SLO, store: MetricStore) -> list[dict[str, str]]:
    """Selectors of an SLO that match no series in the store: a typo, or telemetry that never arrived.

    They are reported as errors naming file, line and field, not silently as "no data".
    """
    problems = []
    for field, selector in _selectors(slo):
        name = selector.split("{", 1)[0].strip()
        try:
            # The bare name: a matcher that selects nothing yet (no 5xx so far) is zero events, not a typo.
            found = store.series(name)
        except Exception:  # noqa: BLE001 - a selector the store cannot parse is reported by evaluation
            continue
        if not found:
            problems.append({
                "id": slo.id, "file": slo.source_file, "line": str(slo.source_line or ""), "field": field,
                "message": f"unknown metric {name!r}: no series named so in the "
                           f"{getattr(store, 'backend', 'metric')} store (check the name, or the telemetry)",
            })
    return problems


def status(slos: Sequence[SLO], store: MetricStore, *, now: float, step: float = 60.0) -> dict[str, Any]:
    """Every SLO's status now; one failing SLO is reported and the others still evaluate."""
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for slo in slos:
        try:
            errors.extend(unknown_metrics(slo, store))
            rows.extend(evaluate_slo(slo, store, now=now, step=step))
        except Exception as exc:  # noqa: BLE001 - one SLO's bad query must not hide the rest
            errors.append(
                {
                    "id": slo.id,
                    "file": slo.source_file,
                    "line": str(slo.source_line or ""),
                    "message": str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                }
            )
    return {
        "at": utc_iso(now),
        "backend": getattr(store, "backend", "unknown"),
        "slos": rows,
        "errors": errors,
    }
