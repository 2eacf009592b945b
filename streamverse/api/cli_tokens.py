"""`streamverse token create`: a token straight into the configured database."""

from __future__ import annotations

from streamverse.api import models, service
from streamverse.api.enums import Role
from streamverse.clock import utc_iso
from streamverse.db import get_engine, init_db, session_scope
from streamverse.errors import UsageError
from streamverse.output import console, emit_json
from streamverse.settings import Settings


def create_token_command(settings: Settings, *, role: str, name: str, json_out: bool) -> None:
    """Create a token and print its secret once (the database keeps only its hash)."""
    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        raise UsageError(f"--role: {exc}") from None
    if not name.strip():
        raise UsageError("--name: must not be empty; say who or what the token is for")
    engine = get_engine(settings.resolved_database_url)
    init_db(engine, models)
    with session_scope(engine) as session:
        token, secret = service.create_token(session=session, role=parsed, name=name)
    created_at = utc_iso(token.created_at.timestamp())
    if json_out:
        emit_json({"id": token.id, "name": token.name, "role": token.role, "token": secret,
                   "created_at": created_at})
        return
    console.print(f"Created [bold]{token.role}[/] token [bold]{token.name}[/] (id {token.id}, {created_at}).")
    console.print("Store it now; it is not shown again:")
    console.print(secret, highlight=False, soft_wrap=True)
    console.print(f"Use it as: Authorization: Bearer {secret[:service.PREFIX_LEN]}...", highlight=False)
