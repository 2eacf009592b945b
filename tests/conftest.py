"""Shared fixtures: real Redis, real PostgreSQL and SQLite, free ports, temp settings."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from streamverse.platform.service import Platform
from streamverse.settings import Settings
from streamverse.system.tables import register_tables

# Every area's tables registered up front, as the assembled system does, so a test's
# `init_db` creates them all whatever it imported first.
register_tables()

PG_ADMIN_URL = os.environ.get(
    "STREAMVERSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("STREAMVERSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"sv_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from streamverse import db

    engine = db._ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = request.getfixturevalue("pg_url")
    # Tables are shared in the session database; start each test from empty ones.
    from sqlmodel import SQLModel

    from streamverse import db

    engine = db.get_engine(url)
    register_tables()
    SQLModel.metadata.drop_all(engine)
    return url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis (database 15), emptied before and after each test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-default settings isolated in a temp data dir."""
    return Settings(data_dir=tmp_path / "data", jwt_secret="test-secret-" + "x" * 32)


@pytest.fixture(scope="session")
def make_control_app() -> Callable[..., FastAPI]:
    """How tests build the control API app (`create_app(settings, ...)`): the one place that imports it."""
    from streamverse.system.app import create_app

    return create_app


def serve(app: object) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Serve an ASGI app with uvicorn in a thread on a free port; (server, thread, its URL)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def running_platform(key: str, *, health_interval_s: float = 0.05) -> Iterator[tuple[Platform, str]]:
    """A real platform behind its control app over HTTP, health-checked on its interval as `up` does."""
    from streamverse.clock import RealClock
    from streamverse.platform.control_app import create_platform_control_app
    from streamverse.platform.ratelimit import LimitTable
    from streamverse.platform.topology import load_topology

    platform = Platform(topology=load_topology(), clock=RealClock(), limits=LimitTable(),
                        health_interval_s=health_interval_s)
    server, thread, url = serve(create_platform_control_app(platform, key=key))
    stop = threading.Event()

    def health_loop() -> None:
        while not stop.wait(health_interval_s):
            platform.health.tick()

    ticker = threading.Thread(target=health_loop, daemon=True)
    ticker.start()
    try:
        yield platform, url
    finally:
        stop.set()
        server.should_exit = True
        thread.join(5)
        ticker.join(2)
