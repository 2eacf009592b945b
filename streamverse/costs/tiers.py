"""Tiered volume pricing across a month, in exact decimal money.

A day's bill is the cumulative month price after the day minus before it, so the day on
which the volume crosses a tier pays the lower tier up to the boundary and the next tier
for every byte beyond it: the byte that crosses a boundary is priced at the next tier.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from streamverse.costs.catalog import Tier

BYTES_PER_GB = Decimal(10**9)
CENT = Decimal("0.01")


def cumulative_cost(tiers: Sequence[Tier], total_bytes: int) -> Decimal:
    """The price of the first `total_bytes` of a month (whole bytes; boundaries in decimal GB)."""
    if total_bytes < 0:
        raise ValueError("volume cannot be negative")
    total = Decimal(total_bytes)
    cost = Decimal(0)
    lower = Decimal(0)
    for tier in tiers:
        upper = None if tier.up_to_gb is None else tier.up_to_gb * BYTES_PER_GB
        span = total - lower if upper is None else min(total, upper) - lower
        if span > 0:
            cost += span * tier.usd_per_gb / BYTES_PER_GB
        if upper is None or total <= upper:
            break
        lower = upper
    return cost


def price_of_byte(tiers: Sequence[Tier], n: int) -> Decimal:
    """USD per GB of the n-th byte of the month (1-based): the tier that byte falls in."""
    for tier in tiers:
        if tier.up_to_gb is None or n <= tier.up_to_gb * BYTES_PER_GB:
            return tier.usd_per_gb
    return tiers[-1].usd_per_gb


def daily_costs(tiers: Sequence[Tier], daily_bytes: Iterable[int]) -> list[Decimal]:
    """Each day's share of a tiered month: F(volume after the day) - F(volume before it)."""
    out: list[Decimal] = []
    before = 0
    f_before = Decimal(0)
    for b in daily_bytes:
        after = before + int(b)
        f_after = cumulative_cost(tiers, after)
        out.append(f_after - f_before)
        before, f_before = after, f_after
    return out


def to_cents(amount: Decimal) -> Decimal:
    """Money as reports print it: two decimals, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def allocate(
    total: Decimal, weights: dict[str, float] | dict[str, int] | dict[str, Decimal]
) -> dict[str, Decimal]:
    """Split `total` (rounded to the cent) in proportion to weights; the parts sum to it exactly.

    Largest remainder: every key gets the floor of its exact share in cents, and the cents
    left over go to the largest fractional parts (ties by key, so the result is stable).
    """
    cents_total = int(to_cents(total) / CENT)
    keys = sorted(weights)
    w = {k: Decimal(str(weights[k])) for k in keys}
    if any(v < 0 for v in w.values()):
        raise ValueError("allocation weights cannot be negative")
    wsum = sum(w.values(), Decimal(0))
    if not keys:
        return {}
    if wsum == 0:  # nothing to go by: equal shares
        w = {k: Decimal(1) for k in keys}
        wsum = Decimal(len(keys))
    sign = -1 if cents_total < 0 else 1
    exact = {k: abs(cents_total) * w[k] / wsum for k in keys}
    floors = {k: int(exact[k]) for k in keys}
    left = abs(cents_total) - sum(floors.values())
    order = sorted(keys, key=lambda k: (-(exact[k] - floors[k]), k))
    for k in order[:left]:
        floors[k] += 1
    return {k: sign * Decimal(floors[k]) * CENT for k in keys}
