"""The SLO math as pure functions over arrays: SLI, error budget, burn rates, alerts, forecast.

Inputs are bad and total events per time step (shape (T,) or (n_slos, T)), so the same
functions serve `slo status`, the SLA report and the benchmark. A window with no events is
no data (NaN), never 100%: an empty window says nothing about reliability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WINDOWS: dict[str, float] = {
    "5m": 300.0,
    "30m": 1800.0,
    "1h": 3600.0,
    "2h": 7200.0,
    "6h": 21600.0,
    "1d": 86400.0,
    "3d": 259200.0,
}
# Google SRE workbook, chapter 5: (severity, burn factor, long window, short window).
ALERT_CONDITIONS: tuple[tuple[str, float, str, str], ...] = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 3.0, "1d", "2h"),
    ("ticket", 1.0, "3d", "6h"),
)
Conditions = tuple[tuple[str, float, str, str], ...]  # per-SLO: windows.alert_conditions(slo)
AT_RISK_REMAINING = 0.25  # below a quarter of the budget left, releases need sign-off


def trailing_sum(x: np.ndarray, steps: int) -> np.ndarray:
    """Sum of the last `steps` values at every step (fewer at the start), along the last axis."""
    c = np.cumsum(x, axis=-1)
    if steps >= x.shape[-1]:
        return c
    out = c.copy()
    out[..., steps:] -= c[..., :-steps]
    return out


def error_ratio(bad: Any, total: Any) -> Any:
    """bad / total; NaN where there were no events (no data, not 0% errors)."""
    b, t = np.asarray(bad, dtype=float), np.asarray(total, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(t > 0, b / np.where(t > 0, t, 1.0), np.nan)
    return out if out.ndim else float(out)


def burn_rate(ratio: Any, objective: float | np.ndarray) -> Any:
    """How many times faster than allowed the budget is spent: error ratio / (1 - objective)."""
    return np.asarray(ratio, dtype=float) / (1.0 - np.asarray(objective, dtype=float))


def sli(bad: Any, total: Any) -> Any:
    """The good ratio, 1 - error ratio; NaN with no events."""
    return 1.0 - error_ratio(bad, total)


def window_steps(window_s: float, step_s: float) -> int:
    """Steps in a window, at least one."""
    return max(1, int(round(window_s / step_s)))


def window_ratios(
    bad: np.ndarray, total: np.ndarray, *, step_s: float, windows: Mapping[str, float] = WINDOWS
) -> dict[str, np.ndarray]:
    """Error ratio over each trailing window at every step: {window: array like bad}.

    Written with `out=` buffers: at 1,000 SLOs x 30 days of minutes every extra temporary
    array is a pass over memory, and this is the hot loop of the alert history.
    """
    cb, ct = np.cumsum(bad, axis=-1, dtype=float), np.cumsum(total, axis=-1, dtype=float)
    n = cb.shape[-1]
    wt = np.empty_like(ct)  # scratch: each window's totals, only needed for its division
    out = {}
    for name, secs in windows.items():
        k = window_steps(secs, step_s)
        wb = cb.copy() if k >= n else np.empty_like(cb)
        if k >= n:
            wt[...] = ct
        else:
            wb[..., :k], wt[..., :k] = cb[..., :k], ct[..., :k]
            np.subtract(cb[..., k:], cb[..., :-k], out=wb[..., k:])
            np.subtract(ct[..., k:], ct[..., :-k], out=wt[..., k:])
        # No events in the window is no data, not 0% errors: 0/0 is NaN already; only a window
        # with bad but no total (a broken series) needs the mask, so look for one first.
        broken = wt.size and wt.min() <= 0
        empty = wt <= 0 if broken else None
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(wb, wt, out=wb)
        if empty is not None:
            wb[empty] = np.nan
        out[name] = wb
    return out


def last_window_sums(
    bad: np.ndarray, total: np.ndarray, *, step_s: float, windows: Mapping[str, float]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(bad, total) over each trailing window ending at the last step; only the tail is read."""
    return {
        name: (
            np.nansum(bad[..., -window_steps(s, step_s) :], axis=-1),
            np.nansum(total[..., -window_steps(s, step_s) :], axis=-1),
        )
        for name, s in windows.items()
    }


