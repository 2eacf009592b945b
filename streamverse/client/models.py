"""The control API as seen from outside: what each endpoint returns, as pydantic models.

The dashboard and scripts read these instead of the server's own classes, so a client
process never imports a server area. Fields the server always sends are required (a
renamed field fails loudly, naming the field); fields it adds later are kept
(`extra="allow"`) and do not break an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, JsonValue

Json = dict[str, JsonValue]


class ApiModel(BaseModel):
    """Base of every reply model: unknown fields are kept, known ones are checked."""

    model_config = ConfigDict(extra="allow")


def none_for_no_data(value: object) -> object:
    """Some figures arrive as the string "no data" instead of null; the client says None."""
    return None if isinstance(value, str) and value.startswith("no data") else value


Figure = Annotated[float | None, BeforeValidator(none_for_no_data)]


# -- the control plane's own resources -----------------------------------------------------------
class Health(ApiModel):
    """GET /health."""

    status: str
    time: datetime
    database: str


class WhoAmI(ApiModel):
    """GET /whoami: the token presenting the request."""

    id: int
    name: str
    role: str
    prefix: str
    can: list[str]


class Token(ApiModel):
    """An API token without its secret."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None


class TokenCreated(Token):
    """A new token; `token` is the secret, shown only in this reply."""

    token: str


class AuditEntry(ApiModel):
    """One line of the audit trail."""

    id: int
    at: datetime
    actor: str
    method: str
    path: str
    status_code: int
    target: Json
    trace_id: str | None
    outcome: str


# -- platform ------------------------------------------------------------------------------------
class ShieldState(ApiModel):
    """A region's shield cache."""

    cache_used_bytes: int
    objects: int
    hit_ratio: float


class RegionState(ApiModel):
    """A region as routing sees it."""

    weight: float
    healthy: bool
    usable_pops: int
    pops: int
    city: str
    lat: float
    lon: float
    shield: ShieldState


class PopState(ApiModel):
    """A PoP: routing weight and health, cache use and load."""

    region: str
    weight: float
    healthy: bool
    hard_down: bool
    city: str
    lat: float
    lon: float
    cache_used_bytes: int
    cache_capacity_bytes: int
    objects: int
    hit_ratio: float
    hits: int
    misses: int
    load_gbps: float
    capacity_gbps: float


class OriginState(ApiModel):
    """Which origin serves misses and how much it can take."""

    active: str
    origins: list[str]
    up: bool
    capacity_factor: float
    capacity_gbps: float


class Fault(ApiModel):
    """An injected fault; `active` is absent (False) on the faults a clear call reports."""

    id: str
    scenario: str
    target: str | None
    start: datetime
    end: datetime
    params: Json
    active: bool = False


class PlatformStatus(ApiModel):
    """GET /platform/status."""

    regions: dict[str, RegionState]
    pops: dict[str, PopState]
    origin: OriginState
    faults: list[Fault]
    health_interval_s: float


class Scenario(ApiModel):
    """A fault scenario the platform can inject."""

    name: str
    description: str
    target_kind: str
    default_target: str | None
    params: Json


class ActionResult(ApiModel):
    """A remediation action's answer: its name, its arguments (as extra fields) and the platform's result."""

    action: str
    result: JsonValue


# -- telemetry -----------------------------------------------------------------------------------
class QoeFigures(ApiModel):
    """QoE of one group (ratios None when there is no denominator)."""

    views: int
    ended_views: int
    startup_p50_s: float | None
    startup_p95_s: float | None
    rebuffer_pct: float | None
    playback_failure_pct: float | None
    ebvs_pct: float | None
    avg_bitrate_bps: float | None
    upshifts: int
    downshifts: int
    watch_s: float
    rebuffer_s: float


class QoeReport(ApiModel):
    """GET /rum/qoe: QoE per group since the API started."""

    by: str
    groups: dict[str, QoeFigures]
    beacons: dict[str, int]
    batches: dict[str, int]
    open_views: int


