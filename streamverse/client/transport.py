"""HTTP to the control API: one place that turns replies into JSON or an ApiError with the server's detail."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx
from pydantic import JsonValue

API_PREFIX = "/api/v1"
Params = dict[str, str | int | float | bool | None]


class ApiError(Exception):
    """The control API refused or failed a call; `detail` is its explanation."""

    def __init__(self, status: int, detail: JsonValue, *, method: str = "", url: str = "") -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.url = url
        super().__init__(str(self))

    def __reduce__(self) -> tuple[type[ApiError], tuple[int, JsonValue], dict[str, str]]:
        # Picklable (keyword-only fields), so caches such as Streamlit's can hold a failed read.
        return type(self), (self.status, self.detail), {"method": self.method, "url": self.url}

    def __str__(self) -> str:
        where = f"{self.method} {self.url}: " if self.method else ""
        detail = self.detail if isinstance(self.detail, str) else repr(self.detail)
        return f"{where}HTTP {self.status}: {detail}"


class Transport:
    """A synchronous connection to /api/v1 with a bearer token; paths are relative to /api/v1."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + API_PREFIX, headers=headers,
                                  timeout=timeout, transport=transport)

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def request(self, method: str, path: str, *, params: Params | None = None, json: JsonValue = None,
                headers: dict[str, str] | None = None) -> JsonValue:
        """One call; the decoded JSON body (None for an empty reply), or ApiError with the server's detail."""
        resp = self._send(method, path, params=params, json=json, headers=headers)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()  # type: ignore[no-any-return]
        except ValueError:
            raise ApiError(resp.status_code, f"the reply is not JSON: {resp.text[:200]!r}",
                           method=method, url=path) from None

    def download(self, path: str, *, params: Params | None = None) -> httpx.Response:
        """A GET whose body is a file (a report); the response, or ApiError."""
        return self._send("GET", path, params=params)

    def _send(self, method: str, path: str, *, params: Params | None = None, json: JsonValue = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            resp = self._http.request(method, path, params=_clean_params(params), json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"control API unreachable at {self.base_url}: {exc}",
                           method=method, url=path) from exc
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, _detail(resp), method=method, url=path)
        return resp


def _detail(resp: httpx.Response) -> JsonValue:
    try:
        body: Any = resp.json()
    except ValueError:
        return resp.text or resp.reason_phrase
    return body.get("detail", resp.text) if isinstance(body, dict) else body


def _clean_params(params: Params | None) -> dict[str, str | int | float] | None:
    if not params:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}
