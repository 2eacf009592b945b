"""The evaluation loop on APScheduler; with Redis, only the replica holding the lock evaluates."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from streamverse.alerts.service import AlertService

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

    def stop(self) -> None:
        """Stop and hand leadership over."""
        self.scheduler.shutdown(wait=True)
        self.leader.resign()
