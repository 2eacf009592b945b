"""Upload complete -> probe -> scan -> transcode -> publish, leaving nothing half-written on failure.

Checks run when the last byte arrives, so a bad file gets a 4xx with its reason and never
reaches the catalog or the bucket. An accepted file gets a catalog row in `processing`
state, its original moves into `uploads/{video_id}/original`, and a transcode job is
queued. The job builds the ladder under a staging prefix, publishes it with one rename,
and only then adds the renditions and flips the video to `playable` in one transaction.
A job that dies for good removes the video's row and objects; the upload keeps the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from streamverse.clock import Clock
from streamverse.platform.catalog import SEGMENT_SECONDS
from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.metrics import MediaMetrics
from streamverse.platform.media.models import Upload
from streamverse.platform.media.object_store import ObjectStore
from streamverse.platform.media.probe import ProbeResult, probe
from streamverse.platform.media.queue import Job, JobQueue
from streamverse.platform.media.scan import INFECTED, NOT_SCANNED, ModerationHook, Scanner
from streamverse.platform.media.transcode import TranscodeError, transcode_ladder
from streamverse.platform.models import Rendition, Video

log = logging.getLogger("streamverse.media")

UPLOADED_RANK = 1_000_000  # new uploads start at the bottom of the popularity ranking


def original_key(video_id: int) -> str:
    """Where an accepted upload's original lives."""
    return f"uploads/{video_id}/original"


@dataclass(slots=True)
class Rejection:
    """Why a finished upload was refused."""

    stage: str
    reason: str
    detail: str


def check_file(path: Path, *, config: MediaConfig, scanner: Scanner,
               moderation: ModerationHook | None, metrics: MediaMetrics | None) -> tuple[ProbeResult, str,
                                                                                         Rejection | None]:
    """Probe, scan and moderate a finished upload; returns the probe, the scan state and any rejection."""
    found = probe(path, ffprobe=config.ffprobe, ffmpeg=config.ffmpeg)
    if not found.ok:
        return found, "skipped", Rejection("probe", found.reason or "not_a_video", found.detail or "")
    scan = scanner.scan(path)
    if metrics is not None:
        metrics.scans.labels(state=scan.state).inc()
    if scan.state == INFECTED:
        return found, scan.state, Rejection("scan", "malware", f"malware found: {scan.detail}")
    if scan.state != "clean" and config.require_scan:
        why = "no scanner available" if scan.state == NOT_SCANNED else scan.detail
        return found, scan.state, Rejection("scan", scan.state, f"file could not be scanned: {why}")
    if moderation is not None:
        verdict = moderation(path, found)
        if not verdict.allowed:
            return found, scan.state, Rejection("moderation", "moderation", verdict.reason or "refused")
    return found, scan.state, None


def accept(*, engine: Engine, store: ObjectStore, queue: JobQueue, clock: Clock, upload_id: str,
           part: Path, found: ProbeResult, scan_state: str, codec: str) -> Upload:
    """Reserve the catalog row, move the original into the bucket, queue the transcode."""
    now = datetime.fromtimestamp(clock.now(), tz=UTC)
    with Session(engine, expire_on_commit=False) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        title = Path(upload.filename).stem[:300] or f"upload {upload_id[:8]}"
        video = Video(title=title, description="", duration_s=round(found.duration_s, 3),
                      popularity_rank=UPLOADED_RANK, genre="user", status="processing", created_at=now)
        session.add(video)
        session.flush()
        assert video.id is not None
        video_id = video.id
        session.commit()
    try:
        store.move_in(original_key(video_id), part, storage_class="hot")
        job_id = queue.enqueue({"video_id": video_id, "upload_id": upload_id, "codec": codec})
    except BaseException:
        _remove_video(engine=engine, store=store, video_id=video_id, keep_original=False)
        raise
    with Session(engine, expire_on_commit=False) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        upload.status, upload.video_id, upload.job_id = "complete", video_id, job_id
        upload.scan_state = scan_state
        upload.completed_at = upload.updated_at = now
        session.add(upload)
        session.commit()
    return upload


