"""The dashboard's only way to the system: the control API client, with login, caching and last-good data.

Pages name client methods, never paths: `fetch(ControlClient.slo_status)` reads (cached, and never
raises: it answers `Reply(data, error, age_s)`), `act(ControlClient.ack_incident, 7)` changes things.
When the API is unreachable, the last good answer (kept per browser session) comes back
with its age, so a page can say "showing data from 2 min ago" instead of a traceback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Concatenate, Generic, ParamSpec, TypeVar

import streamlit as st

from streamverse.client import ApiError, ControlClient

READ_TTL_S = 5.0
SLOW_READ_TTL_S = 60.0  # month-level figures (cost summary, SLA report, capacity plan) move slowly
ROLES = ("viewer", "responder", "admin")
T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class Config:
    """Where the API is and what anonymous visitors may see; read once from the environment (the edge)."""

    api_url: str
    service_token: str | None
    public_status: bool
    data_dir: str | None


@st.cache_resource
def config() -> Config:
    """The dashboard's configuration (STREAMVERSE_API_URL, STREAMVERSE_TOKEN, public-status setting)."""
    from streamverse.settings import Settings

    settings = Settings()
    public = bool(getattr(settings, "dashboard_public_status", False))
    url = os.environ.get("STREAMVERSE_API_URL") or f"http://{settings.host}:{settings.base_port}"
    return Config(
        api_url=url.rstrip("/"),
        service_token=os.environ.get("STREAMVERSE_TOKEN") or None,
        public_status=public,
        data_dir=os.environ.get("STREAMVERSE_DATA_DIR"),
    )


@st.cache_resource
def _client(url: str, token: str | None) -> ControlClient:
    return ControlClient(url, token, timeout=8.0)


@dataclass
class Reply(Generic[T]):
    """What a read returned: data (maybe last-good), the error if the read failed, and the data's age."""

    data: T | None = None
    error: ApiError | None = None
    age_s: float = 0.0

    @property
    def missing(self) -> bool:
        """The endpoint does not exist yet (its area has not landed)."""
        return self.error is not None and self.error.status == 404 and self.data is None

    @property
    def unreachable(self) -> bool:
        """The API did not answer at all."""
        return self.error is not None and self.error.status in (0, 502, 503)


def token() -> str | None:
    """The logged-in user's token, else the service token when the status page is public."""
    return st.session_state.get("token")


def role() -> str | None:
    """The logged-in role, or None when anonymous."""
    return st.session_state.get("role")


def has_role(needed: str) -> bool:
    """Whether the logged-in user may do what `needed` may do."""
    have = role()
    return have is not None and ROLES.index(have) >= ROLES.index(needed)


def client() -> ControlClient:
    """A client carrying the user's token (or the service token for a public status page)."""
    cfg = config()
    tok = token() or (cfg.service_token if cfg.public_status else None)
    return _client(cfg.api_url, tok)


Args = tuple[Hashable, ...]
Kwargs = tuple[tuple[str, Hashable], ...]


def _read(url: str, tok: str | None, name: str, args: Args, kwargs: Kwargs) -> tuple[object, ApiError | None]:
    try:
        return getattr(_client(url, tok), name)(*args, **dict(kwargs)), None
    except ApiError as exc:
        return None, exc


@st.cache_data(ttl=READ_TTL_S, show_spinner=False, max_entries=500)
def _cached_read(
    url: str, tok: str | None, name: str, args: Args, kwargs: Kwargs
) -> tuple[object, ApiError | None]:
    return _read(url, tok, name, args, kwargs)


@st.cache_data(ttl=SLOW_READ_TTL_S, show_spinner=False, max_entries=200)
def _cached_read_slow(
    url: str, tok: str | None, name: str, args: Args, kwargs: Kwargs
) -> tuple[object, ApiError | None]:
    return _read(url, tok, name, args, kwargs)


def fetch(call: Callable[Concatenate[ControlClient, P], T], *args: P.args, **kwargs: P.kwargs) -> Reply[T]:
    """A read through a client method (e.g. `fetch(ControlClient.slo_status)`), cached 5 s; never raises.

    On failure it answers the last good data of this browser session and its age.
    """
    return _fetch(call, args, kwargs, slow=False)


def fetch_slow(
    call: Callable[Concatenate[ControlClient, P], T], *args: P.args, **kwargs: P.kwargs
) -> Reply[T]:
    """`fetch` cached 60 s, for month-level figures (cost summary, SLA report)."""
    return _fetch(call, args, kwargs, slow=True)


def _fetch(call: Callable[..., T], args: Args, kwargs: dict[str, Hashable], *, slow: bool) -> Reply[T]:
    cfg = config()
    tok = token() or (cfg.service_token if cfg.public_status else None)
    named = tuple(sorted((k, v) for k, v in kwargs.items() if v is not None))
    key = (call.__name__, args, named)
    data, error = (_cached_read_slow if slow else _cached_read)(cfg.api_url, tok, call.__name__, args, named)
    book: dict[object, tuple[object, float]] = st.session_state.setdefault("_last_good", {})
    now = time.time()
    if error is None:
        book[key] = (data, now)
        return Reply(data=data)  # type: ignore[arg-type]
    if error.status in (0, 502, 503, 504) and key in book:
        old, at = book[key]
        return Reply(data=old, error=error, age_s=now - at)  # type: ignore[arg-type]
    return Reply(error=error)


def act(
    call: Callable[Concatenate[ControlClient, P], T], *args: P.args, **kwargs: P.kwargs
) -> tuple[T | None, ApiError | None]:
    """A state-changing client call with the user's token (never the service token); clears cached reads."""
    tok = token()
    if tok is None:
        return None, ApiError(401, "log in first", method=call.__name__)
    try:
        out = call(_client(config().api_url, tok), *args, **kwargs)
    except ApiError as exc:
        return None, exc
    _cached_read.clear()
    _cached_read_slow.clear()
    return out, None


def login(secret: str) -> str | None:
    """Check a token with the API; on success remember it and its role. Returns an error message or None."""
    secret = secret.strip()
    if not secret:
        return "paste a token (`streamverse token create --role viewer`)"
    try:
        who = ControlClient(config().api_url, secret, timeout=8.0).whoami()
    except ApiError as exc:
        if exc.status == 401:
            return "that token is invalid, revoked or expired"
        return f"cannot check the token: {exc.detail}"
    st.session_state["token"] = secret
    st.session_state["role"] = who.role
    st.session_state["who"] = who.name
    return None


def logout() -> None:
    """Forget the token."""
    for k in ("token", "role", "who", "_last_good"):
        st.session_state.pop(k, None)
