"""ControlClient: one typed method per control-API endpoint the dashboard, the CLI and scripts use."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, JsonValue, TypeAdapter, ValidationError

from streamverse.client import models as m
from streamverse.client import reports as r
from streamverse.client.transport import ApiError, Params, Transport

M = TypeVar("M")
ReportFormat = Literal["html", "pdf"]
_FILENAME = re.compile(r'filename="([^"]+)"')


class ReplyShapeError(ApiError):
    """The API answered, but not in the shape this client knows (a field renamed or missing)."""


class Download(BaseModel):
    """A report file: its bytes, content type and the name the server suggests."""

    content: bytes
    content_type: str
    filename: str


class ControlClient(Transport):
    """Synchronous, typed client of /api/v1; `request()` stays for scripts that need a raw call."""

    def _call(self, kind: type[M], method: str, path: str, *, params: Params | None = None,
              json: JsonValue = None, headers: dict[str, str] | None = None) -> M:
        data = self.request(method, path, params=params, json=json, headers=headers)
        try:
            return TypeAdapter(kind).validate_python(data)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'reply'}: {e['msg']}"
                              for e in exc.errors()[:5])
            name = getattr(kind, "__name__", str(kind))
            raise ReplyShapeError(200, f"the reply is not a {name} as this client knows it ({where})",
                                  method=method, url=path) from None

    # -- the control plane's own resources --------------------------------------------------------
    def health(self) -> m.Health:
        """Liveness and database reachability; needs no token."""
        return self._call(m.Health, "GET", "/health")

    def whoami(self) -> m.WhoAmI:
        """The caller's token name and role."""
        return self._call(m.WhoAmI, "GET", "/whoami")

    def create_token(self, *, role: str, name: str, expires_in_s: float | None = None) -> m.TokenCreated:
        """A new token (admin); `.token` holds the secret, shown only here."""
        body = {"role": role, "name": name, "expires_in_s": expires_in_s}
        return self._call(m.TokenCreated, "POST", "/tokens", json=body)

    def list_tokens(self, *, include_revoked: bool = True) -> list[m.Token]:
        """Every token without its secret (admin)."""
        return self._call(list[m.Token], "GET", "/tokens", params={"include_revoked": include_revoked})

    def revoke_token(self, token_id: int) -> m.Token:
        """Revoke a token (admin)."""
        return self._call(m.Token, "DELETE", f"/tokens/{token_id}")

    def audit(self, *, since: datetime | None = None, limit: int = 100) -> list[m.AuditEntry]:
        """The audit trail, newest first (admin)."""
        params: Params = {"since": since.isoformat() if since else None, "limit": limit}
        return self._call(list[m.AuditEntry], "GET", "/audit", params=params)

    # -- platform: status, faults, remediation actions ----------------------------------------------
    def platform_status(self) -> m.PlatformStatus:
        """Routing weights, PoP health, caches, origin and active faults."""
        return self._call(m.PlatformStatus, "GET", "/platform/status")

    def scenarios(self) -> list[m.Scenario]:
        """The fault scenarios the platform can inject."""
        return self._call(_Scenarios, "GET", "/platform/scenarios").scenarios

    def faults(self, *, active_only: bool = False) -> list[m.Fault]:
        """Injected faults, active ones flagged."""
        return self._call(_Faults, "GET", "/platform/faults", params={"active_only": active_only}).faults

    def inject_fault(self, *, scenario: str, target: str | None = None, duration: str | None = None,
                     duration_s: float | None = None, params: dict[str, JsonValue] | None = None) -> m.Fault:
        """Start a fault now (admin); `duration` like "5m", or `duration_s`."""
        body = {"scenario": scenario, "target": target, "duration": duration, "duration_s": duration_s,
                "params": params or {}}
        return self._call(m.Fault, "POST", "/platform/faults",
                          json={k: v for k, v in body.items() if v is not None})

    def clear_faults(self, fault_id: str | None = None) -> list[m.Fault]:
        """End one fault, or every fault (admin); the faults that ended."""
        path = f"/platform/faults/{fault_id}" if fault_id else "/platform/faults"
        return self._call(_Cleared, "DELETE", path).cleared

    def drain_region(self, region: str) -> m.ActionResult:
        """Send a region's viewers to other regions (responder)."""
        return self._action("drain-region", {"region": region})

    def set_region_weight(self, region: str, weight: float) -> m.ActionResult:
        """Set a region's GeoDNS weight: 0 drains, 1 is normal (responder)."""
        return self._action("set-region-weight", {"region": region, "weight": weight})

    def drain_pop(self, pop: str) -> m.ActionResult:
        """Take a PoP out of GeoDNS (responder)."""
        return self._action("drain-pop", {"pop": pop})

    def set_pop_weight(self, pop: str, weight: float) -> m.ActionResult:
        """Set a PoP's GeoDNS weight (responder)."""
        return self._action("set-pop-weight", {"pop": pop, "weight": weight})

    def prewarm(self, *, video_id: int | None = None, keys: list[str] | None = None,
                pops: list[str] | None = None, max_segments: int | None = None) -> m.ActionResult:
        """Copy a video's objects (or explicit keys) into PoP caches (responder)."""
        body = {"video_id": video_id, "keys": keys, "pops": pops, "max_segments": max_segments}
        return self._action("prewarm", {k: v for k, v in body.items() if v is not None})

    def set_ttl(self, prefix: str, *, ttl: str | None = None, ttl_s: float | None = None,
                pops: list[str] | None = None) -> m.ActionResult:
        """Set the cache TTL of a key prefix, `ttl` like "1h" or `ttl_s` (responder)."""
        body = {"prefix": prefix, "ttl": ttl, "ttl_s": ttl_s, "pops": pops}
        return self._action("set-ttl", {k: v for k, v in body.items() if v is not None})

    def purge(self, prefix: str, *, pops: list[str] | None = None) -> m.ActionResult:
        """Drop cached objects under a prefix (responder)."""
        return self._action("purge", {"prefix": prefix, "pops": pops})

    def scale_origin(self, factor: float) -> m.ActionResult:
        """Scale origin capacity (responder)."""
        return self._action("scale-origin", {"factor": factor})

    def switch_origin(self, origin: str) -> m.ActionResult:
        """Serve misses from another origin (responder)."""
        return self._action("switch-origin", {"origin": origin})

    def set_rate_limit(self, key: str, *, rate_per_s: float, burst: int) -> m.ActionResult:
        """Set a gateway rate limit (responder)."""
        return self._action("set-rate-limit", {"key": key, "rate_per_s": rate_per_s, "burst": burst})

    def _action(self, action: str, body: dict[str, JsonValue]) -> m.ActionResult:
        return self._call(m.ActionResult, "POST", f"/platform/actions/{action}", json=body)

    # -- telemetry --------------------------------------------------------------------------------
    def qoe(self, *, by: Literal["region", "pop", "device", "video"] = "region") -> m.QoeReport:
        """Real-user QoE grouped by region, PoP, device or video."""
        return self._call(m.QoeReport, "GET", "/rum/qoe", params={"by": by})

    def send_beacons(self, batch_id: str, beacons: list[dict[str, JsonValue]]) -> m.BeaconReceipt:
        """Player beacons; a repeated batch_id is counted once. Some rejected: ApiError 422 naming them."""
        return self._call(m.BeaconReceipt, "POST", "/rum/beacons",
                          json={"batch_id": batch_id, "beacons": beacons})  # type: ignore[dict-item]

    def metrics_query(self, expr: str, *, at: float | None = None,
                      max_series: int | None = None) -> m.InstantAnswer:
        """A PromQL expression at one instant, with data age and store health."""
        return self._call(m.InstantAnswer, "GET", "/metrics/query",
                          params={"expr": expr, "at": at, "max_series": max_series})

    def metrics_query_range(self, expr: str, *, start: float | None = None, end: float | None = None,
                            step: float | None = None, max_points: int | None = None,
                            max_series: int | None = None) -> m.RangeAnswer:
        """A PromQL expression over a range (default the last hour), downsampled server-side."""
        params: Params = {"expr": expr, "start": start, "end": end, "step": step, "max_points": max_points,
                          "max_series": max_series}
        return self._call(m.RangeAnswer, "GET", "/metrics/query_range", params=params)

    # -- SLOs, reports, costs ---------------------------------------------------------------------
    def slo_status(self) -> r.SloStatus:
        """Every SLO's status now (a few seconds old at most)."""
        return self._call(r.SloStatus, "GET", "/slo")

    def slo(self, slo_id: str) -> r.SloStatus:
        """One SLO's status, every slice."""
        return self._call(r.SloStatus, "GET", f"/slo/{slo_id}")

    def slo_history(self, slo_id: str) -> r.SloHistory:
        """One SLO over its period: SLI per hour and the error-budget burn-down."""
        return self._call(r.SloHistory, "GET", f"/slo/{slo_id}/history")

    def sla_report(self, *, month: str) -> r.SlaReport:
        """The month's SLA report as data (YYYY-MM)."""
        return self._call(r.SlaReport, "GET", "/reports/sla", params={"month": month, "format": "json"})

    def cost_report(self, *, month: str) -> r.CostSummary:
        """The month's cost report as data (YYYY-MM)."""
        return self._call(r.CostSummary, "GET", "/reports/cost", params={"month": month, "format": "json"})

    def download_sla_report(self, *, month: str, fmt: ReportFormat = "html") -> Download:
        """The SLA report as a file (HTML or PDF)."""
        return self._download("/reports/sla", month=month, fmt=fmt)

    def download_cost_report(self, *, month: str, fmt: ReportFormat = "html") -> Download:
        """The cost report as a file (HTML or PDF)."""
        return self._download("/reports/cost", month=month, fmt=fmt)

    def cost_summary(self, *, month: str) -> r.CostSummary:
        """A month's spend (YYYY-MM): breakdown, unit costs, forecast, budgets and savings."""
        return self._call(r.CostSummary, "GET", "/costs/summary", params={"month": month})

    def cost_check(self) -> r.CostCheck:
        """Check budgets and spend spikes now and report them as alerts (responder)."""
        return self._call(r.CostCheck, "POST", "/costs/check")

    def capacity_plan(self, *, users: int | None = None, uploads_per_day: int | None = None,
                      peak_concurrency_share: float | None = None,
                      viewing_hours_per_user_per_day: float | None = None,
                      avg_duration_min: float | None = None, replication: float | None = None,
                      retention_days: float | None = None,
                      cache_hit_ratio: float | None = None) -> r.CapacityPlan:
        """The capacity and cost plan for the given inputs (the others at their defaults)."""
        params: Params = {
            "users": users, "uploads_per_day": uploads_per_day,
            "peak_concurrency_share": peak_concurrency_share,
            "viewing_hours_per_user_per_day": viewing_hours_per_user_per_day,
            "avg_duration_min": avg_duration_min, "replication": replication,
            "retention_days": retention_days, "cache_hit_ratio": cache_hit_ratio,
        }
        return self._call(r.CapacityPlan, "GET", "/costs/capacity", params=params)

    def _download(self, path: str, *, month: str, fmt: ReportFormat) -> Download:
        resp = self.download(path, params={"month": month, "format": fmt})
        found = _FILENAME.search(resp.headers.get("content-disposition", ""))
        return Download(content=resp.content,
                        content_type=resp.headers.get("content-type", "application/octet-stream"),
                        filename=found.group(1) if found else f"{path.rsplit('/', 1)[-1]}-{month}.{fmt}")

    # -- incidents and runbooks -------------------------------------------------------------------
    def incidents(self, *, status: str | None = None, limit: int = 100) -> list[m.Incident]:
        """Incidents, newest first, optionally only those in one status."""
        return self._call(list[m.Incident], "GET", "/incidents", params={"status_": status, "limit": limit})

    def incident(self, incident_id: int) -> m.Incident:
        """One incident with its alerts and runbook links."""
        return self._call(m.Incident, "GET", f"/incidents/{incident_id}")

    def create_incident(self, *, title: str, severity: str = "sev3", service: str | None = None,
                        region: str | None = None, description: str | None = None,
                        commander: str | None = None) -> m.Incident:
        """Declare an incident by hand (responder)."""
        body = {"title": title, "severity": severity, "service": service, "region": region,
                "description": description, "commander": commander}
        return self._call(m.Incident, "POST", "/incidents",
                          json={k: v for k, v in body.items() if v is not None})

    def incident_timeline(self, incident_id: int) -> list[m.TimelineEvent]:
        """Alerts, actions, notes and status changes, oldest first."""
        return self._call(list[m.TimelineEvent], "GET", f"/incidents/{incident_id}/timeline")

    def ack_incident(self, incident_id: int) -> m.Incident:
        """Acknowledge an incident (responder)."""
        return self._call(m.Incident, "POST", f"/incidents/{incident_id}/ack")

    def mitigate_incident(self, incident_id: int) -> m.Incident:
        """Mark an incident mitigated (responder)."""
        return self._call(m.Incident, "POST", f"/incidents/{incident_id}/mitigate")

    def resolve_incident(self, incident_id: int) -> m.Incident:
        """Resolve an incident (responder)."""
        return self._call(m.Incident, "POST", f"/incidents/{incident_id}/resolve")

    def add_note(self, incident_id: int, message: str) -> m.TimelineEvent:
        """Add a note to an incident's timeline (responder)."""
        return self._call(m.TimelineEvent, "POST", f"/incidents/{incident_id}/notes",
                          json={"message": message})

    def runbooks(self) -> list[m.Runbook]:
        """The runbooks, with links to their playbooks."""
        return self._call(list[m.Runbook], "GET", "/runbooks")

    def plan_runbook(self, name: str, *, target: str, params: dict[str, JsonValue] | None = None,
                     incident_id: int | None = None) -> m.RunPlan:
        """Dry run: the exact changes and blast radius; nothing changes (responder)."""
        return self._call(m.RunPlan, "POST", f"/runbooks/{name}/plan",
                          json=_run_body(target, params, incident_id))

    def request_run(self, name: str, *, target: str, params: dict[str, JsonValue] | None = None,
                    incident_id: int | None = None, idempotency_key: str | None = None) -> m.Run:
        """Start a runbook run, or pause it for approval (responder); a repeated key gets the same run."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call(m.Run, "POST", f"/runbooks/{name}/runs",
                          json=_run_body(target, params, incident_id), headers=headers)

    def run(self, run_id: int) -> m.Run:
        """One run and its audit trail."""
        return self._call(m.Run, "GET", f"/runs/{run_id}")

    def runs(self, *, status: str | None = None, limit: int = 100) -> list[m.Run]:
        """Runbook runs, newest first."""
        return self._call(list[m.Run], "GET", "/runs", params={"status_": status, "limit": limit})

    def approve_run(self, run_id: int) -> m.Run:
        """Approve a paused run (responder, a different person from the requester)."""
        return self._call(m.Run, "POST", f"/runs/{run_id}/approve")

    def reject_run(self, run_id: int, *, reason: str | None = None) -> m.Run:
        """Reject a paused run; it never starts (responder)."""
        return self._call(m.Run, "POST", f"/runs/{run_id}/reject", json={"reason": reason})

    def stop_run(self, run_id: int) -> m.Run:
        """Stop a running gradual run (a failback) before its next step; what it applied stays (responder)."""
        return self._call(m.Run, "POST", f"/runs/{run_id}/stop")

    # -- alerts and silences ----------------------------------------------------------------------
    def alerts(self, *, status: str | None = None, limit: int | None = None) -> list[m.Alert]:
        """Alerts with a state (pending, firing, recently resolved)."""
        return self._call(list[m.Alert], "GET", "/alerts", params={"status": status, "limit": limit})

    def ack_alert(self, fingerprint: str) -> m.Alert:
        """Acknowledge a firing alert (responder)."""
        return self._call(m.Alert, "POST", f"/alerts/{fingerprint}/ack")

    def silences(self, *, include_expired: bool = False) -> list[m.Silence]:
        """Active and future silences (and expired ones on request)."""
        return self._call(list[m.Silence], "GET", "/silences", params={"include_expired": include_expired})

    def create_silence(self, *, matchers: list[str], duration: str, comment: str = "") -> m.Silence:
        """Silence alerts matching `matchers` for `duration`, e.g. "1h" (responder)."""
        body: JsonValue = {"matchers": list(matchers), "duration": duration, "comment": comment}
        return self._call(m.Silence, "POST", "/silences", json=body)

    def expire_silence(self, silence_id: int) -> m.Silence:
        """End a silence now (responder)."""
        return self._call(m.Silence, "DELETE", f"/silences/{silence_id}")


class _Scenarios(m.ApiModel):
    scenarios: list[m.Scenario]


class _Faults(m.ApiModel):
    faults: list[m.Fault]


class _Cleared(m.ApiModel):
    cleared: list[m.Fault]


def _run_body(target: str, params: dict[str, JsonValue] | None, incident_id: int | None) -> JsonValue:
    body: dict[str, JsonValue] = {"target": target, "params": params or {}}
    if incident_id is not None:
        body["incident_id"] = incident_id
    return body
