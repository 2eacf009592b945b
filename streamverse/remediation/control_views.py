"""Control-plane routes for the platform: status, faults and remediation actions, over HTTP.

The control plane never touches platform objects: every route here forwards to the
platform's control endpoints (`streamverse.platform.control_app`, whose bodies the simple
actions reuse, so both sides validate alike) through the same `ControlClient` the
runbooks use, with the shared control key, carrying the caller's trace so one trace id
links the audit record to the platform's logs. Roles: reading is viewer, remediation
responder, fault injection admin.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamverse.api.deps import AdminDep, ResponderDep, ViewerDep
from streamverse.durations import parse_duration
from streamverse.errors import UsageError
from streamverse.platform.control_models import PurgeBody, RateLimitBody, ScaleBody, SwitchBody
from streamverse.remediation.control import ControlClient, ControlError
from streamverse.tracing import continue_or_start, new_span_id, parse_traceparent

log = logging.getLogger("streamverse.api.platform")

router = APIRouter(prefix="/platform", tags=["platform"])

NAME = r"^[a-z0-9][a-z0-9-]*$"  # region and PoP names, as the topology allows


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultCreate(_Body):
    """A fault to inject; `duration` may be written like "5m" instead of `duration_s`."""

    scenario: str = Field(min_length=1, max_length=60)
    target: str | None = Field(None, max_length=200)
    duration_s: float | None = Field(None, gt=0, le=30 * 86400)
    duration: str | None = Field(None, max_length=40, description='e.g. "90s", "5m", "2h"')
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _duration(self) -> FaultCreate:
        if self.duration_s is None:
            try:
                self.duration_s = parse_duration(self.duration) if self.duration else 300.0
            except UsageError as exc:
                raise ValueError(str(exc)) from None
        if self.duration_s <= 0:
            raise ValueError("duration must be positive")
        return self


class RegionBody(_Body):
    """A region to drain."""

    region: str = Field(min_length=1, max_length=60, pattern=NAME)


class RegionWeightBody(RegionBody):
    """A region and its new GeoDNS weight (0 drains, 1 normal)."""

    weight: float = Field(ge=0, le=100)


class PopBody(_Body):
    """A PoP to drain."""

    pop: str = Field(min_length=1, max_length=60, pattern=NAME)


class PopWeightBody(PopBody):
    """A PoP and its new GeoDNS weight."""

    weight: float = Field(ge=0, le=100)


class PrewarmAction(_Body):
    """Copy a video's objects (or explicit keys) into PoP caches."""

    video_id: int | None = Field(None, ge=1)
    keys: list[str] | None = Field(None, min_length=1)
    pops: list[str] | None = Field(None, min_length=1)
    max_segments: int | None = Field(None, ge=1, le=100_000, description="first N segments per rung")

    @model_validator(mode="after")
    def _one(self) -> PrewarmAction:
        if (self.video_id is None) == (self.keys is None):
            raise ValueError("give exactly one of video_id or keys")
        return self


class TtlAction(_Body):
    """A cache TTL for a key prefix; `ttl` may be written like "1h"."""

    prefix: str = Field(min_length=1, max_length=500)
    ttl_s: float | None = Field(None, ge=0)
    ttl: str | None = Field(None, max_length=40)
    pops: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _ttl(self) -> TtlAction:
        if self.ttl_s is None:
            if self.ttl is None:
                raise ValueError('give ttl_s (seconds) or ttl (e.g. "1h")')
            try:
                self.ttl_s = parse_duration(self.ttl)
            except UsageError as exc:
                raise ValueError(str(exc)) from None
        return self


def _traceparent(request: Request) -> str:
    """The caller's trace continued, or the audit trail's trace id, so logs and audit line up."""
    incoming = request.headers.get("traceparent")
    if parse_traceparent(incoming):
        return continue_or_start(incoming).traceparent
    trace_id = request.scope.get("state", {}).get("trace_id")
    if trace_id and len(trace_id) == 32:
        return f"00-{trace_id}-{new_span_id()}-01"
    return continue_or_start(None).traceparent


def forward(request: Request, method: str, path: str, *, body: Any = None,
            params: dict[str, Any] | None = None) -> Any:
    """Call the platform's control endpoint through the one control client; HTTP errors say why."""
    try:
        with ControlClient.from_settings(request.app.state.settings,
                                         traceparent=_traceparent(request)) as ctl:
            return ctl.request(method, path, body, params=params)
    except ControlError as exc:
        if exc.status_code in (502, 503):
            log.warning("platform control call failed", extra={"path": path, "error": str(exc)})
        raise HTTPException(exc.status_code or 502, exc.detail) from None


def _audit(request: Request, **target: Any) -> None:
    request.state.audit_target = {"platform": target}


@router.get("/status", summary="The platform now: routing weights, PoP health, caches, origin, faults")
def status(request: Request, _token: ViewerDep) -> Any:
    """Everything the platform reports about itself."""
    return forward(request, "GET", "/control/status")


@router.get("/scenarios", summary="The fault scenarios the platform can inject")
def scenarios(request: Request, _token: ViewerDep) -> Any:
    """Scenario names, default targets and parameters."""
    return forward(request, "GET", "/control/scenarios")


