"""Token and audit logic over a session: no HTTP types here."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from streamverse.api.enums import Role
from streamverse.api.models import ApiToken, AuditRecord
from streamverse.clock import Clock, RealClock

PREFIX_LEN = 13  # "sv_a_" + 8 random characters: unique enough to find the row, useless alone
LAST_USED_RESOLUTION_S = 60.0  # one write a minute per token at most, not one per request
# "token" or "x_password" are secrets; "token_id" is not.
_SECRET_KEY = re.compile(r"(^|[_-])(token|secret|password|passwd|authorization|api_?key)$", re.IGNORECASE)


def _now(clock: Clock | None) -> datetime:
    return datetime.fromtimestamp((clock or RealClock()).now(), tz=UTC)


def hash_secret(secret: str) -> str:
    """The stored form of a token: sha256 hex (tokens are long and random, no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, session: Session, role: Role | str, name: str, expires_in_s: float | None = None,
                 clock: Clock | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is never stored and cannot be shown again."""
    role = Role.parse(role) if isinstance(role, str) else role
    if not name.strip():
        raise ValueError("a token needs a name saying who or what it is for")
    secret = f"sv_{role.letter}_{secrets.token_urlsafe(32)}"
    now = _now(clock)
    token = ApiToken(
        name=name.strip(), role=role.value, token_hash=hash_secret(secret), prefix=secret[:PREFIX_LEN],
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_s) if expires_in_s else None,
    )
    session.add(token)
    session.flush()
    return token, secret


def authenticate(*, session: Session, secret: str, clock: Clock | None = None) -> ApiToken | None:
    """The live token this secret belongs to, or None (unknown, revoked or expired)."""
    if not secret or not secret.startswith("sv_") or len(secret) < PREFIX_LEN + 8:
        return None
    digest = hash_secret(secret)
    now = _now(clock)
    found: ApiToken | None = None
    for candidate in session.exec(select(ApiToken).where(ApiToken.prefix == secret[:PREFIX_LEN])):
        if hmac.compare_digest(candidate.token_hash, digest):
            found = candidate
    if found is None or found.revoked_at is not None:
        return None
    if found.expires_at is not None and found.expires_at <= now:
        return None
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_S:
        found.last_used_at = now
        session.add(found)
        session.flush()
    return found


def get_token(*, session: Session, token_id: int) -> ApiToken | None:
    """One token by id, revoked or not."""
    return session.get(ApiToken, token_id)


def revoke_token(*, session: Session, token_id: int, clock: Clock | None = None) -> ApiToken | None:
    """Stop a token working from now on; revoking twice keeps the first time."""
    token = session.get(ApiToken, token_id)
    if token is None:
        return None
    if token.revoked_at is None:
        token.revoked_at = _now(clock)
        session.add(token)
        session.flush()
    return token


def list_tokens(*, session: Session, include_revoked: bool = True) -> list[ApiToken]:
    """Every token, oldest first."""
    stmt = select(ApiToken).order_by(col(ApiToken.id))
    if not include_revoked:
        stmt = stmt.where(col(ApiToken.revoked_at).is_(None))
    return list(session.exec(stmt))


def redact(params: Mapping[str, Any]) -> dict[str, Any]:
    """A summary safe for the audit trail: secret-looking keys masked, long values cut."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if _SECRET_KEY.search(str(key)):
            out[key] = "***"
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        elif isinstance(value, str) and value.startswith("sv_"):
            out[key] = "***"
        elif isinstance(value, str) and len(value) > 200:
            out[key] = value[:200] + "..."
        else:
            out[key] = value
    return out


def outcome_for(status_code: int) -> str:
    """How a call ended, in the audit trail's words."""
    if status_code in (401, 403):
        return "denied"
    if status_code >= 500:
        return "failed"
    if status_code >= 400:
        return "rejected"
    return "succeeded"


def actor_for(token: ApiToken | None) -> str:
    """Who acted: the token's name and role, or "anonymous" when none was accepted."""
    return f"{token.name} ({token.role})" if token is not None else "anonymous"


def record_audit(*, session: Session, actor: str, method: str, path: str, status_code: int,
                 target: Mapping[str, Any] | None = None, trace_id: str | None = None,
                 outcome: str | None = None, clock: Clock | None = None) -> AuditRecord:
    """Append one audit record; `target` is redacted before it is stored."""
    record = AuditRecord(
        at=_now(clock), actor=actor[:240], method=method.upper(), path=path[:1000],
        status_code=status_code, target=redact(target or {}), trace_id=trace_id,
        outcome=outcome or outcome_for(status_code),
    )
    session.add(record)
    session.flush()
    return record


def list_audit(*, session: Session, since: datetime | None = None, limit: int = 100) -> list[AuditRecord]:
    """The newest audit records first, optionally only those at or after `since`."""
    stmt = select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(max(1, min(limit, 10_000)))
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        stmt = stmt.where(AuditRecord.at >= since)
    return list(session.exec(stmt))
