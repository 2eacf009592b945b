"""The runbooks' only way into the platform: its control endpoints over HTTP, with the shared key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from streamverse.errors import StreamVerseError

CONTROL_KEY_HEADER = "X-Control-Key"
LIVE_FILE = "live.json"
TIMEOUT_S = 10.0


class ControlError(StreamVerseError):
    """The platform refused an action or could not be reached; the message says which."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


def control_url(settings: Any) -> str | None:
    """Where the platform's control endpoints are: settings, else the running system's live.json."""
    url = getattr(settings, "platform_control_url", None)
    if url:
        return str(url).rstrip("/")
    path = Path(getattr(settings, "data_dir", ".streamverse")) / LIVE_FILE
    try:
        found = json.loads(path.read_text()).get("platform_control_url")
    except (OSError, ValueError, AttributeError):
        return None
    return str(found).rstrip("/") if found else None


class ControlClient:
    """A small synchronous client for `/control/*`; every call returns the platform's JSON."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, transport=transport, headers={CONTROL_KEY_HEADER: key}
        )

    @classmethod
    def from_settings(cls, settings: Any) -> ControlClient:
        """A client for the configured platform, or a ControlError saying how to start one."""
        base = control_url(settings)
        if not base:
            raise ControlError(
                "the platform is not running: no platform_control_url configured and no "
                "live.json in the data dir; start it with `streamverse up`",
                status_code=503,
            )
        return cls(base, str(getattr(settings, "resolved_control_key", "") or ""))

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One control call; errors become ControlError with the platform's explanation."""
        try:
            reply = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ControlError(
                f"the platform's control endpoint at {self.base_url} is unreachable ({type(exc).__name__})",
                status_code=503,
            ) from None
        try:
            data = reply.json()
        except ValueError:
            data = {"detail": reply.text}
        if reply.status_code >= 400:
            detail = data.get("detail", data) if isinstance(data, dict) else data
            raise ControlError(
                f"platform refused {method} {path} (HTTP {reply.status_code}): {detail}",
                status_code=reply.status_code,
            )
        return data

    def status(self) -> dict[str, Any]:
        """Routing, PoPs, caches, origin and faults now."""
        return self.request("GET", "/control/status")

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        """A state-changing control call; returns what changed."""
        return self.request("POST", path, body)