@router.get("/faults", summary="Injected faults (active ones flagged)")
def list_faults(request: Request, _token: ViewerDep, active_only: bool = False) -> Any:
    """Every fault injected since the platform started."""
    return forward(request, "GET", "/control/faults", params={"active_only": str(active_only).lower()})


@router.post("/faults", status_code=201, summary="Inject a fault (admin)")
def inject_fault(body: FaultCreate, request: Request, _token: AdminDep) -> Any:
    """Start a fault now; it ends by itself after its duration."""
    _audit(request, action="inject-fault", scenario=body.scenario, target=body.target)
    payload = {"scenario": body.scenario, "target": body.target, "duration_s": body.duration_s,
               "params": body.params}
    return forward(request, "POST", "/control/faults", body=payload)


@router.delete("/faults/{fault_id}", summary="End one fault now (admin)")
def clear_fault(fault_id: str, request: Request, _token: AdminDep) -> Any:
    """End one fault before its time."""
    _audit(request, action="clear-fault", fault_id=fault_id)
    return forward(request, "DELETE", f"/control/faults/{fault_id}")


@router.delete("/faults", summary="End every fault now (admin)")
def clear_faults(request: Request, _token: AdminDep) -> Any:
    """End all faults."""
    _audit(request, action="clear-faults")
    return forward(request, "DELETE", "/control/faults")


@router.post("/actions/drain-region", summary="Send a region's viewers elsewhere (responder)")
def drain_region(body: RegionBody, request: Request, _token: ResponderDep) -> Any:
    """GeoDNS stops answering with the region's PoPs."""
    _audit(request, action="drain-region", region=body.region)
    return forward(request, "POST", f"/control/dns/regions/{body.region}/drain")


@router.post("/actions/set-region-weight", summary="Set a region's GeoDNS weight (responder)")
def set_region_weight(body: RegionWeightBody, request: Request, _token: ResponderDep) -> Any:
    """Shift traffic towards or away from a region."""
    _audit(request, action="set-region-weight", region=body.region, weight=body.weight)
    return forward(request, "POST", f"/control/dns/regions/{body.region}/weight",
                         body={"weight": body.weight})


@router.post("/actions/drain-pop", summary="Take a PoP out of GeoDNS (responder)")
def drain_pop(body: PopBody, request: Request, _token: ResponderDep) -> Any:
    """New sessions avoid the PoP."""
    _audit(request, action="drain-pop", pop=body.pop)
    return forward(request, "POST", f"/control/dns/pops/{body.pop}/drain")


@router.post("/actions/set-pop-weight", summary="Set a PoP's GeoDNS weight (responder)")
def set_pop_weight(body: PopWeightBody, request: Request, _token: ResponderDep) -> Any:
    """Shift traffic between PoPs of a region."""
    _audit(request, action="set-pop-weight", pop=body.pop, weight=body.weight)
    return forward(request, "POST", f"/control/dns/pops/{body.pop}/weight",
                         body={"weight": body.weight})


@router.post("/actions/prewarm", summary="Copy a video's objects into PoP caches (responder)")
def prewarm(body: PrewarmAction, request: Request, _token: ResponderDep) -> Any:
    """Fill caches before demand arrives (e.g. a video going viral)."""
    _audit(request, action="prewarm", video_id=body.video_id, pops=body.pops)
    return forward(request, "POST", "/control/cdn/prewarm", body=body.model_dump(exclude_none=True))


@router.post("/actions/set-ttl", summary="Set the cache TTL of a key prefix (responder)")
def set_ttl(body: TtlAction, request: Request, _token: ResponderDep) -> Any:
    """Longer TTLs shield the origin; shorter ones refresh content sooner."""
    _audit(request, action="set-ttl", prefix=body.prefix, ttl_s=body.ttl_s)
    payload = {"prefix": body.prefix, "ttl_s": body.ttl_s, "pops": body.pops}
    return forward(request, "POST", "/control/cdn/ttl", body=payload)


@router.post("/actions/purge", summary="Drop cached objects under a prefix (responder)")
def purge(body: PurgeBody, request: Request, _token: ResponderDep) -> Any:
    """Remove stale or bad objects from caches."""
    _audit(request, action="purge", prefix=body.prefix)
    return forward(request, "POST", "/control/cdn/purge", body=body.model_dump())


@router.post("/actions/scale-origin", summary="Scale origin capacity (responder)")
def scale_origin(body: ScaleBody, request: Request, _token: ResponderDep) -> Any:
    """More origin capacity for a miss storm."""
    _audit(request, action="scale-origin", factor=body.factor)
    return forward(request, "POST", "/control/origin/scale", body=body.model_dump())


@router.post("/actions/switch-origin", summary="Serve misses from another origin (responder)")
def switch_origin(body: SwitchBody, request: Request, _token: ResponderDep) -> Any:
    """Fail over to the backup origin."""
    _audit(request, action="switch-origin", origin=body.origin)
    return forward(request, "POST", "/control/origin/switch", body=body.model_dump())


@router.post("/actions/set-rate-limit", summary="Set a gateway rate limit (responder)")
def set_rate_limit(body: RateLimitBody, request: Request, _token: ResponderDep) -> Any:
    """Tighten limits against abuse, loosen them for a launch."""
    _audit(request, action="set-rate-limit", key=body.key, rate_per_s=body.rate_per_s, burst=body.burst)
    return forward(request, "POST", "/control/ratelimits", body=body.model_dump())
