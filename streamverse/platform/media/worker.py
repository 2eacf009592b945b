"""Transcode workers: a pool of threads (ffmpeg does the work in child processes), up to the cores.

Each worker claims a job, renews its lease from a heartbeat thread while ffmpeg runs, and
reports success or failure to the queue. Run as `python -m streamverse.platform.media.worker`
for a worker process of its own (what the fault tests kill).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from streamverse.clock import RealClock
from streamverse.platform.media.metrics import MediaMetrics
from streamverse.platform.media.queue import DEAD, Job, JobQueue
from streamverse.platform.media.transcode import TranscodeError

log = logging.getLogger("streamverse.media.worker")

# failures that another attempt cannot fix
PERMANENT = frozenset({"not_a_video", "no_video_stream", "no_duration", "truncated", "video_gone"})
Handler = Callable[[Job, Callable[[float], None]], None]


class WorkerPool:
    """N workers pulling from one queue; `stop()` lets running jobs finish."""

    def __init__(self, *, queue: JobQueue, handler: Handler, on_dead: Callable[[Job], None] | None = None,
                 workers: int | None = None, poll_s: float = 0.5, heartbeat_s: float = 5.0,
                 metrics: MediaMetrics | None = None, name: str | None = None) -> None:
        self.queue, self.handler, self.on_dead = queue, handler, on_dead
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.poll_s, self.heartbeat_s, self.metrics = poll_s, heartbeat_s, metrics
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> WorkerPool:
        """Start the worker threads."""
        for i in range(self.workers):
            t = threading.Thread(target=self._loop, args=(f"{self.name}-{i}",), daemon=True,
                                 name=f"transcode-{i}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop claiming; wait for running jobs."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)

    def _loop(self, worker: str) -> None:
        while not self._stop.is_set():
            try:
                job = self.queue.claim(worker)
            except Exception:  # noqa: BLE001 - the backend may be briefly down; keep polling
                log.exception("claim failed")
                job = None
            if job is None:
                self._stop.wait(self.poll_s)
                continue
            self.run_one(job, worker)

    def run_one(self, job: Job, worker: str) -> None:
        """Run one claimed job with a lease heartbeat, and record its outcome."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                if not self.queue.renew(job.id, worker):
                    log.warning("lease lost", extra={"job_id": job.id})
                    return

        hb = threading.Thread(target=beat, daemon=True)
        hb.start()
        started = time.monotonic()
        last = [0.0]

        def report(fraction: float) -> None:
            if fraction - last[0] >= 0.02 or fraction >= 1.0:
                last[0] = fraction
                self.queue.set_progress(job.id, fraction)

        status = "succeeded"
        try:
            self.handler(job, report)
            self.queue.complete(job.id, worker)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            reason = getattr(exc, "reason", type(exc).__name__)
            status = "failed"
            after = self.queue.fail(job.id, worker, f"{reason}: {exc}",
                                    retryable=not (isinstance(exc, TranscodeError) and reason in PERMANENT))
            if self.metrics is not None:
                self.metrics.failures.labels(stage="transcode", reason=reason).inc()
            log.warning("job failed", extra={"job_id": job.id, "reason": reason,
                                             "dead": bool(after and after.status == DEAD)})
            if after is not None and after.status == DEAD and self.on_dead is not None:
                self.on_dead(after)
        finally:
            done.set()
            if self.metrics is not None:
                self.metrics.job_seconds.labels(status=status).observe(time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    """A standalone worker process over the configured store, database and queue."""
    from streamverse.db import get_engine, init_db
    from streamverse.platform.media import models as media_models
    from streamverse.platform.media.config import MediaConfig
    from streamverse.platform.media.object_store import ObjectStore
    from streamverse.platform.media.pipeline import TranscodeHandler
    from streamverse.platform.media.queue import make_queue

    parser = argparse.ArgumentParser(description="StreamVerse transcode worker")
    parser.add_argument("--db", required=True)
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--redis")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--visibility", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args(argv)
    clock = RealClock()
    engine = get_engine(args.db)
    init_db(engine, media_models)
    store = ObjectStore(args.store, engine=engine, clock=clock)
    config = MediaConfig(preset=args.preset)
    queue = make_queue(redis_url=args.redis, engine=engine, clock=clock, visibility_s=args.visibility)
    handler = TranscodeHandler(engine=engine, store=store, clock=clock, config=config)
    pool = WorkerPool(queue=queue, handler=handler, on_dead=handler.on_dead, workers=args.workers or None,
                      heartbeat_s=args.heartbeat).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pool.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
