"""Control-plane tables: API tokens (only their hashes) and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from streamverse.api.enums import Role
from streamverse.db import UTCDateTime


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class ApiTokenBase(SQLModel):
    name: str = Field(max_length=200, description="who or what the token is for")
    role: Role = Field(description="viewer, responder or admin")


class ApiToken(ApiTokenBase, table=True):
    """A bearer token; the secret is shown once at creation, only its sha256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=16)  # type: ignore[assignment]
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=24, index=True, description="first characters, for lookup")
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(default=None)
    revoked_at: datetime | None = _ts(default=None)
    expires_at: datetime | None = _ts(default=None)


class ApiTokenCreate(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    expires_in_s: float | None = Field(default=None, gt=0, description="lifetime; forever when unset")


class ApiTokenRead(ApiTokenBase):
    id: int
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="the secret; shown only in this response")


class AuditRecord(SQLModel, table=True):
    """One state-changing call, allowed or refused: who, what, when, and how it ended."""

    __tablename__ = "audit_record"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor: str = Field(max_length=240, description='"name (role)" of the token, or "system"')
    method: str = Field(max_length=10)
    path: str = Field(max_length=1000)
    status_code: int
    target: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    trace_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16, description="succeeded, denied, rejected or failed")


class AuditRead(SQLModel):
    id: int
    at: datetime
    actor: str
    method: str
    path: str
    status_code: int
    target: dict[str, Any]
    trace_id: str | None
    outcome: str
