"""Uploads through the live gateway: tus create/HEAD/PATCH, a connection cut mid-chunk, bad files, limits."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from streamverse.clock import RealClock
from streamverse.db import get_engine, init_db
from streamverse.platform import catalog
from streamverse.platform.gateway import create_gateway_app
from streamverse.platform.media.app import b64, create_uploads_app
from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.models import Upload
from streamverse.platform.media.object_store import ObjectStore
from streamverse.platform.media.queue import DbJobQueue
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.models import Rendition, Video
from streamverse.platform.ratelimit import Limit, LimitTable, MemoryRateLimiter
from streamverse.platform.upstreams import create_accounts_app, create_catalog_app, create_playback_app
from streamverse.settings import Settings
from tests.platform.test_gateway import LiveServer

PASSWORD = "correct horse"
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("uploads")
    settings = Settings(data_dir=tmp / "data", jwt_secret="test-secret-" + "x" * 32)
    engine = get_engine(f"sqlite:///{tmp / 'db.sqlite'}")
    init_db(engine)
    with Session(engine) as session:
        catalog.seed_catalog(session=session, count=5, seed=3)
        catalog.seed_accounts(session=session, count=3, password=PASSWORD)
        session.commit()
    clock = RealClock()
    store = ObjectStore(tmp / "bucket", engine=engine, clock=clock)
    queue = DbJobQueue(engine=engine, clock=clock, visibility_s=30, backoff_base_s=0.2)
    config = MediaConfig(
        max_upload_bytes=3_000_000, user_quota_bytes=20_000_000, uploads_per_hour=1000, preset="ultrafast"
    )
    uploads = LiveServer(
        create_uploads_app(
            settings=settings, engine=engine, store=store, queue=queue, config=config, clock=clock, workers=1
        )
    ).start()
    accounts = LiveServer(create_accounts_app(engine=engine)).start()
    cat = LiveServer(create_catalog_app(engine=engine)).start()
    playback = LiveServer(
        create_playback_app(
            settings=settings,
            clock=clock,
            resolve_pop=lambda _r: "p1",
            edge_url_for=lambda _p: "http://edge.test/",
            engine=engine,
        )
    ).start()
    limits = LimitTable({"user": Limit(1000, 1000), "ip": Limit(1000, 1000)})
    gateway = LiveServer(
        create_gateway_app(
            settings=settings,
            clock=clock,
            limiter=MemoryRateLimiter(clock=clock, limits=limits),
            limits=limits,
            metrics=PlatformMetrics(),
            upstreams={
                "accounts": accounts.url,
                "catalog": cat.url,
                "playback": playback.url,
                "uploads": uploads.url,
            },
        )
    ).start()
    client = httpx.Client(base_url=gateway.url, timeout=30)
    tokens = []
    for i in (1, 2):
        reply = client.post(
            "/v1/auth/login", json={"username": catalog.account_username(i), "password": PASSWORD}
        )
        tokens.append(reply.json()["access_token"])
    yield {
        "client": client,
        "gateway": gateway,
        "uploads": uploads,
        "engine": engine,
        "store": store,
        "queue": queue,
        "tokens": tokens,
        "config": config,
    }
    client.close()
    for server in (gateway, playback, cat, accounts, uploads):
        server.stop()


def _auth(stack: dict, user: int = 0) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack['tokens'][user]}", **TUS}


def _create(
    stack: dict, data: bytes, name: str = "clip.mp4", checksum: str | None = None, user: int = 0
) -> str:
    digest = checksum or hashlib.sha256(data).hexdigest()
    reply = stack["client"].post(
        "/v1/uploads",
        headers={
            **_auth(stack, user),
            "Upload-Length": str(len(data)),
            "Upload-Metadata": f"filename {b64(name)},checksum {b64('sha256:' + digest)}",
        },
    )
    assert reply.status_code == 201, reply.text
    assert reply.headers["Tus-Resumable"] == "1.0.0"
    location = reply.headers["Location"]
    assert location.startswith("/v1/uploads/")
    return location


def _patch(stack: dict, location: str, offset: int, chunk: bytes) -> httpx.Response:
    return stack["client"].patch(
        location,
        content=chunk,
        headers={
            **_auth(stack),
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


def _offset(stack: dict, location: str) -> int:
    reply = stack["client"].head(location, headers=_auth(stack))
    assert reply.status_code == 200
    return int(reply.headers["Upload-Offset"])


def _cut_patch(url: str, location: str, token: str, offset: int, chunk: bytes, send: int) -> None:
    """Start a PATCH of `chunk` but send only `send` bytes of it, then drop the connection."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nX-User-Id: 1\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(chunk)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + chunk[:send])
        time.sleep(0.3)
    time.sleep(0.3)