def alert_state(burn: Mapping[str, float], conditions_of: Conditions = ALERT_CONDITIONS) -> dict[str, Any]:
    """The multiwindow multi-burn-rate conditions; a window without data never fires."""
    conditions = []
    firing = {"page": False, "ticket": False}
    for severity, factor, long_w, short_w in conditions_of:
        lb, sb = burn.get(long_w, math.nan), burn.get(short_w, math.nan)
        hit = bool(lb > factor and sb > factor)  # NaN compares False
        firing[severity] |= hit
        conditions.append(
            {
                "severity": severity,
                "factor": factor,
                "long_window": long_w,
                "short_window": short_w,
                "long_burn": lb,
                "short_burn": sb,
                "firing": hit,
            }
        )
    return {**firing, "conditions": conditions}


def alert_series(
    ratios: Mapping[str, np.ndarray], objective: float | np.ndarray, conditions: Conditions = ALERT_CONDITIONS
) -> dict[str, np.ndarray]:
    """Page and ticket conditions at every step, from `window_ratios` output."""
    eb = 1.0 - np.asarray(objective, dtype=float)
    if np.ndim(eb):
        eb = eb[:, None]
    out = {}
    for severity in ("page", "ticket"):
        fire = None
        for sev, factor, long_w, short_w in conditions:
            if sev != severity:
                continue
            with np.errstate(invalid="ignore"):
                hit = (ratios[long_w] > factor * eb) & (ratios[short_w] > factor * eb)
            fire = hit if fire is None else fire | hit
        out[severity] = fire
    return out


def exhaustion_s(remaining: float, burn_now: float, period_s: float) -> float | None:
    """Seconds until the budget is gone at the current burn; 0 when spent, None when not burning."""
    if math.isnan(remaining) or math.isnan(burn_now):
        return None
    if remaining <= 0:
        return 0.0
    if burn_now <= 0:
        return None
    return remaining * period_s / burn_now


def policy_state(remaining: float, *, page: bool, ticket: bool) -> dict[str, str]:
    """The error-budget policy: what engineering may ship given what is left."""
    if math.isnan(remaining):
        return {
            "state": "no-data",
            "action": "no events in the period: fix the telemetry before trusting this SLO",
        }
    if remaining <= 0:
        return {
            "state": "frozen",
            "action": "freeze releases: only reliability fixes ship until the budget recovers",
        }
    if page or ticket or remaining < AT_RISK_REMAINING:
        return {
            "state": "at-risk",
            "action": "slow down: releases need SRE sign-off; prioritise reliability work",
        }
    return {"state": "healthy", "action": "ship as planned"}


@dataclass
class BudgetFigures:
    """Error budget over the SLO period, as ratios, events and minutes."""

    objective: float
    period_s: float
    bad: float
    total: float
    sli: float
    total_ratio: float = field(init=False)
    consumed_ratio: float = field(init=False)
    remaining_ratio: float = field(init=False)
    allowed_events: float = field(init=False)
    remaining_events: float = field(init=False)
    allowed_minutes: float = field(init=False)
    consumed_minutes: float = field(init=False)
    remaining_minutes: float = field(init=False)

    def __post_init__(self) -> None:
        eb = 1.0 - self.objective
        self.total_ratio = eb
        er = 1.0 - self.sli
        self.consumed_ratio = er / eb if not math.isnan(er) else math.nan
        self.remaining_ratio = 1.0 - self.consumed_ratio
        self.allowed_events = eb * self.total if self.total > 0 else math.nan
        self.remaining_events = self.allowed_events - self.bad
        self.allowed_minutes = eb * self.period_s / 60.0
        self.consumed_minutes = self.consumed_ratio * self.allowed_minutes
        self.remaining_minutes = self.allowed_minutes - self.consumed_minutes


def budget(bad: float, total: float, *, objective: float, period_s: float) -> BudgetFigures:
    """Budget figures for a period's bad and total events."""
    return BudgetFigures(
        objective=objective, period_s=period_s, bad=float(bad), total=float(total), sli=float(sli(bad, total))
    )


