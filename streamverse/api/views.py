"""The control plane's own resources: health, who am I, tokens and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status

from streamverse.api import service
from streamverse.api.deps import AdminDep, ClockDep, SessionDep, ViewerDep
from streamverse.api.enums import Role
from streamverse.api.models import ApiTokenCreate, ApiTokenCreated, ApiTokenRead, AuditRead
from streamverse.clock import utc_iso

router = APIRouter(tags=["control plane"])


@router.get("/health", summary="Liveness and database reachability (no token needed)")
def health(session: SessionDep, clock: ClockDep) -> dict[str, Any]:
    """Whether the API answers and its database responds."""
    from sqlalchemy import text

    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok", "time": utc_iso(clock.now()), "database": session.get_bind().dialect.name}


@router.get("/whoami", summary="The token presenting this request and what it may do")
def whoami(token: ViewerDep) -> dict[str, Any]:
    """Name and role of the caller, so scripts can check their token before acting."""
    role = Role(token.role)
    return {"id": token.id, "name": token.name, "role": role.value, "prefix": token.prefix,
            "can": [r.value for r in Role if r <= role]}


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=ApiTokenCreated,
             summary="Create an API token (admin); the secret is in this response only")
def create_token(body: ApiTokenCreate, request: Request, session: SessionDep, clock: ClockDep,
                 _admin: AdminDep) -> ApiTokenCreated:
    """A new token for a person or a script."""
    token, secret = service.create_token(session=session, role=body.role, name=body.name,
                                         expires_in_s=body.expires_in_s, clock=clock)
    request.state.audit_target = {"token_id": token.id, "role": token.role, "name": token.name}
    return ApiTokenCreated(**_read(token).model_dump(), token=secret)


@router.get("/tokens", response_model=list[ApiTokenRead], summary="List API tokens (admin)")
def list_tokens(session: SessionDep, _admin: AdminDep,
                include_revoked: bool = True) -> list[ApiTokenRead]:
    """Every token with its prefix and last use; secrets are never shown."""
    return [_read(t) for t in service.list_tokens(session=session, include_revoked=include_revoked)]


@router.delete("/tokens/{token_id}", response_model=ApiTokenRead, summary="Revoke an API token (admin)")
def revoke_token(token_id: int, request: Request, session: SessionDep, clock: ClockDep,
                 _admin: AdminDep) -> ApiTokenRead:
    """Stop a token working at once; the row stays for the audit trail."""
    request.state.audit_target = {"token_id": token_id}
    token = service.revoke_token(session=session, token_id=token_id, clock=clock)
    if token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail=f"no token with id {token_id}; see GET /api/v1/tokens")
    return _read(token)


@router.get("/audit", response_model=list[AuditRead], summary="The audit trail, newest first (admin)")
def list_audit(session: SessionDep, _admin: AdminDep,
               since: Annotated[datetime | None, Query(description="ISO-8601; UTC when no zone")] = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[AuditRead]:
    """Who changed what and when, including refused attempts."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return [AuditRead.model_validate(r, from_attributes=True)
            for r in service.list_audit(session=session, since=since, limit=limit)]


def _read(token: Any) -> ApiTokenRead:
    return ApiTokenRead.model_validate(token, from_attributes=True)
