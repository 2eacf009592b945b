"""A durable job queue with leases: Redis when configured, the database otherwise.

A claimed job is leased for `visibility_s`; the worker renews the lease while it runs. A
worker that dies stops renewing, the lease runs out, and the next claim takes the job
again (the reliable-queue pattern), counting the attempt. Failures are retried with
exponential backoff; after `max_attempts` the job is dead-lettered with its last error.
Time comes from the injected clock, so both backends agree with the rest of the system.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from streamverse.clock import Clock
from streamverse.platform.media.models import TranscodeJob

QUEUED, RUNNING, SUCCEEDED, DEAD = "queued", "running", "succeeded", "dead"


@dataclass(slots=True)
class Job:
    """A job as a worker or an operator sees it."""

    id: str
    payload: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    progress: float = 0.0
    error: str | None = None
    worker: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class JobQueue(Protocol):
    """What workers and the pipeline need from a queue backend."""

    def enqueue(self, payload: dict[str, Any], *, max_attempts: int | None = None) -> str: ...
    def claim(self, worker: str) -> Job | None: ...
    def renew(self, job_id: str, worker: str) -> bool: ...
    def set_progress(self, job_id: str, fraction: float) -> None: ...
    def complete(self, job_id: str, worker: str) -> None: ...
    def fail(self, job_id: str, worker: str, error: str, *, retryable: bool = True) -> Job | None: ...
    def get(self, job_id: str) -> Job | None: ...
    def depth(self) -> dict[str, int]: ...
    def requeue_dead(self, job_id: str) -> bool: ...


def backoff_s(attempts: int, *, base_s: float, cap_s: float) -> float:
    """Delay before retry number `attempts` (1 after the first failure): base * 2^(n-1), capped."""
    return min(cap_s, base_s * 2 ** max(0, attempts - 1))


class DbJobQueue:
    """The embedded default: jobs are rows; a claim is a conditional UPDATE, never shared by two workers."""

    def __init__(self, *, engine: Engine, clock: Clock, visibility_s: float = 60.0, max_attempts: int = 3,
                 backoff_base_s: float = 5.0, backoff_cap_s: float = 600.0) -> None:
        self.engine, self.clock = engine, clock
        self.visibility_s, self.max_attempts = visibility_s, max_attempts
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s

    def enqueue(self, payload: dict[str, Any], *, max_attempts: int | None = None) -> str:
        """Add a job; returns its id."""
        now = self.clock.now()
        job_id = uuid.uuid4().hex
        with Session(self.engine) as session:
            session.add(TranscodeJob(id=job_id, payload=json.dumps(payload), run_at=now, created_at=now,
                                     updated_at=now, max_attempts=max_attempts or self.max_attempts))
            session.commit()
        return job_id

    def _reap(self, session: Session, now: float) -> None:
        """Expired leases whose attempts are used up go to the dead letter state."""
        session.exec(update(TranscodeJob).where(
            col(TranscodeJob.status) == RUNNING, col(TranscodeJob.lease_until) < now,
            col(TranscodeJob.attempts) >= col(TranscodeJob.max_attempts),
        ).values(status=DEAD, error=func.coalesce(TranscodeJob.error, "worker lost (lease expired)"),
                 updated_at=now))

    def claim(self, worker: str) -> Job | None:
        """Lease the oldest runnable job (or one whose worker vanished), or None."""
        now = self.clock.now()
        runnable = or_(
            (col(TranscodeJob.status) == QUEUED) & (col(TranscodeJob.run_at) <= now),
            (col(TranscodeJob.status) == RUNNING) & (col(TranscodeJob.lease_until) < now)
            & (col(TranscodeJob.attempts) < col(TranscodeJob.max_attempts)),
        )
        with Session(self.engine) as session:
            self._reap(session, now)
            session.commit()
            for _ in range(5):
                row = session.exec(select(TranscodeJob.id, TranscodeJob.attempts).where(runnable)
                                   .order_by(col(TranscodeJob.run_at)).limit(1)).first()
                if row is None:
                    return None
                job_id, attempts = row
                # the attempts check makes the UPDATE lose if another worker claimed it first
                result = session.exec(update(TranscodeJob).where(
                    col(TranscodeJob.id) == job_id, col(TranscodeJob.attempts) == attempts, runnable,
                ).values(status=RUNNING, attempts=attempts + 1, worker=worker, progress=0.0,
                         lease_until=now + self.visibility_s, updated_at=now))
                session.commit()
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    return self.get(job_id)
        return None

    def _update_mine(self, job_id: str, worker: str, **values: Any) -> bool:
        with Session(self.engine) as session:
            result = session.exec(update(TranscodeJob).where(
                col(TranscodeJob.id) == job_id, col(TranscodeJob.worker) == worker,
                col(TranscodeJob.status) == RUNNING).values(updated_at=self.clock.now(), **values))
            session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]

    def renew(self, job_id: str, worker: str) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""
        return self._update_mine(job_id, worker, lease_until=self.clock.now() + self.visibility_s)

    def set_progress(self, job_id: str, fraction: float) -> None:
        """Record progress 0..1."""
        with Session(self.engine) as session:
            session.exec(update(TranscodeJob).where(col(TranscodeJob.id) == job_id)
                         .values(progress=round(fraction, 4)))
            session.commit()

    def complete(self, job_id: str, worker: str) -> None:
        """Mark the job done."""
        self._update_mine(job_id, worker, status=SUCCEEDED, progress=1.0, lease_until=None, error=None)

    def fail(self, job_id: str, worker: str, error: str, *, retryable: bool = True) -> Job | None:
        """Retry later with backoff, or dead-letter when attempts are used up or it cannot succeed."""
        job = self.get(job_id)
        if job is None:
            return None
        now = self.clock.now()
        if retryable and job.attempts < job.max_attempts:
            delay = backoff_s(job.attempts, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s)
            self._update_mine(job_id, worker, status=QUEUED, run_at=now + delay, lease_until=None,
                              error=error[:1000])
        else:
            self._update_mine(job_id, worker, status=DEAD, lease_until=None, error=error[:1000])
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        with Session(self.engine) as session:
            row = session.get(TranscodeJob, job_id)
            if row is None:
                return None
            return Job(id=row.id, payload=json.loads(row.payload), status=row.status, attempts=row.attempts,
                       max_attempts=row.max_attempts, progress=row.progress, error=row.error,
                       worker=row.worker)

    def depth(self) -> dict[str, int]:
        """Jobs per state (queued includes those waiting out a backoff)."""
        out = dict.fromkeys((QUEUED, RUNNING, DEAD), 0)
        with Session(self.engine) as session:
            for status, n in session.exec(select(TranscodeJob.status, func.count())
                                          .group_by(col(TranscodeJob.status))):
                if status in out:
                    out[status] = int(n)
        return out

    def requeue_dead(self, job_id: str) -> bool:
        """Give a dead job a fresh set of attempts."""
        with Session(self.engine) as session:
            result = session.exec(update(TranscodeJob).where(
                col(TranscodeJob.id) == job_id, col(TranscodeJob.status) == DEAD,
            ).values(status=QUEUED, attempts=0, run_at=self.clock.now(), lease_until=None))
            session.commit()
            return result.rowcount == 1  # type: ignore[attr-defined]


# Moves due delayed jobs to ready, reaps expired leases (retry or dead), then pops one job.
_CLAIM = """
local p = ARGV[3]
local now = tonumber(ARGV[1])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p..'delayed', '-inf', now)) do
  redis.call('ZREM', p..'delayed', id); redis.call('LPUSH', p..'ready', id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p..'running', '-inf', now)) do
  redis.call('ZREM', p..'running', id)
  local k = p..'job:'..id
  if tonumber(redis.call('HGET', k, 'attempts')) >= tonumber(redis.call('HGET', k, 'max_attempts')) then
    redis.call('HSET', k, 'status', 'dead', 'worker', '')
    if redis.call('HEXISTS', k, 'error') == 0 then
      redis.call('HSET', k, 'error', 'worker lost (lease expired)')
    end
    redis.call('RPUSH', p..'dead', id)
  else
    redis.call('HSET', k, 'status', 'queued', 'worker', '')
    redis.call('RPUSH', p..'ready', id)
  end
