"""Workers against a real Redis queue: one killed mid-transcode is retried; no partial rendition is served."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from streamverse.clock import RealClock
from streamverse.db import get_engine, init_db
from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.metrics import MediaMetrics
from streamverse.platform.media.models import Upload
from streamverse.platform.media.object_store import ObjectStore
from streamverse.platform.media.pipeline import TranscodeHandler, accept, original_key
from streamverse.platform.media.probe import probe
from streamverse.platform.media.queue import RedisJobQueue
from streamverse.platform.media.worker import WorkerPool
from streamverse.platform.models import Rendition, Video


def _accepted(tmp_path: Path, engine, store: ObjectStore, queue, clip: Path) -> tuple[int, str]:  # noqa: ANN001
    clock = RealClock()
    now = datetime.now(tz=UTC)
    with Session(engine) as session:
        session.add(
            Upload(
                id="u" + os.urandom(6).hex(),
                user_id="42",
                filename="clip.mp4",
                length=clip.stat().st_size,
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()
        upload_id = session.exec(select(Upload.id)).all()[-1]
    part = tmp_path / "part"
    shutil.copy(clip, part)
    upload = accept(
        engine=engine,
        store=store,
        queue=queue,
        clock=clock,
        upload_id=upload_id,
        part=part,
        found=probe(part),
        scan_state="not_scanned",
        codec="h264",
    )
    return upload.video_id, upload.job_id


def _wait(pred, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _worker(db: str, store: Path, redis_url: str, preset: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamverse.platform.media.worker",
            "--db",
            db,
            "--store",
            str(store),
            "--redis",
            redis_url,
            "--workers",
            "1",
            "--visibility",
            "3",
            "--heartbeat",
            "0.5",
            "--preset",
            preset,
        ]
    )


@pytest.mark.slow
def test_worker_killed_mid_transcode_is_retried_without_partial_renditions(
    tmp_path: Path, redis_url: str, clips: dict[str, Path]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = get_engine(db)
    init_db(engine)
    store = ObjectStore(tmp_path / "bucket", engine=engine, clock=RealClock())
    queue = RedisJobQueue(url=redis_url, clock=RealClock(), visibility_s=3)
    video_id, job_id = _accepted(tmp_path, engine, store, queue, clips["long"])

    first = _worker(db, tmp_path / "bucket", redis_url, "slow")  # a wide window to kill it in
    try:
        staged = tmp_path / "bucket" / ".staging"
        pattern = f"video-{video_id}-*/360p/seg_*.ts"
        _wait(lambda: any(staged.glob(pattern)) and queue.get(job_id).progress > 0,
              60, "segments in staging and progress")
        assert queue.get(job_id).progress < 1
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        first.kill()
    time.sleep(0.3)
    # nothing half-done is visible: no rendition objects, no catalog renditions, still processing
    assert store.list(f"videos/{video_id}") == []
    assert store.read(f"videos/{video_id}/master.m3u8") is None
    with Session(engine) as session:
        assert session.get(Video, video_id).status == "processing"
        assert session.exec(select(Rendition).where(Rendition.video_id == video_id)).all() == []
    assert queue.get(job_id).status == "running" and queue.get(job_id).attempts == 1

    second = _worker(db, tmp_path / "bucket", redis_url, "ultrafast")
    try:
        _wait(lambda: queue.get(job_id).status == "succeeded", 90, "the retried job")
    finally:
        second.send_signal(signal.SIGTERM)
        second.kill()
        second.wait(5)
    job = queue.get(job_id)
    assert job.attempts == 2
    assert store.read(f"videos/{video_id}/master.m3u8") is not None
    assert len(store.list(f"videos/{video_id}/360p")) == 1 + 4  # playlist + 24 s / 6 s
    assert list((tmp_path / "bucket" / ".staging").iterdir()) == []
    with Session(engine) as session:
        assert session.get(Video, video_id).status == "playable"
        names = [r.name for r in session.exec(select(Rendition).where(Rendition.video_id == video_id))]
        assert sorted(names) == ["360p"]
    queue.close()


def test_dead_letter_after_max_retries_removes_the_video(
    tmp_path: Path, redis_url: str, clips: dict[str, Path]
) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_db(engine)
    clock = RealClock()
    store = ObjectStore(tmp_path / "bucket", engine=engine, clock=clock)
    queue = RedisJobQueue(url=redis_url, clock=clock, visibility_s=10, max_attempts=2, backoff_base_s=0.05)
    video_id, job_id = _accepted(tmp_path, engine, store, queue, clips["short"])
    # the original is damaged after acceptance: every attempt fails
    store.path(original_key(video_id)).write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    metrics = MediaMetrics()
    handler = TranscodeHandler(engine=engine, store=store, clock=clock, config=MediaConfig(), metrics=metrics)
    seen: list[str] = []

    def failing_probe_retried(job, report):  # noqa: ANN001, ANN202 - the real handler, attempts counted
        seen.append(job.id)
        store.path(original_key(video_id)).unlink(missing_ok=True)  # unreadable -> retryable failure
        handler(job, report)

    pool = WorkerPool(
        queue=queue,
        handler=failing_probe_retried,
        on_dead=handler.on_dead,
        workers=1,
        poll_s=0.05,
        metrics=metrics,
    ).start()
    try:
        _wait(lambda: queue.get(job_id).status == "dead", 20, "dead letter")
    finally:
        pool.stop()
    assert len(seen) == 2 and queue.depth()["dead"] == 1
    assert "unreadable" in (queue.get(job_id).error or "")
    with Session(engine) as session:
        assert session.get(Video, video_id) is None
        upload = session.exec(select(Upload).where(Upload.video_id == video_id)).one()
        assert upload.status == "failed" and "transcode failed" in upload.reason
    assert store.list(f"videos/{video_id}") == []
    text = __import__("prometheus_client").generate_latest(metrics.registry).decode()
    assert 'streamverse_media_failures_total{reason="dead_letter",stage="transcode"} 1.0' in text
    queue.close()
