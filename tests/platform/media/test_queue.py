"""The durable queue on both backends: leases, retries with backoff, dead letter, no double claims."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamverse.clock import VirtualClock
from streamverse.db import get_engine, init_db
from streamverse.platform.media import models as _models  # noqa: F401 - registers the tables
from streamverse.platform.media.queue import DbJobQueue, JobQueue, RedisJobQueue, backoff_s


@pytest.fixture(params=["db", "redis"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JobQueue, VirtualClock]]:
    clock = VirtualClock(1_700_000_000)
    opts = {"visibility_s": 30, "max_attempts": 3, "backoff_base_s": 10, "backoff_cap_s": 100}
    if request.param == "db":
        engine = get_engine(f"sqlite:///{tmp_path / 'q.db'}")
        init_db(engine)
        yield DbJobQueue(engine=engine, clock=clock, **opts), clock
    else:
        q = RedisJobQueue(url=request.getfixturevalue("redis_url"), clock=clock, **opts)
        yield q, clock
        q.close()


def test_claim_complete_and_no_double_claim(queue: tuple[JobQueue, VirtualClock]) -> None:
    q, _ = queue
    first = q.enqueue({"video_id": 1})
    second = q.enqueue({"video_id": 2})
    a = q.claim("w1")
    b = q.claim("w2")
    assert a is not None and b is not None and {a.id, b.id} == {first, second}
    assert q.claim("w3") is None
    assert a.status == "running" and a.attempts == 1 and a.payload["video_id"] in (1, 2)
    q.set_progress(a.id, 0.5)
    assert q.get(a.id).progress == 0.5
    q.complete(a.id, "w1")
    assert q.get(a.id).status == "succeeded"
    assert q.depth() == {"queued": 0, "running": 1, "dead": 0}


def test_retry_with_backoff_then_dead_letter(queue: tuple[JobQueue, VirtualClock]) -> None:
    q, clock = queue
    job_id = q.enqueue({"video_id": 7})
    for attempt in (1, 2):
        job = q.claim("w")
        assert job is not None and job.attempts == attempt
        after = q.fail(job_id, "w", "ffmpeg_failed: boom")
        assert after.status == "queued" and after.error == "ffmpeg_failed: boom"
        assert q.claim("w") is None  # waiting out the backoff
        clock.advance(backoff_s(attempt, base_s=10, cap_s=100) + 0.1)
    job = q.claim("w")
    assert job is not None and job.attempts == 3
    dead = q.fail(job_id, "w", "ffmpeg_failed: boom again")
    assert dead.status == "dead" and q.depth()["dead"] == 1
    clock.advance(1000)
    assert q.claim("w") is None
    assert q.requeue_dead(job_id)
    assert q.claim("w").attempts == 1


def test_permanent_failure_goes_straight_to_dead_letter(queue: tuple[JobQueue, VirtualClock]) -> None:
    q, _ = queue
    job_id = q.enqueue({"video_id": 8})
    q.claim("w")
    assert q.fail(job_id, "w", "not_a_video", retryable=False).status == "dead"


def test_lost_worker_lease_expires_and_job_is_retried(queue: tuple[JobQueue, VirtualClock]) -> None:
    q, clock = queue
    job_id = q.enqueue({"video_id": 9})
    assert q.claim("dies").id == job_id
    clock.advance(20)
    assert q.claim("other") is None  # lease still held
    assert q.renew(job_id, "dies")
    clock.advance(29)
    assert q.claim("other") is None  # renewed lease
    clock.advance(2)
    job = q.claim("other")
    assert job is not None and job.id == job_id and job.attempts == 2 and job.worker == "other"
    assert not q.renew(job_id, "dies")  # the old worker has lost it
    q.complete(job_id, "other")
    assert q.get(job_id).status == "succeeded"


def test_lost_worker_on_last_attempt_is_dead_lettered(queue: tuple[JobQueue, VirtualClock]) -> None:
    q, clock = queue
    job_id = q.enqueue({"video_id": 10}, max_attempts=1)
    q.claim("dies")
    clock.advance(31)
    assert q.claim("other") is None
    job = q.get(job_id)
    assert job.status == "dead" and "lease expired" in (job.error or "")