class BeaconReceipt(ApiModel):
    """POST /rum/beacons: how many beacons of a batch were kept."""

    batch_id: str
    accepted: int
    rejected: int
    duplicate: bool


class Series(ApiModel):
    """One series of a metrics answer."""

    labels: dict[str, str]
    timestamps: list[float]
    values: list[float | None]


class MetricsAnswer(ApiModel):
    """A metrics read with the store's health: reachable, stale, the age of the newest sample."""

    expr: str
    series: list[Series]
    truncated: bool
    reachable: bool
    stale: bool
    age_s: float | None
    latest_ts: float | None
    backend: str
    error: str | None
    answered_at: float
    cached: bool


class InstantAnswer(MetricsAnswer):
    """GET /metrics/query."""

    at: float


class RangeAnswer(MetricsAnswer):
    """GET /metrics/query_range."""

    start: float
    end: float
    step: float


# -- incidents and runbooks ----------------------------------------------------------------------
class IncidentAlert(ApiModel):
    """An alert joined to an incident."""

    fingerprint: str
    name: str
    status: str
    labels: dict[str, str]
    first_fired_at: datetime
    resolved_at: datetime | None


class RunbookLink(ApiModel):
    """A runbook an incident used or was offered, with its playbook."""

    runbook: str
    playbook: str
    url: str


class Incident(ApiModel):
    """An incident with its alerts and runbook links."""

    id: int
    title: str
    severity: str
    status: str
    service: str | None
    region: str | None
    description: str | None
    commander: str | None
    roles: dict[str, str]
    created_by: str
    started_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    postmortem_at: datetime | None
    updated_at: datetime
    alerts: list[IncidentAlert]
    runbook_links: list[RunbookLink]


class TimelineEvent(ApiModel):
    """One entry of an incident's or a run's timeline."""

    id: int
    kind: str
    message: str
    incident_id: int | None
    run_id: int | None
    at: datetime
    author: str
    data: Json


class Runbook(ApiModel):
    """A runbook the control plane can run."""

    name: str
    title: str
    summary: str
    sli: str | None
    playbook: str
    playbook_url: str


class RunPlan(ApiModel):
    """A dry run: the exact changes, the blast radius and whether a second person must approve."""

    runbook: str
    target: str
    params: Json
    changes: list[Json]
    blast_radius: Json
    high_blast: bool
    steps: list[str]
    needs_approval: bool
    playbook: str


class Run(ApiModel):
    """A runbook run and its audit trail."""

    id: int
    uid: str
    runbook: str
    target: str
    params: Json
    plan: Json
    status: str
    phase: str
    incident_id: int | None
    requested_by: str
    approved_by: str | None
    rejected_by: str | None
    idempotency_key: str | None
    trigger: str
    trigger_ref: str | None
    rule: str | None
    needs_approval: bool
    outcome: str | None
    changes: Json
    verification: Json | None
    requested_at: datetime
    approved_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    events: list[TimelineEvent]
    playbook: str | None


# -- alerts --------------------------------------------------------------------------------------
class Alert(ApiModel):
    """An alert series and its state (pending, firing, resolved), acks and silences."""

    fingerprint: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: str
    value: float | None
    active_at: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    acked_by: str | None
    acked_at: datetime | None
    silenced_by: list[int]
    inhibited: bool


class Silence(ApiModel):
    """Matchers and a time window during which matching alerts are not notified."""

    id: int
    matchers: list[str]
    starts_at: datetime | None
    ends_at: datetime
    comment: str
    author: str
    created_at: datetime
    active: bool


__all__ = [
    "ActionResult", "Alert", "ApiModel", "AuditEntry", "BeaconReceipt", "Fault", "Figure", "Health",
    "Incident", "IncidentAlert", "InstantAnswer", "Json", "MetricsAnswer", "OriginState", "PlatformStatus",
    "PopState", "QoeFigures", "QoeReport", "RangeAnswer", "RegionState", "Run", "RunPlan", "Runbook",
    "RunbookLink", "Scenario", "Series", "ShieldState", "Silence", "TimelineEvent", "Token",
    "TokenCreated", "WhoAmI",
]