def _remove_video(*, engine: Engine, store: ObjectStore, video_id: int, keep_original: bool) -> None:
    store.delete_prefix(f"videos/{video_id}")
    if not keep_original:
        store.delete_prefix(f"uploads/{video_id}")
    with Session(engine) as session:
        session.exec(delete(Rendition).where(col(Rendition.video_id) == video_id))
        session.exec(delete(Video).where(col(Video.id) == video_id))
        session.commit()


class TranscodeHandler:
    """Runs one transcode job: ladder into staging, publish, then the catalog in one transaction."""

    def __init__(self, *, engine: Engine, store: ObjectStore, clock: Clock, config: MediaConfig,
                 metrics: MediaMetrics | None = None) -> None:
        self.engine, self.store, self.clock, self.config, self.metrics = engine, store, clock, config, metrics

    def __call__(self, job: Job, report: Callable[[float], None]) -> None:
        """Do the job; raises TranscodeError (reason attached) on failure."""
        video_id = int(job.payload["video_id"])
        codec = job.payload.get("codec", self.config.codec)
        started = self.clock.now()
        name = f"video-{video_id}"
        self.store.clear_staging(name)  # what a killed attempt left behind
        staging = self.store.new_staging(name)
        src = self.store.path(original_key(video_id))
        try:
            found = probe(src, ffprobe=self.config.ffprobe, ffmpeg=self.config.ffmpeg, check_tail=False)
            if not found.ok:
                raise TranscodeError(found.detail or "unreadable original", reason=found.reason or "probe")
            rungs = transcode_ladder(src, staging, width=found.width, height=found.height,
                                     duration_s=found.duration_s, has_audio=found.has_audio, codec=codec,
                                     preset=self.config.preset, on_progress=report, ffmpeg=self.config.ffmpeg,
                                     fps=found.fps, rung_presets=dict(self.config.rung_presets))
            self.store.publish_dir(staging, f"videos/{video_id}")
        except BaseException:
            self.store.clear_staging(name)
            raise
        now = datetime.fromtimestamp(self.clock.now(), tz=UTC)
        completed_at = None
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                video = session.get(Video, video_id)
                if video is None:
                    raise TranscodeError(f"video {video_id} was deleted meanwhile", reason="video_gone")
                session.exec(delete(Rendition).where(col(Rendition.video_id) == video_id))
                for r in rungs:
                    session.add(Rendition(video_id=video_id, name=r.name, width=r.width, height=r.height,
                                          bitrate_bps=r.bitrate_bps, codec=codec,
                                          segment_seconds=SEGMENT_SECONDS))
                video.status = "playable"
                session.add(video)
                upload = session.exec(select(Upload).where(Upload.video_id == video_id)).first()
                if upload is not None:
                    upload.status, upload.updated_at = "playable", now
                    completed_at = upload.completed_at
                    session.add(upload)
                session.commit()
        except BaseException:
            self.store.delete_prefix(f"videos/{video_id}")  # never served without its catalog rows
            raise
        elapsed = self.clock.now() - started
        if self.metrics is not None:
            for r in rungs:
                self.metrics.rendition_seconds.labels(rendition=r.name, codec=codec).observe(elapsed)
            if completed_at is not None:
                waited = max(0.0, now.timestamp() - completed_at.timestamp())
                self.metrics.upload_to_playable.observe(waited)
                if found.duration_s:
                    self.metrics.upload_to_playable_per_hour.observe(waited / (found.duration_s / 3600.0))
        log.info("video playable", extra={"video_id": video_id, "renditions": [r.name for r in rungs],
                                          "seconds": round(elapsed, 2)})

    def on_dead(self, job: Job) -> None:
        """A job out of attempts: remove the video everywhere, keep the reason on the upload."""
        video_id = int(job.payload["video_id"])
        _remove_video(engine=self.engine, store=self.store, video_id=video_id, keep_original=True)
        with Session(self.engine) as session:
            upload = session.exec(select(Upload).where(Upload.video_id == video_id)).first()
            if upload is not None:
                upload.status, upload.reason = "failed", f"transcode failed: {job.error}"[:500]
                upload.updated_at = datetime.fromtimestamp(self.clock.now(), tz=UTC)
                session.add(upload)
                session.commit()
        if self.metrics is not None:
            self.metrics.failures.labels(stage="transcode", reason="dead_letter").inc()
