"""A real platform control app over HTTP (uvicorn on a free port) and a Remediator wired to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from streamverse.clock import RealClock
from streamverse.db import get_engine, init_db
from streamverse.platform.control_app import create_platform_control_app
from streamverse.platform.ratelimit import LimitTable
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology
from streamverse.remediation.control import ControlClient
from streamverse.remediation.flows import Remediator
from streamverse.remediation.guardrails import DbLock, GuardrailConfig, RedisLock
from tests.conftest import free_port

KEY = "incident-tests-control-key-0123456789"


@dataclass
class LivePlatform:
    """A Platform behind its control app, served over real HTTP."""

    platform: Platform
    url: str

    def client(self) -> ControlClient:
        """A fresh control client."""
        return ControlClient(self.url, KEY)


@pytest.fixture
def live_platform() -> Iterator[LivePlatform]:
    platform = Platform(
        topology=load_topology(), clock=RealClock(), limits=LimitTable(), health_interval_s=0.05
    )
    objects = {f"videos/9/720p/seg_{i:05d}.ts": 1000 for i in range(4)} | {"videos/9/master.m3u8": 10}
    app = create_platform_control_app(
        platform, key=KEY, video_objects=lambda vid: list(objects.items()), size_of=objects.get
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    stop = threading.Event()

    def health_loop() -> None:  # what the live runner does: health checks on their interval
        while not stop.wait(0.02):
            platform.health.tick()

    ticker = threading.Thread(target=health_loop, daemon=True)
    ticker.start()
    yield LivePlatform(platform, f"http://127.0.0.1:{port}")
    stop.set()
    server.should_exit = True
    thread.join(5)
    ticker.join(2)


@pytest.fixture
def engine(settings: Any) -> Any:
    eng = get_engine(settings.resolved_database_url)
    init_db(eng)
    return eng


def make_remediator(
    live: LivePlatform, engine: Any, settings: Any, *, redis_url: str | None = None, **kw: Any
) -> Remediator:
    """A remediator with short verification, run inline unless a spawner is given."""
    clock = kw.pop("clock", RealClock())
    lock = RedisLock(redis_url) if redis_url else DbLock(engine, clock)
    kw.setdefault("config", GuardrailConfig(cooldown_s=0))
    kw.setdefault("verify_window_s", 0.2)
    kw.setdefault("verify_interval_s", 0.05)
    kw.setdefault("spawn", lambda fn: fn())
    return Remediator(
        settings=settings, engine=engine, clock=clock, lock=lock, client_factory=live.client, **kw
    )


Factory = Callable[..., Remediator]
