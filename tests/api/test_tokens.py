"""Token service on real SQLite and PostgreSQL: hashing, lookup, revocation, expiry, audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from streamverse.api import service
from streamverse.api.enums import Role
from streamverse.api.models import ApiToken
from streamverse.clock import VirtualClock
from streamverse.db import get_engine, init_db, session_scope

T0 = 1_790_000_000.0


@pytest.fixture
def engine(db_url: str):
    engine = get_engine(db_url)
    init_db(engine)
    return engine


def test_roles_are_ordered_and_parse_with_a_helpful_error():
    assert Role.viewer < Role.responder < Role.admin
    assert Role.admin >= Role.responder and not Role.viewer >= Role.responder
    assert sorted([Role.admin, Role.viewer, Role.responder]) == [Role.viewer, Role.responder, Role.admin]
    assert Role.parse(" Admin ") is Role.admin
    with pytest.raises(ValueError, match="viewer, responder, admin"):
        Role.parse("root")


def test_secret_is_shown_once_and_only_its_hash_is_stored(engine):
    with session_scope(engine) as s:
        token, secret = service.create_token(session=s, role=Role.responder, name="oncall")
    assert secret.startswith("sv_r_") and len(secret) > 40
    with session_scope(engine) as s:
        row = s.exec(select(ApiToken)).one()
        stored = [str(v) for v in row.model_dump().values()]
    assert secret not in stored
    assert row.token_hash == service.hash_secret(secret)
    assert secret.startswith(row.prefix)
    assert row.created_at.tzinfo is not None


def test_authenticate_accepts_the_secret_and_nothing_else(engine):
    with session_scope(engine) as s:
        token, secret = service.create_token(session=s, role="admin", name="ops")
        other, _ = service.create_token(session=s, role="viewer", name="dash")
    with session_scope(engine) as s:
        found = service.authenticate(session=s, secret=secret)
        assert found is not None and found.id == token.id and found.role == "admin"
        typo = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        assert service.authenticate(session=s, secret=typo) is None
        assert service.authenticate(session=s, secret="") is None
        assert service.authenticate(session=s, secret="Bearer nonsense") is None
        # Same prefix, different tail: the prefix alone never authenticates.
        assert service.authenticate(session=s, secret=secret[: service.PREFIX_LEN] + "x" * 40) is None


def test_revoked_and_expired_tokens_are_refused(engine):
    clock = VirtualClock(T0)
    with session_scope(engine) as s:
        revoked, rsecret = service.create_token(session=s, role="admin", name="old", clock=clock)
        short, ssecret = service.create_token(session=s, role="viewer", name="temp", expires_in_s=60,
                                              clock=clock)
    with session_scope(engine) as s:
        assert service.authenticate(session=s, secret=rsecret, clock=clock) is not None
        first = service.revoke_token(session=s, token_id=revoked.id, clock=clock)
        assert first is not None and first.revoked_at == datetime.fromtimestamp(T0, tz=UTC)
        assert service.revoke_token(session=s, token_id=9999, clock=clock) is None
    with session_scope(engine) as s:
        assert service.authenticate(session=s, secret=rsecret, clock=clock) is None
        assert service.authenticate(session=s, secret=ssecret, clock=clock) is not None
        clock.advance(61)
        assert service.authenticate(session=s, secret=ssecret, clock=clock) is None
        assert [t.name for t in service.list_tokens(session=s, include_revoked=False)] == ["temp"]
        assert len(service.list_tokens(session=s)) == 2


def test_last_used_is_written_at_most_once_a_minute(engine):
    clock = VirtualClock(T0)
    with session_scope(engine) as s:
        _, secret = service.create_token(session=s, role="viewer", name="v", clock=clock)
    stamps = []
    for dt in (0, 10, 50, 30):  # t = 0, 10, 60, 90
        clock.advance(dt)
        with session_scope(engine) as s:
            token = service.authenticate(session=s, secret=secret, clock=clock)
            stamps.append(token.last_used_at.timestamp())
    assert stamps == [T0, T0, T0 + 60, T0 + 60]


def test_audit_records_are_redacted_and_listed_newest_first(engine):
    clock = VirtualClock(T0)
    with session_scope(engine) as s:
        service.record_audit(session=s, actor="ops (admin)", method="post", path="/api/v1/tokens",
                             status_code=201, target={"name": "x", "token": "sv_a_secret",
                                                      "nested": {"password": "p", "token_id": 4}},
                             trace_id="a" * 32, clock=clock)
        clock.advance(10)
        service.record_audit(session=s, actor="anonymous", method="DELETE", path="/api/v1/tokens/1",
                             status_code=401, clock=clock)
    with session_scope(engine) as s:
        rows = service.list_audit(session=s)
        assert [r.status_code for r in rows] == [401, 201]
        assert rows[0].outcome == "denied" and rows[1].outcome == "succeeded"
        assert rows[1].method == "POST"
        assert rows[1].target == {"name": "x", "token": "***", "nested": {"password": "***", "token_id": 4}}
        since = service.list_audit(session=s, since=datetime.fromtimestamp(T0 + 5, tz=UTC))
        assert [r.status_code for r in since] == [401]
        assert len(service.list_audit(session=s, limit=1)) == 1
