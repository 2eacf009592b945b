"""What an outage costs: downtime minutes times revenue per minute (the brief's $100,000/min by default)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

DEFAULT_REVENUE_PER_MINUTE_USD = Decimal("100000")


def incident_cost(
    *,
    downtime_minutes: float | Decimal,
    revenue_per_minute_usd: float | Decimal | None = None,
    impact_share: float | Decimal = 1,
) -> Decimal:
    """USD lost: downtime minutes x revenue per minute x the share of users affected, to the cent."""
    minutes = Decimal(str(downtime_minutes))
    rate = (
        DEFAULT_REVENUE_PER_MINUTE_USD
        if revenue_per_minute_usd is None
        else Decimal(str(revenue_per_minute_usd))
    )
    share = Decimal(str(impact_share))
    if minutes < 0 or rate < 0:
        raise ValueError("downtime and revenue per minute cannot be negative")
    if not 0 <= share <= 1:
        raise ValueError("impact_share is a share between 0 and 1")
    return (minutes * rate * share).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def incident_cost_between(
    *,
    started_at: float,
    resolved_at: float,
    revenue_per_minute_usd: float | Decimal | None = None,
    impact_share: float | Decimal = 1,
) -> Decimal:
    """The same from an incident's start and resolution times (UTC epoch seconds)."""
    if resolved_at < started_at:
        raise ValueError("an incident cannot be resolved before it started")
    return incident_cost(
        downtime_minutes=Decimal(str(resolved_at - started_at)) / 60,
        revenue_per_minute_usd=revenue_per_minute_usd,
        impact_share=impact_share,
    )
