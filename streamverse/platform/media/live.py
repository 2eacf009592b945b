"""The media service inside the live system: uploads app on loopback, its workers, lifecycle, origin reads.

`start_media` gives the runner three things: a URL for the gateway's "uploads" upstream,
`origin_read`/`size_of` to put IN FRONT of the synthetic origin source (real renditions of
uploaded videos first, made-up segments for seeded titles otherwise, see `chain_sources`),
and `stop()`. Originals under `uploads/` are never readable through the origin: only
`videos/{id}/...` keys are, which is also all a playback token can name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from streamverse.clock import Clock
from streamverse.platform.live.serving import QuietServer, serve
from streamverse.platform.media.app import create_uploads_app
from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.metrics import MediaMetrics
from streamverse.platform.media.object_store import DEFAULT_RULES, LifecycleRule, ObjectStore
from streamverse.platform.media.queue import JobQueue, make_queue
from streamverse.settings import Settings

log = logging.getLogger("streamverse.media")

Source = Callable[[str], bytes | None]
SizeOf = Callable[[str], int | None]
ORIGIN_PREFIX = "videos/"
LIFECYCLE_INTERVAL_S = 3600.0


def default_workers() -> int:
    """Half the cores (at least one): each ffmpeg is multi-threaded, so more workers only contend."""
    return max(1, (os.cpu_count() or 2) // 2)


def chain_sources(*sources: Source | None) -> Source:
    """One origin source that asks each in turn and returns the first bytes found."""
    chain = [s for s in sources if s is not None]

    def read(key: str) -> bytes | None:
        for source in chain:
            body = source(key)
            if body is not None:
                return body
        return None

    return read


def chain_sizes(*sizers: SizeOf | None) -> SizeOf:
    """The `size_of` matching `chain_sources` over the same order."""
    chain = [s for s in sizers if s is not None]

    def size_of(key: str) -> int | None:
        for sizer in chain:
            size = sizer(key)
            if size is not None:
                return size
        return None

    return size_of


@dataclass
class MediaRuntime:
    """The running media service: its URL, store, queue and how to stop it."""

    url: str
    store: ObjectStore
    queue: JobQueue
    app: Any
    metrics: MediaMetrics
    server: QuietServer
    task: asyncio.Task[None]
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def origin_read(self, key: str) -> bytes | None:
        """A published rendition object's bytes (never an original or a staging file), or None."""
        key = key.lstrip("/")
        if not key.startswith(ORIGIN_PREFIX):
            return None
        return self.store.read(key)

    def size_of(self, key: str) -> int | None:
        """A published rendition object's size without reading it, or None."""
        key = key.lstrip("/")
        if not key.startswith(ORIGIN_PREFIX):
            return None
        try:
            path = self.store.path(key)
            return path.stat().st_size if path.is_file() else None
        except (OSError, ValueError):
            return None

    async def stop(self) -> None:
        """Stop the lifecycle job, then the server (its lifespan lets running transcodes finish)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.server.should_exit = True
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, timeout=35)
        if not self.task.done():
            self.task.cancel()
        close = getattr(self.queue, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


async def serve_app(app: Any, *, host: str, port: int = 0, name: str = "app"
                    ) -> tuple[str, QuietServer, asyncio.Task[None]]:
    """Serve an ASGI app with uvicorn on this loop; returns once it accepts (URL, server, task)."""
    served = await serve(app, name=name, host=host, port=port)
    return served.url, served.server, served.task


async def lifecycle_loop(store: ObjectStore, *, interval_s: float,
                         rules: tuple[LifecycleRule, ...] = DEFAULT_RULES) -> None:
    """Re-class stored objects every `interval_s` (storage tiers by age and popularity)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            moved = await asyncio.to_thread(store.apply_lifecycle, rules)
            if moved:
                log.info("lifecycle applied", extra={"moved": moved})
        except Exception:
            log.exception("lifecycle run failed")


async def start_media(settings: Settings, *, engine: Engine, clock: Clock, host: str, port: int = 0,
                      workers: int | None = None, config: MediaConfig | None = None,
                      metrics: MediaMetrics | None = None,
                      lifecycle_interval_s: float = LIFECYCLE_INTERVAL_S,
                      lifecycle_rules: tuple[LifecycleRule, ...] = DEFAULT_RULES) -> MediaRuntime:
    """Start the uploads service (and `workers` transcode workers) on host:port; 0 picks a free port."""
    store = ObjectStore(settings.data_dir / "objects", engine=engine, clock=clock)
    config = config or MediaConfig()
    queue = make_queue(redis_url=settings.redis_url, engine=engine, clock=clock,
                       max_attempts=config.job_max_attempts)
    metrics = metrics or MediaMetrics()
    n = default_workers() if workers is None else workers
    app = create_uploads_app(settings=settings, engine=engine, store=store, queue=queue, config=config,
                             clock=clock, metrics=metrics, workers=n)
    url, server, task = await serve_app(app, host=host, port=port, name="uploads")
    runtime = MediaRuntime(url=url, store=store, queue=queue, app=app, metrics=metrics, server=server,
                           task=task)
    runtime.tasks.append(asyncio.create_task(lifecycle_loop(store, interval_s=lifecycle_interval_s,
                                                            rules=lifecycle_rules),
                                             name="media-lifecycle"))
    log.info("media service up", extra={"url": url, "workers": n})
    return runtime