end
local id = redis.call('RPOP', p..'ready')
if not id then return false end
local k = p..'job:'..id
redis.call('ZADD', p..'running', now + tonumber(ARGV[2]), id)
redis.call('HINCRBY', k, 'attempts', 1)
redis.call('HSET', k, 'status', 'running', 'worker', ARGV[4], 'progress', '0')
return id
"""


class RedisJobQueue:
    """Redis lists and sorted sets: `ready` (list), `running` and `delayed` (scored by time), `dead`."""

    def __init__(self, *, url: str, clock: Clock, prefix: str = "sv:tq:", visibility_s: float = 60.0,
                 max_attempts: int = 3, backoff_base_s: float = 5.0, backoff_cap_s: float = 600.0) -> None:
        self.r = redis.Redis.from_url(url, decode_responses=True)
        self.clock, self.p = clock, prefix
        self.visibility_s, self.max_attempts = visibility_s, max_attempts
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self._claim = self.r.register_script(_CLAIM)

    def enqueue(self, payload: dict[str, Any], *, max_attempts: int | None = None) -> str:
        """Add a job; returns its id."""
        job_id = uuid.uuid4().hex
        pipe = self.r.pipeline()
        pipe.hset(self.p + "job:" + job_id, mapping={
            "payload": json.dumps(payload), "status": QUEUED, "attempts": 0,
            "max_attempts": max_attempts or self.max_attempts, "progress": 0, "created_at": self.clock.now()})
        pipe.lpush(self.p + "ready", job_id)
        pipe.execute()
        return job_id

    def claim(self, worker: str) -> Job | None:
        """Lease the next job (after moving due retries and reclaiming lost ones), or None."""
        job_id = self._claim(args=[self.clock.now(), self.visibility_s, self.p, worker])
        return self.get(job_id) if job_id else None

    def _mine(self, job_id: str, worker: str) -> bool:
        return self.r.hget(self.p + "job:" + job_id, "worker") == worker and \
            self.r.zscore(self.p + "running", job_id) is not None

    def renew(self, job_id: str, worker: str) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""
        if not self._mine(job_id, worker):
            return False
        self.r.zadd(self.p + "running", {job_id: self.clock.now() + self.visibility_s}, xx=True)
        return True

    def set_progress(self, job_id: str, fraction: float) -> None:
        """Record progress 0..1."""
        self.r.hset(self.p + "job:" + job_id, "progress", round(fraction, 4))

    def complete(self, job_id: str, worker: str) -> None:
        """Mark the job done."""
        if self.r.zrem(self.p + "running", job_id):
            self.r.hset(self.p + "job:" + job_id, mapping={"status": SUCCEEDED, "progress": 1, "error": ""})

    def fail(self, job_id: str, worker: str, error: str, *, retryable: bool = True) -> Job | None:
        """Retry later with backoff, or dead-letter when attempts are used up or it cannot succeed."""
        key = self.p + "job:" + job_id
        if not self.r.zrem(self.p + "running", job_id):
            return self.get(job_id)  # the lease had already gone; the reaper decides
        job = self.get(job_id)
        assert job is not None
        pipe = self.r.pipeline()
        if retryable and job.attempts < job.max_attempts:
            delay = backoff_s(job.attempts, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s)
            pipe.hset(key, mapping={"status": QUEUED, "error": error[:1000], "worker": ""})
            pipe.zadd(self.p + "delayed", {job_id: self.clock.now() + delay})
        else:
            pipe.hset(key, mapping={"status": DEAD, "error": error[:1000], "worker": ""})
            pipe.rpush(self.p + "dead", job_id)
        pipe.execute()
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        h = self.r.hgetall(self.p + "job:" + job_id)
        if not h:
            return None
        return Job(id=job_id, payload=json.loads(h["payload"]), status=h["status"],
                   attempts=int(h["attempts"]), max_attempts=int(h["max_attempts"]),
                   progress=float(h.get("progress") or 0), error=h.get("error") or None,
                   worker=h.get("worker") or None)

    def depth(self) -> dict[str, int]:
        """Jobs per state (queued includes those waiting out a backoff)."""
        pipe = self.r.pipeline()
        pipe.llen(self.p + "ready")
        pipe.zcard(self.p + "delayed")
        pipe.zcard(self.p + "running")
        pipe.llen(self.p + "dead")
        ready, delayed, running, dead = pipe.execute()
        return {QUEUED: ready + delayed, RUNNING: running, DEAD: dead}

    def requeue_dead(self, job_id: str) -> bool:
        """Give a dead job a fresh set of attempts."""
        if not self.r.lrem(self.p + "dead", 1, job_id):
            return False
        self.r.hset(self.p + "job:" + job_id, mapping={"status": QUEUED, "attempts": 0})
        self.r.lpush(self.p + "ready", job_id)
        return True

    def close(self) -> None:
        """Close the connection pool."""
        self.r.close()


def make_queue(*, redis_url: str | None, engine: Engine, clock: Clock, **options: Any) -> JobQueue:
    """Redis when a URL is configured, else the database."""
    if redis_url:
        return RedisJobQueue(url=redis_url, clock=clock, **options)
    return DbJobQueue(engine=engine, clock=clock, **options)