def evaluate(
    bad: np.ndarray, total: np.ndarray, *, objective: float, step_s: float, period_s: float | None = None,
    conditions: Conditions = ALERT_CONDITIONS,
) -> dict[str, Any]:
    """Everything about one SLO now, from its per-step events over the period (last step = now)."""
    bad = np.nan_to_num(np.asarray(bad, dtype=float))
    total = np.nan_to_num(np.asarray(total, dtype=float))
    period_s = period_s if period_s is not None else len(total) * step_s
    windows = {**WINDOWS, "period": period_s}
    sums = last_window_sums(bad, total, step_s=step_s, windows=windows)
    ratios = {w: float(error_ratio(b, t)) for w, (b, t) in sums.items()}
    burn = {w: float(burn_rate(r, objective)) for w, r in ratios.items()}
    pb, pt = sums["period"]
    fig = budget(float(pb), float(pt), objective=objective, period_s=period_s)
    alerts = alert_state(burn, conditions)
    current = burn["1h"] if not math.isnan(burn["1h"]) else burn["period"]
    return {
        "sli": fig.sli,
        "objective": objective,
        "bad": fig.bad,
        "total": fig.total,
        "error_ratio": ratios,
        "burn_rate": burn,
        "error_budget": {
            "total_ratio": fig.total_ratio,
            "consumed_ratio": fig.consumed_ratio,
            "remaining_ratio": fig.remaining_ratio,
            "allowed_events": fig.allowed_events,
            "remaining_events": fig.remaining_events,
            "allowed_minutes": fig.allowed_minutes,
            "consumed_minutes": fig.consumed_minutes,
            "remaining_minutes": fig.remaining_minutes,
        },
        "alerts": alerts,
        "exhaustion_s": exhaustion_s(fig.remaining_ratio, current, period_s),
        "policy": policy_state(fig.remaining_ratio, page=alerts["page"], ticket=alerts["ticket"]),
    }


def evaluate_ratios(
    ratios: Mapping[str, float],
    *,
    objective: float,
    period_s: float,
    conditions: Conditions = ALERT_CONDITIONS,
) -> dict[str, Any]:
    """Like `evaluate` when only error ratios per window are known (raw-query SLOs): no event counts."""
    er = {w: float(ratios.get(w, math.nan)) for w in [*WINDOWS, "period"]}
    burn = {w: float(burn_rate(r, objective)) for w, r in er.items()}
    fig = BudgetFigures(
        objective=objective, period_s=period_s, bad=math.nan, total=math.nan, sli=1.0 - er["period"]
    )
    alerts = alert_state(burn, conditions)
    current = burn["1h"] if not math.isnan(burn["1h"]) else burn["period"]
    return {
        "sli": fig.sli,
        "objective": objective,
        "bad": None,
        "total": None,
        "error_ratio": er,
        "burn_rate": burn,
        "error_budget": {
            "total_ratio": fig.total_ratio,
            "consumed_ratio": fig.consumed_ratio,
            "remaining_ratio": fig.remaining_ratio,
            "allowed_events": None,
            "remaining_events": None,
            "allowed_minutes": fig.allowed_minutes,
            "consumed_minutes": fig.consumed_minutes,
            "remaining_minutes": fig.remaining_minutes,
        },
        "alerts": alerts,
        "exhaustion_s": exhaustion_s(fig.remaining_ratio, current, period_s),
        "policy": policy_state(fig.remaining_ratio, page=alerts["page"], ticket=alerts["ticket"]),
    }


def timeslices(
    bad: np.ndarray, total: np.ndarray, *, slice_target: float, slice_steps: int = 1, ratio: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step events turned into time slices of `slice_steps` steps, each counted at its last step.

    A slice with events is one total event; it is bad when its good ratio is below target, or,
    with `ratio` (OpenSLO RatioTimeslices), it counts its error ratio as its share of bad.
    Slices are laid from the last step back, so the newest slice is whole.
    """
    t = np.nan_to_num(np.asarray(total, dtype=float))
    b = np.nan_to_num(np.asarray(bad, dtype=float))
    if slice_steps > 1:
        ends = np.arange(t.shape[-1] - 1, -1, -slice_steps)[::-1]
        tb, bb = trailing_sum(t, slice_steps)[..., ends], trailing_sum(b, slice_steps)[..., ends]
        t_out, b_out = np.zeros_like(t), np.zeros_like(b)
        sliced_b, sliced_t = timeslices(bb, tb, slice_target=slice_target, ratio=ratio)
        b_out[..., ends], t_out[..., ends] = sliced_b, sliced_t
        return b_out, t_out
    er = error_ratio(b, t)
    with np.errstate(invalid="ignore"):
        bad_slice = np.where(t > 0, er, 0.0) if ratio else ((t > 0) & (1.0 - er < slice_target)).astype(float)
    return np.asarray(bad_slice, dtype=float), (t > 0).astype(float)
