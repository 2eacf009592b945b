"""A real control API on a free port (uvicorn in a thread) with one token per role in a temp database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from streamverse.api import service
from streamverse.collectors.service import make_store
from streamverse.metricstore import Sample
from streamverse.settings import Settings
from tests.conftest import running_platform, serve

PLATFORM_KEY = "dashboard-tests-control-key-0123456789"


@dataclass
class LiveApi:
    url: str
    tokens: dict[str, str]
    settings: Settings


def _seed_metrics(settings: Settings) -> None:
    """A day of viewer and edge series so charts have something to draw."""
    store = make_store(settings)
    now = time.time()
    samples = []
    for i in range(0, 86400, 300):
        t = now - 86400 + i
        for region in ("us-east", "eu-west"):
            samples.append(Sample("streamverse_playback_seconds_total", {"region": region}, t, i * 100.0))
            samples.append(Sample("streamverse_playback_sessions_total", {"region": region}, t, i * 2.0))
        samples.append(
            Sample(
                "streamverse_edge_requests_total",
                {"pop": "tokyo-1", "region": "ap-northeast", "cache": "hit", "code": "200"},
                t,
                i * 9.0,
            )
        )
        samples.append(
            Sample(
                "streamverse_edge_requests_total",
                {"pop": "tokyo-1", "region": "ap-northeast", "cache": "miss", "code": "200"},
                t,
                i * 1.0,
            )
        )
    store.write(samples)
    if hasattr(store, "flush"):
        store.flush()


@pytest.fixture(scope="session")
def live_platform() -> Iterator[str]:
    """A real platform behind its control app (no edges or traffic), as `streamverse up` runs it."""
    with running_platform(PLATFORM_KEY) as (_platform, url):
        yield url


@pytest.fixture(scope="session")
def live_api_with_platform(
    tmp_path_factory: pytest.TempPathFactory, live_platform: str, make_control_app: Callable[..., FastAPI]
) -> Iterator[LiveApi]:
    """The control API wired to a running platform, so runbooks can plan and run against it."""
    data = Path(tmp_path_factory.mktemp("dash-live")) / "data"
    settings = Settings(
        data_dir=data,
        jwt_secret="test-secret-" + "x" * 32,
        platform_control_url=live_platform,
        platform_control_key=PLATFORM_KEY,
    )
    yield from _api(settings, make_control_app)


@pytest.fixture(scope="session")
def live_api(
    tmp_path_factory: pytest.TempPathFactory, make_control_app: Callable[..., FastAPI]
) -> Iterator[LiveApi]:
    """The control API served by uvicorn, as the dashboard meets it in production (no platform running)."""
    data = Path(tmp_path_factory.mktemp("dash")) / "data"
    yield from _api(Settings(data_dir=data, jwt_secret="test-secret-" + "x" * 32), make_control_app)


def _api(settings: Settings, make_app: Callable[..., FastAPI]) -> Iterator[LiveApi]:
    app = make_app(settings)
    tokens = {}
    with Session(app.state.engine) as s:
        for role in ("viewer", "responder", "admin"):
            tokens[role] = service.create_token(session=s, role=role, name=f"dash-{role}")[1]
        s.commit()
    _seed_metrics(settings)
    server, thread, url = serve(app)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield LiveApi(url=url, tokens=tokens, settings=settings)
    server.should_exit = True
    thread.join(timeout=10)
