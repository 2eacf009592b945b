"""The evaluation loop on APScheduler; with Redis, only the replica holding the lock evaluates."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from streamverse.alerts.loop import AlertService

log = logging.getLogger("streamverse.alerts")
LOCK_KEY = "streamverse:alerts:leader"


class Leadership:
    """A Redis lock with a TTL: the holder renews it every cycle; a dead leader's lock lapses."""

    def __init__(self, redis_url: str | None, *, ttl_s: float) -> None:
        self.id = uuid.uuid4().hex
        self.ttl_ms = int(ttl_s * 1000)
        self.redis: Any = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)

    def lead(self) -> bool:
        """True when this replica is (still, or now) the leader."""
        if self.redis is None:
            return True
        if self.redis.set(LOCK_KEY, self.id, nx=True, px=self.ttl_ms):
            return True
        renewed = self.redis.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
            "else return 0 end",
            1,
            LOCK_KEY,
            self.id,
            self.ttl_ms,
        )
        return bool(renewed)

    def resign(self) -> None:
        """Give the lock up at shutdown so another replica takes over at once."""
        if self.redis is not None:
            self.redis.eval(
                "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                "else return 0 end",
                1,
                LOCK_KEY,
                self.id,
            )


@dataclass(frozen=True)
class PeriodicCheck:
    """A slower job beside the evaluation, e.g. the cost check that reports findings every 5 min."""

    name: str
    interval_s: float
    run: Callable[[], Any]
    first_after_s: float = 60.0  # let the system settle before the first (heavier) check


class AlertScheduler:
    """Runs `service.cycle()` every `interval_s` (10 s by default live)."""

    def __init__(
        self, service: AlertService, *, interval_s: float = 10.0, redis_url: str | None = None
    ) -> None:
        self.service = service
        self.interval_s = interval_s
        self.leader = Leadership(redis_url, ttl_s=max(3 * interval_s, 5.0))
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.cycles = 0
        self.checks: dict[str, int] = {}

    def tick(self) -> None:
        """One cycle if this replica leads; errors are logged, the loop continues."""
        try:
            if self.leader.lead():
                self.service.cycle()
                self.cycles += 1
        except Exception:  # noqa: BLE001 - the loop must survive a bad cycle
            log.exception("alert evaluation cycle failed")

    def start(self) -> None:
        """Start evaluating in the background."""
        self.scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.interval_s,
            max_instances=1,
            coalesce=True,
            id="alerts-evaluate",
        )
        self.scheduler.start()

    def add_check(self, check: PeriodicCheck) -> None:
        """Run `check` every `interval_s` on the leader only (one replica reports, as one evaluates)."""

        def tick() -> None:
            try:
                if self.leader.lead():
                    check.run()
                    self.checks[check.name] = self.checks.get(check.name, 0) + 1
            except Exception:  # noqa: BLE001 - a failing check must not stop the loop
                log.exception("periodic check %s failed", check.name)

        first = datetime.now(UTC) + timedelta(seconds=min(check.first_after_s, check.interval_s))
        self.scheduler.add_job(
            tick,
            "interval",
            seconds=check.interval_s,
            max_instances=1,
            coalesce=True,
            id=f"check-{check.name}",
            next_run_time=first,
        )

    def stop(self) -> None:
        """Stop and hand leadership over."""
        self.scheduler.shutdown(wait=True)
        self.leader.resign()
