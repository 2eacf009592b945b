"""Tier boundaries are exact and allocations sum to the total to the cent."""

from __future__ import annotations

import random
from decimal import Decimal

from streamverse.costs.catalog import Tier
from streamverse.costs.incidents import incident_cost, incident_cost_between
from streamverse.costs.tiers import allocate, cumulative_cost, daily_costs, price_of_byte, to_cents

TIERS = [
    Tier(up_to_gb=Decimal(10), usd_per_gb=Decimal("0.085")),
    Tier(up_to_gb=Decimal(50), usd_per_gb=Decimal("0.080")),
    Tier(usd_per_gb=Decimal("0.060")),
]
GB = 10**9


def test_the_byte_at_the_boundary_is_the_lower_tier_and_the_next_byte_the_next_tier() -> None:
    assert cumulative_cost(TIERS, 10 * GB) == Decimal("0.850")
    assert price_of_byte(TIERS, 10 * GB) == Decimal("0.085")
    assert price_of_byte(TIERS, 10 * GB + 1) == Decimal("0.080")
    one_more = cumulative_cost(TIERS, 10 * GB + 1) - cumulative_cost(TIERS, 10 * GB)
    assert one_more == Decimal("0.080") / GB
    assert cumulative_cost(TIERS, 60 * GB) == Decimal("0.85") + Decimal("3.2") + Decimal("0.6")


def test_a_day_straddling_a_boundary_pays_both_tiers() -> None:
    days = daily_costs(TIERS, [6 * GB, 6 * GB, 40 * GB])
    assert days[0] == Decimal("0.510")
    assert days[1] == 4 * Decimal("0.085") + 2 * Decimal("0.080")
    assert days[2] == 38 * Decimal("0.080") + 2 * Decimal("0.060")
    assert sum(days) == cumulative_cost(TIERS, 52 * GB)


def test_allocations_sum_to_the_total_to_the_cent() -> None:
    rng = random.Random(3)
    for _ in range(300):
        total = Decimal(rng.randint(0, 10**9)) / 1000
        weights = {f"pop{i}": rng.random() * 10 ** rng.randint(0, 12) for i in range(rng.randint(1, 40))}
        parts = allocate(total, weights)
        assert sum(parts.values()) == to_cents(total)
        assert all(p == p.quantize(Decimal("0.01")) and p >= 0 for p in parts.values())
    thirds = allocate(Decimal("1.00"), {"a": 1, "b": 1, "c": 1})
    assert sorted(thirds.values()) == [Decimal("0.33"), Decimal("0.33"), Decimal("0.34")]


def test_incident_cost_is_minutes_times_revenue_per_minute() -> None:
    assert incident_cost(downtime_minutes=4.5) == Decimal("450000.00")
    assert incident_cost(downtime_minutes=10, revenue_per_minute_usd=2500, impact_share=0.5) == Decimal(
        "12500.00"
    )
    assert incident_cost_between(started_at=1000.0, resolved_at=1090.0) == Decimal("150000.00")
