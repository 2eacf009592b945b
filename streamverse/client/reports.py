"""Reply models of the business-facing endpoints: SLO status and history, SLA report, costs, capacity."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator, JsonValue

from streamverse.client.models import ApiModel, Figure, Json, none_for_no_data


# -- SLOs ----------------------------------------------------------------------------------------
class ErrorBudget(ApiModel):
    """How much of the period's error budget is allowed, spent and left (events where counted)."""

    total_ratio: float | None
    consumed_ratio: float | None
    remaining_ratio: float | None
    allowed_events: float | None
    remaining_events: float | None
    allowed_minutes: float | None
    consumed_minutes: float | None
    remaining_minutes: float | None


class BurnCondition(ApiModel):
    """One multiwindow burn-rate condition and whether it fires."""

    severity: str
    factor: float
    long_window: str
    short_window: str
    long_burn: float | None
    short_burn: float | None
    firing: bool


class SloAlerts(ApiModel):
    """Page / ticket now, and the conditions behind them."""

    page: bool
    ticket: bool
    conditions: list[BurnCondition]


class Policy(ApiModel):
    """The error-budget policy's state and what it asks of the team."""

    state: str
    action: str


class SloState(ApiModel):
    """One SLO (aggregate when `slice` is empty, else one slice) now."""

    id: str
    service: str
    name: str
    slice: dict[str, str]
    description: str | None
    window: str
    budgeting: str
    sli: float | None
    objective: float
    bad: float | None
    total: float | None
    error_ratio: dict[str, float | None]
    burn_rate: dict[str, float | None]
    error_budget: ErrorBudget
    alerts: SloAlerts
    exhaustion_s: float | None
    policy: Policy
    exhausts_at: datetime | None
    data: Json
    message: str | None = None  # set when the SLO has no data, saying why


class SloProblem(ApiModel):
    """An SLO that cannot be evaluated (fully), with where it is defined."""

    id: str
    message: str
    file: str | None = None
    line: str | None = None
    field: str | None = None


class SloStatus(ApiModel):
    """GET /slo and GET /slo/{id}."""

    at: datetime
    backend: str
    slos: list[SloState]
    errors: list[SloProblem]


class SloHistory(ApiModel):
    """GET /slo/{id}/history: SLI per bucket and the budget left, over the SLO's period."""

    id: str
    objective: float
    bucket_s: float
    start: datetime
    end: datetime
    timestamps: list[float]
    sli: list[float | None]
    budget_left: list[float | None]
    events: list[float | None]
    message: str | None = None  # why there is nothing to draw


# -- SLA report ----------------------------------------------------------------------------------
class SlaPeriod(ApiModel):
    """The report's month."""

    start: datetime
    end: datetime
    minutes: float


class SlaSummary(ApiModel):
    """The month in a line: availability, SLOs met, revenue impact and credits."""

    platform_availability: float | None
    slos_met: int
    slos_missed: int
    slos_no_data: int
    revenue_impact_usd: float
    credits_usd: float


class SlaRow(ApiModel):
    """One SLO (or slice) over the month."""

    id: str
    service: str
    name: str
    slice: dict[str, str]
    region: str
    objective: float
    attainment: float | None
    met: bool | None
    bad_minutes: float | None
    allowance_minutes: float
    over_allowance_minutes: float | None
    revenue_impact_usd: float | None
    critical: bool
    data_coverage: float


class SlaCredit(ApiModel):
    """SLA credits owed to one customer tier."""

    tier: str
    monthly_revenue_usd: float
    credit_pct: float
    credits_usd: float


class SlaReport(ApiModel):
    """GET /reports/sla?format=json."""

    month: str
    generated_at: datetime | None
    period: SlaPeriod
    cost_per_minute_usd: float
    summary: SlaSummary
    rows: list[SlaRow]
    credits: list[SlaCredit]
    problems: list[Json]


# -- costs ---------------------------------------------------------------------------------------
class CostPeriod(ApiModel):
    """What the figures cover: month start to now, and the month's end."""

    start: datetime
    end: datetime
    month_end: datetime


class DailyCost(ApiModel):
    """One day's spend by category."""

    day: date
    total_usd: float
    by_category: dict[str, float]


