"""FastAPI dependencies: a database session per request and role checks on bearer tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from streamverse.api import service
from streamverse.api.enums import Role
from streamverse.api.models import ApiToken
from streamverse.clock import Clock, RealClock
from streamverse.metricstore import MetricStore
from streamverse.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="`streamverse token create --role ROLE`")


def get_engine(request: Request) -> Engine:
    """The app's engine, set by create_app."""
    return request.app.state.engine


def get_clock(request: Request) -> Clock:
    """The app's clock (real in live runs, virtual in tests)."""
    return getattr(request.app.state, "clock", None) or RealClock()


def get_settings(request: Request) -> Settings:
    """The settings the app was made with."""
    return request.app.state.settings


def get_store(request: Request) -> MetricStore:
    """The app's one metric store, made by the composition root (embedded or Prometheus)."""
    return request.app.state.metric_store


def get_session(request: Request) -> Iterator[Session]:
    """A session committed when the route returns, before the response is sent."""
    with Session(get_engine(request), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": commit before the client sees the answer, so a 200 means it is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[MetricStore, Depends(get_store)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                         headers={"WWW-Authenticate": "Bearer"})


def current_token(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The live token presenting this request, or 401 saying how to get one."""
    if creds is None or not creds.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer TOKEN'; "
                            "create one with `streamverse token create --role viewer`")
    token = service.authenticate(session=session, secret=creds.credentials, clock=clock)
    if token is None:
        # The prefix is not a secret and tells an investigator which token was tried.
        request.state.audit_actor = f"rejected token {creds.credentials[:service.PREFIX_LEN]}"
        raise _unauthorized("invalid, revoked or expired token: create a new one with "
                            "`streamverse token create --role ROLE`")
    request.state.audit_actor = service.actor_for(token)
    return token


def require_role(role: Role) -> Callable[..., ApiToken]:
    """A dependency admitting tokens of `role` or higher; lower roles get 403."""

    def _check(token: Annotated[ApiToken, Depends(current_token)]) -> ApiToken:
        have = Role(token.role)
        if have < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this needs the '{role.value}' role; token '{token.name}' has '{have.value}'. "
                       f"Ask an admin for a token made with `streamverse token create --role {role.value}`",
            )
        return token

    _check.__name__ = f"require_{role.value}"
    return _check


ViewerDep = Annotated[ApiToken, Depends(require_role(Role.viewer))]
ResponderDep = Annotated[ApiToken, Depends(require_role(Role.responder))]
AdminDep = Annotated[ApiToken, Depends(require_role(Role.admin))]
