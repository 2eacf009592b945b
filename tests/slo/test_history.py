"""SLI per bucket and the error-budget burn-down, from plain numbers."""

from __future__ import annotations

import math

import numpy as np

from streamverse.slo.history import buckets


def test_buckets_end_at_now_and_burn_down_ends_at_the_period_budget():
    bad = np.array([0, 0, 1, 0, 0, 3, 0], dtype=float)
    total = np.full(7, 100.0)
    sli, left, events = buckets(bad, total, objective=0.99, per_bucket=3)
    # 7 steps in buckets of 3: the first bucket is padded at the front, the last ends at now.
    assert events.tolist() == [100.0, 300.0, 300.0]
    assert sli.tolist() == [1.0, 1 - 1 / 300, 1 - 3 / 300]
    # budget left after everything: 1 - (4/700) / 0.01
    assert math.isclose(left[-1], 1 - (4 / 700) / 0.01)
    assert left[0] == 1.0


def test_buckets_without_events_are_gaps_not_zeros():
    sli, left, _ = buckets(np.zeros(4), np.zeros(4), objective=0.999, per_bucket=2)
    assert np.isnan(sli).all() and np.isnan(left).all()
