"""The control center's one door into the platform: its control endpoints over HTTP, with the shared key.

Runbooks (automatic or asked for by a person) and the human control routes under
`/api/v1/platform` both go through `ControlClient`, so every change to the platform is
made, refused and explained the same way, and carries the caller's trace id.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from streamverse.errors import StreamVerseError
from streamverse.livefile import read_live
from streamverse.platform.control_models import CONTROL_KEY_HEADER
from streamverse.settings import Settings

TIMEOUT_S = 10.0


class ControlError(StreamVerseError):
    """The platform refused an action or could not be reached; the message says which.

    `status_code` is what the control API answers its own caller: the platform's 4xx as
    is (bad target, unknown fault), 502 when the platform failed or refused our key, 503
    when it cannot be reached. `detail` is the platform's own explanation, when it gave one.
    """

    def __init__(self, message: str, *, status_code: int | None = None, detail: Any = None) -> None:
        self.status_code = status_code
        self.detail = message if detail is None else detail
        super().__init__(message)


class PlatformControl(Protocol):
    """What runbooks and the control routes need of the platform."""

    def request(self, method: str, path: str, body: Any = None, *,
                params: dict[str, Any] | None = None) -> Any:
        """One control call; the platform's JSON, or ControlError."""
        ...

    def status(self) -> dict[str, Any]:
        """Routing, PoPs, caches, origin and faults now."""
        ...

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        """A state-changing control call; returns what changed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def control_url(settings: Settings) -> str | None:
    """Where the platform's control endpoints are: settings, else the running system's live.json."""
    if settings.platform_control_url:
        return str(settings.platform_control_url).rstrip("/")
    found = read_live(settings.data_dir).get("platform_control_url")
    return str(found).rstrip("/") if found else None


class ControlClient:
    """A synchronous client for the platform's `/control/*`; every call returns the platform's JSON.

    `http` lets a caller hand in its own httpx client, e.g. a `fastapi.testclient.TestClient`
    around the platform's control app when a fast-forward drill runs it in-process.
    """

    def __init__(self, base_url: str, key: str, *, timeout_s: float = TIMEOUT_S,
                 http: httpx.Client | None = None, traceparent: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.traceparent = traceparent
        self._owned = http is None
        self._client = http if http is not None else httpx.Client(base_url=self.base_url, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings, *, traceparent: str | None = None) -> ControlClient:
        """A client for the configured platform, or a ControlError saying how to start one."""
        base = control_url(settings)
        if not base:
            raise ControlError(
                "the platform is not running: no platform_control_url configured and no "
                "live.json in the data dir; start it with `streamverse up`",
                status_code=503,
            )
        return cls(base, str(settings.resolved_control_key or ""), traceparent=traceparent)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool (a client handed in stays its owner's)."""
        if self._owned:
            self._client.close()

    def request(self, method: str, path: str, body: Any = None, *,
                params: dict[str, Any] | None = None) -> Any:
        """One control call; errors become ControlError with the platform's explanation."""
        headers = {CONTROL_KEY_HEADER: self.key}
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        try:
            reply = self._client.request(method, path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise ControlError(
                f"the platform's control endpoint at {self.base_url} is unreachable ({type(exc).__name__}); "
                "is `streamverse up` running?",
                status_code=503,
            ) from None
        try:
            data = reply.json()
        except ValueError:
            data = {"detail": reply.text}
        if reply.status_code < 400:
            return data
        detail = data.get("detail", data) if isinstance(data, dict) else data
        if reply.status_code in (401, 403):
            raise ControlError("the platform refused the control key; the control plane's "
                               "platform_control_key must match the platform's", status_code=502)
        if reply.status_code >= 500:
            raise ControlError(f"the platform failed {method} {path} (HTTP {reply.status_code}): {detail}",
                               status_code=502)
        raise ControlError(f"platform refused {method} {path} (HTTP {reply.status_code}): {detail}",
                           status_code=reply.status_code, detail=detail)

    def status(self) -> dict[str, Any]:
        """Routing, PoPs, caches, origin and faults now."""
        return self.request("GET", "/control/status")

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        """A state-changing control call; returns what changed."""
        return self.request("POST", path, body)
