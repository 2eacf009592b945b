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


def _clean_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