class RegionDayCost(ApiModel):
    """One day's spend in one region."""

    day: date
    region: str
    usd: float


class UnitCosts(ApiModel):
    """Cost per streamed hour and per 1,000 views (None where usage is missing)."""

    streamed_hours: float | None
    views: float | None
    usd_per_streamed_hour: float | None
    usd_per_1000_views: float | None


class DayAmount(ApiModel):
    """A forecast day."""

    day: date
    usd: float


class Forecast(ApiModel):
    """Month-end spend: point, range and the model used."""

    method: str
    days_with_data: int
    days_forecast: int
    to_date_usd: float
    point_usd: float
    low_usd: float
    high_usd: float
    daily_forecast: list[DayAmount]


class Forecasts(ApiModel):
    """The total's forecast and each category's (None: no data for it)."""

    total: Forecast | None
    by_category: dict[str, Annotated[Forecast | None, BeforeValidator(none_for_no_data)]]


class BudgetCheck(ApiModel):
    """A budgeted category against its spend and forecast; status "no data" carries no figures."""

    category: str
    budget_usd: float
    status: str
    to_date_usd: float | None = None
    forecast_usd: float | None = None
    forecast_high_usd: float | None = None


class CostFinding(ApiModel):
    """A budget or spend-spike finding as the cost check reports it: labels and annotations only."""

    labels: dict[str, str]
    annotations: dict[str, str]


class CostAlert(CostFinding):
    """A finding in the cost summary, with its severity, value and the figures behind it."""

    severity: str
    value: float | None
    finding: Json


class Saving(ApiModel):
    """A saving found in the data, with the assumptions behind it."""

    name: str
    monthly_usd: float | None
    status: str
    how: str
    assumptions: Json


class VideoCost(ApiModel):
    """A title's egress and what it cost."""

    video_id: str
    egress_bytes: float
    usd: float


class StorageClassCost(ApiModel):
    """Mean stored gigabytes of a storage class and their cost."""

    mean_stored_gb: float
    usd: float


class PriceCatalogRef(ApiModel):
    """Which price catalog priced the month, and when its prices were checked."""

    source: str
    checked: str


class CostSummary(ApiModel):
    """GET /costs/summary (and /reports/cost?format=json): the month's spend, forecast and savings."""

    month: str
    period: CostPeriod
    currency: str
    total_usd: float | None
    by_category: dict[str, Figure]
    by_service: dict[str, float]
    by_region: dict[str, float]
    by_pop: dict[str, float]
    daily: list[DailyCost]
    daily_by_region: list[RegionDayCost]
    unit_costs: UnitCosts
    cache_hit_ratio: float | None
    top_videos: list[VideoCost] | str  # a sentence saying why when there is no per-title usage
    storage_by_class: dict[str, StorageClassCost] | str  # likewise without stored-bytes series
    sources: dict[str, Json | str]
    notes: list[str]
    forecast: Forecasts
    budgets: list[BudgetCheck]
    anomalies: list[Json]
    alerts: list[CostAlert]
    savings: list[Saving]
    savings_total_usd: float
    price_catalog: PriceCatalogRef
    usage_mapping: list[Json]
    generated_at: datetime


class CostCheck(ApiModel):
    """POST /costs/check: budgets and spend spikes now, and how many alerts were reported."""

    checked_at: datetime
    month: str
    budgets: list[BudgetCheck]
    anomalies: list[Json]
    alerts: list[CostFinding]
    reported: int
    source: str


# -- capacity ------------------------------------------------------------------------------------
class PlanStep(ApiModel):
    """One intermediate figure of the capacity plan and how it was computed."""

    name: str
    value: float
    unit: str
    formula: str


class Sensitivity(ApiModel):
    """The plan again with one input scaled by `factor`."""

    input: str
    factor: float
    value: float
    monthly_cost_usd: float
    monthly_cost_change_pct: float


class CapacityPlan(ApiModel):
    """GET /costs/capacity: the plan, every assumption and step shown."""

    inputs: dict[str, JsonValue]
    storage_pb: float
    peak_egress_tbps: float
    transcode_gpus: int
    database_gb: float
    monthly_cost_usd: float
    cost_breakdown_usd: dict[str, float]
    steps: list[PlanStep]
    sensitivity: list[Sensitivity]
