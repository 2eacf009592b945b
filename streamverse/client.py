"""Typed client of the control API, for the dashboard, the CLI and scripts."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

API_PREFIX = "/api/v1"


class ApiError(Exception):
    """The control API refused or failed a call; `detail` is its explanation."""

    def __init__(self, status: int, detail: Any, *, method: str = "", url: str = "") -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.url = url
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.method} {self.url}: " if self.method else ""
        detail = self.detail if isinstance(self.detail, str) else repr(self.detail)
        return f"{where}HTTP {self.status}: {detail}"


class ControlClient:
    """Synchronous client; paths are relative to /api/v1 (e.g. `client.get("/incidents")`)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + API_PREFIX, headers=headers,
                                  timeout=timeout, transport=transport)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None) -> Any:
        """One call; the decoded JSON body, or ApiError with the server's detail."""
        try:
            resp = self._http.request(method, path, params=_clean_params(params), json=json)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"control API unreachable at {self.base_url}: {exc}",
                           method=method, url=path) from exc
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text or resp.reason_phrase
            raise ApiError(resp.status_code, detail, method=method, url=path)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        """GET with query parameters (None values dropped)."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, params=params, json=json)

    def put(self, path: str, json: Any = None) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, json=json)

    def delete(self, path: str) -> Any:
        """DELETE a resource."""
        return self.request("DELETE", path)

    # The control plane's own resources.
    def health(self) -> dict[str, Any]:
        """Liveness; needs no token."""
        return self.get("/health")

    def whoami(self) -> dict[str, Any]:
        """The caller's token name and role."""
        return self.get("/whoami")

    def create_token(self, *, role: str, name: str, expires_in_s: float | None = None) -> dict[str, Any]:
        """A new token (admin); the `token` key holds the secret, shown only here."""
        return self.post("/tokens", {"role": role, "name": name, "expires_in_s": expires_in_s})

    def list_tokens(self, *, include_revoked: bool = True) -> list[dict[str, Any]]:
        """Every token without its secret (admin)."""
        return self.get("/tokens", include_revoked=include_revoked)

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        """Revoke a token (admin)."""
        return self.delete(f"/tokens/{token_id}")

    def audit(self, *, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The audit trail, newest first (admin)."""
        return self.get("/audit", since=since.isoformat() if since else None, limit=limit)


    def download(self, path: str, **params: Any) -> tuple[bytes, str]:
        """A file (report) as bytes and its content type, or ApiError."""
        try:
            resp = self._http.get(path, params=_clean_params(params))
        except httpx.HTTPError as exc:
            raise ApiError(0, f"control API unreachable at {self.base_url}: {exc}",
                           method="GET", url=path) from exc
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text or resp.reason_phrase
            raise ApiError(resp.status_code, detail, method="GET", url=path)
        return resp.content, resp.headers.get("content-type", "application/octet-stream")

    # Platform (status, faults, remediation actions).
    def platform_status(self) -> dict[str, Any]:
        """Routing weights, PoP health, caches, origin and active faults."""
        return self.get("/platform/status")

    def scenarios(self) -> list[dict[str, Any]]:
        """The fault scenarios the platform can inject."""
        return self.get("/platform/scenarios").get("scenarios", [])

    def faults(self, *, active_only: bool = False) -> Any:
        """Injected faults."""
        return self.get("/platform/faults", active_only=active_only)

    def inject_fault(self, *, scenario: str, target: str | None = None, duration: str | None = None,
                     params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a fault now (admin)."""
        body = {"scenario": scenario, "target": target, "duration": duration, "params": params or {}}
        return self.post("/platform/faults", {k: v for k, v in body.items() if v is not None})

    def clear_faults(self, fault_id: str | None = None) -> Any:
        """End one fault, or every fault (admin)."""
        return self.delete(f"/platform/faults/{fault_id}" if fault_id else "/platform/faults")

    def platform_action(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """A remediation action such as "drain-pop" (responder)."""
        return self.post(f"/platform/actions/{action}", body)

    # Telemetry.
    def qoe(self, *, by: str = "region") -> dict[str, Any]:
        """RUM QoE grouped by region, pop, device or video."""
        return self.get("/rum/qoe", by=by)

    def metrics_query(self, expr: str, *, at: float | None = None) -> dict[str, Any]:
        """A PromQL expression at one instant, with data age and store health."""
        return self.get("/metrics/query", expr=expr, at=at)

    def metrics_query_range(self, expr: str, *, start: float | None = None, end: float | None = None,
                            step: float | None = None, max_points: int | None = None) -> dict[str, Any]:
        """A PromQL expression over a range, downsampled server-side."""
        return self.get("/metrics/query_range", expr=expr, start=start, end=end, step=step,
                        max_points=max_points)

    # SLOs and costs.
    def slos(self) -> dict[str, Any]:
        """Every SLO's status now."""
        return self.get("/slo")

    def slo(self, slo_id: str) -> dict[str, Any]:
        """One SLO's status."""
        return self.get(f"/slo/{slo_id}")

    def slo_history(self, slo_id: str) -> dict[str, Any]:
        """One SLO over its period: SLI per hour and the error-budget burn-down."""
        return self.get(f"/slo/{slo_id}/history")

    def cost_summary(self, *, month: str) -> dict[str, Any]:
        """A month's spend (YYYY-MM)."""
        return self.get("/costs/summary", month=month)

    def capacity_plan(self, **inputs: Any) -> dict[str, Any]:
        """The capacity and cost plan for the given inputs."""
        return self.get("/costs/capacity", **inputs)

    # Incidents and runbooks.
    def incidents(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Incidents, newest first."""
        return self.get("/incidents", status_=status, limit=limit)

    def incident(self, incident_id: int) -> dict[str, Any]:
        """One incident."""
        return self.get(f"/incidents/{incident_id}")

    def incident_timeline(self, incident_id: int) -> list[dict[str, Any]]:
        """An incident's timeline."""
        return self.get(f"/incidents/{incident_id}/timeline")

    def ack_incident(self, incident_id: int) -> dict[str, Any]:
        """Acknowledge an incident (responder)."""
        return self.post(f"/incidents/{incident_id}/ack")

    def add_note(self, incident_id: int, message: str) -> dict[str, Any]:
        """Add a note to an incident's timeline (responder)."""
        return self.post(f"/incidents/{incident_id}/notes", {"message": message})

    def runbooks(self) -> Any:
        """The runbooks."""
        return self.get("/runbooks")

    def plan_runbook(self, name: str, *, target: str, params: dict[str, Any] | None = None,
                     incident_id: int | None = None) -> dict[str, Any]:
        """Dry run: the exact changes and blast radius; nothing changes (responder)."""
        return self.post(f"/runbooks/{name}/plan", _run_body(target, params, incident_id))

    def request_run(self, name: str, *, target: str, params: dict[str, Any] | None = None,
                    incident_id: int | None = None) -> dict[str, Any]:
        """Start a runbook run, or pause it for approval (responder)."""
        return self.post(f"/runbooks/{name}/runs", _run_body(target, params, incident_id))

    def run(self, run_id: int) -> dict[str, Any]:
        """One run and its audit trail."""
        return self.get(f"/runs/{run_id}")

    def runs(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """Runbook runs, newest first."""
        return self.get("/runs", limit=limit)

    def approve_run(self, run_id: int) -> dict[str, Any]:
        """Approve a paused run (responder, a different person)."""
        return self.post(f"/runs/{run_id}/approve")

    # Alerts and silences.
    def alerts(self) -> Any:
        """Alerts now."""
        return self.get("/alerts")

    def ack_alert(self, fingerprint: str) -> Any:
        """Acknowledge an alert (responder)."""
        return self.post(f"/alerts/{fingerprint}/ack")

    def silences(self) -> Any:
        """Silences."""
        return self.get("/silences")

    def create_silence(self, *, matchers: list[str], duration: str, comment: str = "") -> Any:
        """Silence alerts matching `matchers` for `duration` (responder)."""
        return self.post("/silences", {"matchers": matchers, "duration": duration, "comment": comment})


def _run_body(target: str, params: dict[str, Any] | None, incident_id: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"target": target, "params": params or {}}
    if incident_id is not None:
        body["incident_id"] = incident_id
    return body


def _clean_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