def _wait_playable(stack: dict, location: str, timeout_s: float = 60) -> dict:
    """Until the upload is playable (or failed) and its job has finished too.

    The handler flips the video to playable inside its job; the queue marks the job done
    right after, so for a moment the upload is playable while its job still says running.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = stack["client"].get(location, headers=_auth(stack)).json()
        job = (status.get("job") or {}).get("status")
        if status["status"] == "failed" or (status["status"] == "playable" and job != "running"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"not playable in time: {status}")


def test_tus_discovery(stack: dict) -> None:
    reply = stack["client"].options("/v1/uploads", headers=_auth(stack))
    assert reply.status_code == 204
    assert "concatenation" in reply.headers["Tus-Extension"] and reply.headers["Tus-Version"] == "1.0.0"


def test_upload_cut_mid_chunk_through_gateway_resumes_byte_identical(stack: dict, clips: dict) -> None:
    data = clips["ladder"].read_bytes()
    location = _create(stack, data, name="My holiday.mp4")
    chunk = 64 * 1024
    half = len(data) // 2
    offset = 0
    while offset < half:
        reply = _patch(stack, location, offset, data[offset : offset + chunk])
        assert reply.status_code == 204, reply.text
        offset = int(reply.headers["Upload-Offset"])
    # the connection dies in the middle of the next chunk
    _cut_patch(
        stack["gateway"].url, location, stack["tokens"][0], offset, data[offset : offset + chunk], 20_000
    )
    resumed = _offset(stack, location)
    assert resumed == offset  # the gateway forwards whole chunks only
    # a stale offset is refused with the real one
    stale = _patch(stack, location, 0, data[:10])
    assert stale.status_code == 409 and int(stale.headers["Upload-Offset"]) == resumed
    while offset < len(data):
        reply = _patch(stack, location, offset, data[offset : offset + chunk])
        assert reply.status_code == 204, reply.text
        offset = int(reply.headers["Upload-Offset"])
    video_id = int(reply.headers["Upload-Video-Id"])
    assert stack["store"].read(f"uploads/{video_id}/original") == data
    status = _wait_playable(stack, location)
    assert status["status"] == "playable" and status["scan_state"] == "not_scanned"
    assert status["job"]["status"] == "succeeded" and status["job"]["progress"] == 1.0
    video = stack["client"].get(f"/v1/videos/{video_id}", headers=_auth(stack)).json()
    assert video["status"] == "playable" and video["title"] == "My holiday"
    assert [r["name"] for r in video["renditions"]] == ["360p", "480p"]
    master = stack["store"].read(f"videos/{video_id}/master.m3u8").decode()
    assert "480p/index.m3u8" in master
    assert stack["store"].read(f"videos/{video_id}/360p/seg_00000.ts")[:1] == b"\x47"  # MPEG-TS sync byte
    # another user cannot see it
    assert stack["client"].head(location, headers=_auth(stack, 1)).status_code == 404


def test_cut_directly_at_the_service_keeps_the_bytes_that_arrived(stack: dict, clips: dict) -> None:
    data = clips["short"].read_bytes()
    location = _create(stack, data)
    _cut_patch(stack["uploads"].url, location, "", 0, data, 30_000)
    reply = httpx.head(stack["uploads"].url + location, headers={"X-User-Id": "1", **TUS})
    kept = int(reply.headers["Upload-Offset"])
    assert 0 < kept <= 30_000  # tus: the server keeps what it received
    reply = _patch(stack, location, kept, data[kept:])
    assert reply.status_code == 204, reply.text
    video_id = int(reply.headers["Upload-Video-Id"])
    assert (
        hashlib.sha256(stack["store"].read(f"uploads/{video_id}/original")).hexdigest()
        == hashlib.sha256(data).hexdigest()
    )
    assert _wait_playable(stack, location)["status"] == "playable"


def test_parts_in_any_order_with_concatenation(stack: dict, clips: dict) -> None:
    data = clips["short"].read_bytes()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    parts = []
    for a, b in zip(cut, cut[1:], strict=False):
        reply = stack["client"].post(
            "/v1/uploads", headers={**_auth(stack), "Upload-Length": str(b - a), "Upload-Concat": "partial"}
        )
        assert reply.status_code == 201
        parts.append((reply.headers["Location"], data[a:b]))
    for location, piece in reversed(parts):  # sent last part first
        assert _patch(stack, location, 0, piece).status_code == 204
    reply = stack["client"].post(
        "/v1/uploads",
        headers={
            **_auth(stack),
            "Upload-Concat": "final;" + " ".join(loc for loc, _ in parts),
            "Upload-Metadata": f"filename {b64('parts.mp4')},"
            f"checksum {b64(hashlib.sha256(data).hexdigest())}",
        },
    )
    assert reply.status_code == 201, reply.text
    status = stack["client"].get(reply.headers["Location"], headers=_auth(stack)).json()
    assert status["status"] in ("complete", "playable") and status["length"] == len(data)
    assert stack["store"].read(f"uploads/{status['video_id']}/original") == data
    assert _wait_playable(stack, reply.headers["Location"])["status"] == "playable"


def _rows(stack: dict) -> tuple[int, int]:
    with Session(stack["engine"]) as session:
        return len(session.exec(select(Video)).all()), len(session.exec(select(Rendition)).all())


def _bad_upload(stack: dict, data: bytes, name: str, checksum: str | None = None) -> httpx.Response:
    before_rows = _rows(stack)
    before_objects = set(stack["store"].list("uploads")) | set(stack["store"].list("videos"))
    location = _create(stack, data, name=name, checksum=checksum)
    reply = _patch(stack, location, 0, data)
    assert _rows(stack) == before_rows  # nothing in the catalog
    assert set(stack["store"].list("uploads")) | set(stack["store"].list("videos")) == before_objects
    upload_id = location.rsplit("/", 1)[-1]
    assert not (stack["store"].incoming / f"{upload_id}.part").exists()
    status = stack["client"].get(location, headers=_auth(stack)).json()
    assert status["status"] == "rejected" and status["reason"]
    return reply


def test_bad_files_get_a_clear_4xx_and_leave_nothing(stack: dict, clips: dict) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("movie.mp4", clips["short"].read_bytes())
    reply = _bad_upload(stack, buf.getvalue(), "movie.mp4")
    assert (
        reply.status_code == 422
        and reply.json()["error"] == "not_a_video"
        and "zip" in reply.json()["detail"]
    )
    reply = _bad_upload(stack, b"hello, not a video\n" * 100, "notes.mp4")
    assert reply.status_code == 422 and reply.json()["error"] == "not_a_video"
    data = clips["short"].read_bytes()
    reply = _bad_upload(stack, data[: len(data) // 2], "cut.mp4")
    assert reply.status_code == 422 and reply.json()["error"] == "truncated"
    reply = _bad_upload(stack, data, "wrong.mp4", checksum="0" * 64)
    assert reply.status_code == 422 and reply.json()["error"] == "checksum_mismatch"


def test_limits(stack: dict, clips: dict) -> None:
    client = stack["client"]
    too_big = client.post("/v1/uploads", headers={**_auth(stack), "Upload-Length": "3000001"})
    assert too_big.status_code == 413 and too_big.json()["error"] == "too_large"
    no_tus = client.post(
        "/v1/uploads", headers={"Authorization": _auth(stack)["Authorization"], "Upload-Length": "10"}
    )
    assert no_tus.status_code == 412
    no_token = client.post("/v1/uploads", headers={**TUS, "Upload-Length": "10"})
    assert no_token.status_code == 401
    # sending more than declared is refused, the offset stops at the declared length
    location = _create(stack, b"x" * 10)
    over = _patch(stack, location, 0, b"y" * 20)
    assert over.status_code == 413 and over.headers["Upload-Offset"] == "10"
    # a chunk checksum that does not match is discarded (tus checksum extension)
    location = _create(stack, b"abcdef")
    bad = stack["client"].patch(
        location,
        content=b"abc",
        headers={
            **_auth(stack),
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Checksum": "sha256 " + base64.b64encode(hashlib.sha256(b"xyz").digest()).decode(),
        },
    )
    assert bad.status_code == 460 and _offset(stack, location) == 0
    wrong_type = stack["client"].patch(
        location, content=b"abc", headers={**_auth(stack), "Upload-Offset": "0"}
    )
    assert wrong_type.status_code == 415


def test_quota_and_upload_rate(stack: dict, tmp_path: Path) -> None:
    from streamverse.platform.media import uploads as svc

    engine, clock = stack["engine"], RealClock()
    config = MediaConfig(max_upload_bytes=100, user_quota_bytes=150, uploads_per_hour=2)
    svc.create(
        engine=engine, clock=clock, config=config, incoming=tmp_path, user_id="q1", length=100, meta={}
    )
    with pytest.raises(svc.UploadError) as err:
        svc.create(
            engine=engine, clock=clock, config=config, incoming=tmp_path, user_id="q1", length=60, meta={}
        )
    assert err.value.status == 413 and err.value.code == "quota_exceeded"
    svc.create(engine=engine, clock=clock, config=config, incoming=tmp_path, user_id="q1", length=10, meta={})
    with pytest.raises(svc.UploadError) as err:
        svc.create(
            engine=engine, clock=clock, config=config, incoming=tmp_path, user_id="q1", length=1, meta={}
        )
    assert err.value.status == 429 and int(err.value.headers["Retry-After"]) > 3000
    with Session(engine) as session:
        assert len(session.exec(select(Upload).where(Upload.user_id == "q1")).all()) == 2
