"""The SLO math on plain lists: budgets, burn rates, alert conditions, no data as no data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamverse.slo import engine


def test_error_ratio_no_events_is_nan_not_perfect() -> None:
    assert math.isnan(engine.error_ratio(0, 0))
    assert math.isnan(engine.sli(0.0, 0.0))
    out = engine.evaluate([0, 0, 0], [0, 0, 0], objective=0.999, step_s=60)
    assert math.isnan(out["sli"])
    assert out["policy"]["state"] == "no-data"
    assert not out["alerts"]["page"]


def test_budget_in_minutes_and_events() -> None:
    period = 30 * 86400.0
    fig = engine.budget(bad=5, total=100_000, objective=0.9999, period_s=period)
    assert fig.allowed_minutes == pytest.approx(4.32)
    assert fig.allowed_events == pytest.approx(10.0)
    assert fig.consumed_ratio == pytest.approx(0.5)
    assert fig.remaining_events == pytest.approx(5.0)
    assert fig.remaining_minutes == pytest.approx(2.16)


def test_burn_rate_windows_on_a_list() -> None:
    # 60 clean minutes then 5 minutes where 10% of 100 requests fail, objective 99%.
    total = [100.0] * 65
    bad = [0.0] * 60 + [10.0] * 5
    out = engine.evaluate(bad, total, objective=0.99, step_s=60)
    assert out["burn_rate"]["5m"] == pytest.approx(10.0)
    assert out["burn_rate"]["30m"] == pytest.approx(50 / 3000 / 0.01)
    assert out["burn_rate"]["1h"] == pytest.approx(50 / 6000 / 0.01)
    assert out["burn_rate"]["period"] == pytest.approx(50 / 6500 / 0.01)


def test_page_needs_both_windows() -> None:
    assert engine.alert_state({"1h": 20, "5m": 20})["page"]
    assert not engine.alert_state({"1h": 20, "5m": 1})["page"]
    assert not engine.alert_state({"1h": float("nan"), "5m": 100})["page"]
    assert engine.alert_state({"6h": 7, "30m": 7})["page"]
    t = engine.alert_state({"1d": 3.5, "2h": 3.5})
    assert t["ticket"] and not t["page"]
    assert engine.alert_state({"3d": 1.2, "6h": 1.2})["ticket"]


def test_exhaustion_and_policy() -> None:
    assert engine.exhaustion_s(0.5, 2.0, 30 * 86400) == pytest.approx(7.5 * 86400)
    assert engine.exhaustion_s(-0.1, 2.0, 100) == 0.0
    assert engine.exhaustion_s(0.5, 0.0, 100) is None
    assert engine.policy_state(-0.01, page=False, ticket=False)["state"] == "frozen"
    assert engine.policy_state(0.9, page=True, ticket=False)["state"] == "at-risk"
    assert engine.policy_state(0.9, page=False, ticket=False)["state"] == "healthy"


def test_alert_series_matches_pointwise_state() -> None:
    rng = np.random.default_rng(3)
    total = rng.integers(50, 100, size=(2, 3000)).astype(float)
    bad = np.zeros_like(total)
    bad[0, 2000:2100] = total[0, 2000:2100]
    ratios = engine.window_ratios(bad, total, step_s=60)
    series = engine.alert_series(ratios, np.array([0.999, 0.999]))
    for t in (1999, 2001, 2050, 2200, 2999):
        state = engine.alert_state({w: float(r[0, t]) / 0.001 for w, r in ratios.items()})
        assert bool(series["page"][0, t]) == state["page"]
        assert bool(series["ticket"][0, t]) == state["ticket"]
    assert not series["page"][1].any()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=400),
    st.sampled_from([0.9, 0.99, 0.999]),
)
def test_windows_equal_brute_force(pairs: list[tuple[int, int]], objective: float) -> None:
    bad = np.array([min(b, t) for b, t in pairs], dtype=float)
    total = np.array([t for _, t in pairs], dtype=float)
    ratios = engine.window_ratios(bad, total, step_s=60)
    for name, secs in engine.WINDOWS.items():
        k = int(secs // 60)
        for t in (0, len(bad) // 2, len(bad) - 1):
            b, tt = bad[max(0, t - k + 1) : t + 1].sum(), total[max(0, t - k + 1) : t + 1].sum()
            got = ratios[name][t]
            if tt == 0:
                assert math.isnan(got)
            else:
                assert got == pytest.approx(b / tt)
                assert 0.0 <= got <= 1.0
    out = engine.evaluate(bad, total, objective=objective, step_s=60)
    if total.sum() > 0:
        assert out["error_budget"]["consumed_ratio"] + out["error_budget"][
            "remaining_ratio"
        ] == pytest.approx(1.0)
        assert out["burn_rate"]["period"] == pytest.approx(bad.sum() / total.sum() / (1 - objective))
