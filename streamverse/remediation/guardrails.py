"""Guardrails around runbook runs: capacity limits, cooldowns, one run per target, idempotency.

The per-target lock is Redis (`SET NX PX` with a token, released by a Lua compare-and-delete)
when settings.redis_url is set, else a row in `runbook_lock`; either way the token is the
run's uid, so a loser can tell the caller which run holds the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from streamverse.clock import Clock
from streamverse.errors import StreamVerseError
from streamverse.remediation.enums import RunStatus
from streamverse.remediation.models import RunbookRun, RunLock


class GuardrailError(StreamVerseError):
    """A run the guardrails refuse; `run_id` names the run in the way, when there is one."""

    def __init__(self, message: str, *, run_id: int | None = None) -> None:
        self.run_id = run_id
        super().__init__(message)


@dataclass(frozen=True)
class GuardrailConfig:
    """Limits for remediation; pass different ones for drills or tests."""

    max_drained_share: float = 0.5  # never leave more than this share of edge capacity drained
    approval_share: float = 0.15  # a plan touching at least this share needs a second person
    cooldown_s: float = 300.0  # between finished runs of one runbook on one target
    lock_ttl_s: float = 6 * 3600.0  # a crashed holder's lock expires after this long

    @classmethod
    def from_settings(cls, settings: Any) -> GuardrailConfig:
        """Settings fields `remediation_*` when present, else the defaults."""
        kw = {}
        for name in ("max_drained_share", "approval_share", "cooldown_s", "lock_ttl_s"):
            value = getattr(settings, f"remediation_{name}", None)
            if value is not None:
                kw[name] = float(value)
        return cls(**kw)


# -- capacity --------------------------------------------------------------------------------------
def capacity(status: dict[str, Any]) -> dict[str, float]:
    """Edge capacity (Gbps) of every PoP."""
    return {p: float(info.get("capacity_gbps", 0.0)) for p, info in status["pops"].items()}


def drained_pops(status: dict[str, Any]) -> set[str]:
    """PoPs taking no traffic now: drained themselves or in a drained region."""
    out = set()
    for p, info in status["pops"].items():
        region = status["regions"].get(info.get("region"), {})
        if float(info.get("weight", 1.0)) == 0.0 or float(region.get("weight", 1.0)) == 0.0:
            out.add(p)
    return out


def region_serving(status: dict[str, Any], region: str) -> bool:
    """A region that takes traffic: weight above 0, healthy, with a usable PoP."""
    info = status["regions"][region]
    return (
        float(info.get("weight", 0)) > 0 and bool(info.get("healthy")) and int(info.get("usable_pops", 0)) > 0
    )


def check_region_drain(status: dict[str, Any], region: str, config: GuardrailConfig) -> dict[str, Any]:
    """Refuse draining the last serving region or more than the allowed capacity share; else the blast."""
    if region not in status["regions"]:
        raise GuardrailError(f"unknown region {region!r}; choose one of {sorted(status['regions'])}")
    others = [r for r in status["regions"] if r != region and region_serving(status, r)]
    if not others:
        raise GuardrailError(f"refusing to drain {region}: it is the last healthy region taking traffic")
    pops = [p for p, i in status["pops"].items() if i.get("region") == region]
    return check_pops_drain(status, pops, config) | {"receiving_regions": others}


def check_pops_drain(status: dict[str, Any], pops: list[str], config: GuardrailConfig) -> dict[str, Any]:
    """Refuse when the drain would leave more than max_drained_share of capacity out; else the blast."""
    cap = capacity(status)
    total = sum(cap.values()) or 1.0
    already = drained_pops(status)
    affected = [p for p in pops if p not in already]
    share = sum(cap[p] for p in affected) / total
    after = sum(cap[p] for p in already | set(pops)) / total
    if after > config.max_drained_share + 1e-9:
        raise GuardrailError(
            f"refusing: {after:.0%} of edge capacity would be drained "
            f"(limit {config.max_drained_share:.0%}); already drained: {sorted(already) or 'none'}"
        )
    return {
        "share_of_capacity": round(share, 4),
        "drained_share_after": round(after, 4),
        "pops_affected": sorted(affected),
        "capacity_gbps_affected": sum(cap[p] for p in affected),
    }


# -- cooldown ---------------------------------------------------------------------------------------
def check_cooldown(
    *, session: Session, runbook: str, target: str, now: float, config: GuardrailConfig
) -> None:
    """Refuse a run while the last finished run of this runbook on this target is inside the cooldown."""
    since = datetime.fromtimestamp(now - config.cooldown_s, tz=UTC)
    stmt = (
        select(RunbookRun)
        .where(RunbookRun.runbook == runbook, RunbookRun.target == target)
        .where(
            col(RunbookRun.status).in_(
                [RunStatus.succeeded.value, RunStatus.failed.value, RunStatus.rolled_back.value]
            )
        )
        .where(col(RunbookRun.finished_at) >= since)
        .order_by(col(RunbookRun.finished_at).desc())
    )
    last = session.exec(stmt).first()
    if last is not None and last.finished_at is not None:
        left = config.cooldown_s - (now - last.finished_at.timestamp())
        raise GuardrailError(
            f"{runbook} on {target} is cooling down for {left:.0f}s more "
            f"(run {last.id} finished {last.status})",
            run_id=last.id,
        )


# -- locks -------------------------------------------------------------------------------------------
class TargetLock(Protocol):
    """One holder per target; the token is the holder's run uid."""

    def acquire(self, target: str, token: str, ttl_s: float) -> bool:
        """Take the lock if free (or expired); True when taken."""
        ...

    def holder(self, target: str) -> str | None:
        """The token holding the lock, if any."""
        ...

    def release(self, target: str, token: str) -> bool:
        """Free the lock only if `token` still holds it."""
        ...


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisLock:
    """SET NX PX with a token; compare-and-delete in Lua so a late holder never frees another's lock."""

    def __init__(self, url: str, *, prefix: str = "streamverse:runbook-lock:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix
        self._release = self._redis.register_script(_RELEASE)

    def acquire(self, target: str, token: str, ttl_s: float) -> bool:
        """Take the lock if free; Redis expires it by itself after ttl_s."""
        return bool(self._redis.set(self._prefix + target, token, nx=True, px=max(1, int(ttl_s * 1000))))

    def holder(self, target: str) -> str | None:
        """The token holding the lock, if any."""
        value = self._redis.get(self._prefix + target)
        return value.decode() if isinstance(value, bytes) else value

    def release(self, target: str, token: str) -> bool:
        """Compare-and-delete."""
        return bool(self._release(keys=[self._prefix + target], args=[token]))


class DbLock:
    """A row per held target; the primary key makes the insert the atomic test-and-set."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def acquire(self, target: str, token: str, ttl_s: float) -> bool:
        """Insert the row; an expired row is removed first (only if it is still the expired one)."""
        now = self._clock.now()
        with Session(self._engine) as s:
            s.exec(delete(RunLock).where(RunLock.target == target, col(RunLock.expires_at) < now))  # type: ignore[call-overload]
            s.commit()
        try:
            with Session(self._engine) as s:
                s.add(RunLock(target=target, token=token, expires_at=now + ttl_s))
                s.commit()
            return True
        except IntegrityError:
            return False

    def holder(self, target: str) -> str | None:
        """The token holding the lock, if any."""
        with Session(self._engine) as s:
            row = s.get(RunLock, target)
            return row.token if row is not None and row.expires_at >= self._clock.now() else None

    def release(self, target: str, token: str) -> bool:
        """Delete the row only when our token holds it."""
        with Session(self._engine) as s:
            result = s.exec(delete(RunLock).where(RunLock.target == target, RunLock.token == token))  # type: ignore[call-overload]
            s.commit()
            return bool(result.rowcount)

    def extend(self, target: str, token: str, ttl_s: float) -> bool:
        """Push the expiry out while we hold it."""
        with Session(self._engine) as s:
            result = s.exec(
                update(RunLock)
                .where(RunLock.target == target, RunLock.token == token)  # type: ignore[call-overload]
                .values(expires_at=self._clock.now() + ttl_s)
            )
            s.commit()
            return bool(result.rowcount)


def make_lock(settings: Any, engine: Engine, clock: Clock) -> TargetLock:
    """Redis when configured, else the database."""
    url = getattr(settings, "redis_url", None)
    return RedisLock(url) if url else DbLock(engine, clock)
