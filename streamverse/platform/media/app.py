"""The uploads upstream: tus-shaped resumable uploads, their status, and the user's privacy routes.

The gateway authenticates and forwards the user as `X-User-Id`; this app trusts only that.
Optionally it runs the transcode worker pool in-process (the embedded default).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine
from starlette.requests import ClientDisconnect

from streamverse.clock import Clock, RealClock
from streamverse.jsonlog import hash_user_id
from streamverse.platform.media import uploads as svc
from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.metrics import MediaMetrics
from streamverse.platform.media.models import Upload
from streamverse.platform.media.object_store import ObjectStore
from streamverse.platform.media.pipeline import TranscodeHandler, accept, check_file
from streamverse.platform.media.queue import JobQueue
from streamverse.platform.media.scan import ModerationHook, Scanner
from streamverse.platform.media.worker import WorkerPool
from streamverse.settings import Settings
from streamverse.tracing import TraceMiddleware

log = logging.getLogger("streamverse.uploads")
OCTET = "application/offset+octet-stream"


def _tus(headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": svc.TUS_VERSION, "Cache-Control": "no-store", **(headers or {})}


def _error(exc: svc.UploadError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status,
                        headers=_tus(exc.headers))


def upload_view(upload: Upload, queue: JobQueue | None = None) -> dict[str, Any]:
    """An upload as its owner sees it (with the transcode job's progress when there is one)."""
    out: dict[str, Any] = {
        "id": upload.id, "filename": upload.filename, "length": upload.length, "offset": upload.offset,
        "status": upload.status, "reason": upload.reason, "video_id": upload.video_id,
        "scan_state": upload.scan_state, "partial": upload.partial,
        "created_at": upload.created_at.isoformat(), "updated_at": upload.updated_at.isoformat()}
    if queue is not None and upload.job_id:
        job = queue.get(upload.job_id)
        if job is not None:
            out["job"] = {"id": job.id, "status": job.status, "attempts": job.attempts,
                          "progress": job.progress, "error": job.error}
    return out


def create_uploads_app(*, settings: Settings, engine: Engine, store: ObjectStore, queue: JobQueue,
                       config: MediaConfig | None = None, clock: Clock | None = None,
                       scanner: Scanner | None = None, moderation: ModerationHook | None = None,
                       metrics: MediaMetrics | None = None, workers: int = 0) -> FastAPI:
    """The uploads service app; `workers` > 0 runs that many transcode workers inside it."""
    config = config or MediaConfig()
    clock = clock or RealClock()
    scanner = scanner or Scanner()
    metrics = metrics or MediaMetrics()
    metrics.watch_queue(queue.depth)
    metrics.watch_store(store.bytes_by_class)
    handler = TranscodeHandler(engine=engine, store=store, clock=clock, config=config, metrics=metrics)
    pool = WorkerPool(queue=queue, handler=handler, on_dead=handler.on_dead, workers=workers,
                      metrics=metrics) if workers > 0 else None
    locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                await asyncio.to_thread(pool.stop)

    app = FastAPI(title="StreamVerse uploads", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(TraceMiddleware)
    app.state.handler, app.state.pool, app.state.metrics = handler, pool, metrics

    def user_of(request: Request) -> str:
        user = request.headers.get("x-user-id")
        if not user:
            raise svc.UploadError(401, "unauthorized", "no authenticated user (call through the gateway)")
        return user

    def need_tus(request: Request) -> None:
        if request.headers.get("tus-resumable") != svc.TUS_VERSION:
            raise svc.UploadError(412, "tus_version", f"Tus-Resumable: {svc.TUS_VERSION} required",
                                  headers={"Tus-Version": svc.TUS_VERSION})

    @app.exception_handler(svc.UploadError)
    async def _on_upload_error(_request: Request, exc: svc.UploadError) -> JSONResponse:
        return _error(exc)

    @app.get("/health", summary="Liveness")
    def health() -> dict[str, Any]:
        return {"status": "ok", "service": "uploads", "scanner": "clamdscan" if scanner.available
                else "not_scanned", "queue": queue.depth()}

    @app.get("/metrics", summary="Prometheus metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.options("/v1/uploads", summary="tus discovery: version, extensions, limits")
    def options() -> Response:
        return Response(status_code=204, headers=_tus({
            "Tus-Version": svc.TUS_VERSION, "Tus-Extension": svc.TUS_EXTENSIONS,
            "Tus-Max-Size": str(config.max_upload_bytes), "Tus-Checksum-Algorithm": "sha256"}))

    @app.post("/v1/uploads", summary="Create an upload (tus creation / concatenation)")
    def create(request: Request) -> Response:
        user = user_of(request)
        need_tus(request)
        meta = svc.parse_metadata(request.headers.get("upload-metadata"))
        concat = (request.headers.get("upload-concat") or "").strip()
        if concat.startswith("final;"):
            parts = [p.rstrip("/").rsplit("/", 1)[-1] for p in concat[len("final;"):].split()]
            upload = svc.concatenate(engine=engine, clock=clock, config=config, incoming=store.incoming,
                                     user_id=user, parts=parts, meta=meta)
            finish(upload)
            return Response(status_code=201, headers=_tus({"Location": f"/v1/uploads/{upload.id}",
                                                           "Upload-Offset": str(upload.length)}))
        raw = request.headers.get("upload-length")
        if raw is None or not raw.isdigit():
            raise svc.UploadError(400, "bad_length", "Upload-Length header (bytes) is required")
        upload = svc.create(engine=engine, clock=clock, config=config, incoming=store.incoming, user_id=user,
                            length=int(raw), meta=meta, partial=concat == "partial")
        log.info("upload created", extra={"upload_id": upload.id, "user": hash_user_id(user),
                                          "length": upload.length})
        return Response(status_code=201, headers=_tus({"Location": f"/v1/uploads/{upload.id}",
                                                       "Upload-Offset": "0"}))

    @app.head("/v1/uploads/{upload_id}", summary="Current offset of an upload")
    def head(upload_id: str, request: Request) -> Response:
        upload = svc.get_owned(engine=engine, upload_id=upload_id, user_id=user_of(request))
        headers = {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length),
                   "Upload-Status": upload.status}
        if upload.partial:
            headers["Upload-Concat"] = "partial"
        return Response(status_code=200, headers=_tus(headers))

    @app.get("/v1/uploads/{upload_id}", summary="Status of an upload and its transcode job")
    def status(upload_id: str, request: Request) -> dict[str, Any]:
        return upload_view(svc.get_owned(engine=engine, upload_id=upload_id, user_id=user_of(request)), queue)

    @app.get("/v1/uploads", summary="The user's uploads")
    def mine(request: Request) -> dict[str, Any]:
        return {"items": [upload_view(u) for u in svc.list_owned(engine=engine, user_id=user_of(request))]}

    @app.delete("/v1/uploads/{upload_id}", summary="Abandon an upload in progress (tus termination)")
    def terminate(upload_id: str, request: Request) -> Response:
        need_tus(request)
        upload = svc.get_owned(engine=engine, upload_id=upload_id, user_id=user_of(request))
        svc.terminate(engine=engine, incoming=store.incoming, upload=upload)
        return Response(status_code=204, headers=_tus())

    def finish(upload: Upload) -> Upload:
        """Checksum, probe, scan, moderation; then accept (queue the transcode) or reject with a 422."""
        part = svc.part_path(store.incoming, upload.id)
        if upload.checksum_sha256 and svc.file_sha256(part) != upload.checksum_sha256:
            reject(upload, "checksum", "checksum_mismatch",
                   "the file's SHA-256 does not match the checksum given at creation")
        found, scan_state, refusal = check_file(part, config=config, scanner=scanner, moderation=moderation,
                                                metrics=metrics)
        if refusal is not None:
            reject(upload, refusal.stage, refusal.reason, refusal.detail, scan_state=scan_state)
        accepted = accept(engine=engine, store=store, queue=queue, clock=clock, upload_id=upload.id,
                          part=part, found=found, scan_state=scan_state, codec=config.codec)
        metrics.uploads.labels(status="accepted").inc()
        log.info("upload accepted", extra={"upload_id": upload.id, "video_id": accepted.video_id,
                                           "scan_state": scan_state})
        return accepted

    def reject(upload: Upload, stage: str, reason: str, detail: str, *,
               scan_state: str | None = None) -> None:
        svc.part_path(store.incoming, upload.id).unlink(missing_ok=True)
        svc.set_status(engine=engine, clock=clock, upload_id=upload.id, status="rejected",
                       reason=f"{reason}: {detail}", scan_state=scan_state)
        metrics.uploads.labels(status="rejected").inc()
        metrics.failures.labels(stage=stage, reason=reason).inc()
        log.info("upload rejected", extra={"upload_id": upload.id, "reason": reason})
        raise svc.UploadError(422, reason, detail)

    @app.patch("/v1/uploads/{upload_id}", summary="Append bytes at Upload-Offset (tus core)")
    async def patch(upload_id: str, request: Request) -> Response:
        user = user_of(request)
        need_tus(request)
        if (request.headers.get("content-type") or "").split(";")[0].strip() != OCTET:
            raise svc.UploadError(415, "bad_content_type", f"Content-Type must be {OCTET}")
        raw = request.headers.get("upload-offset")
        if raw is None or not raw.isdigit():
            raise svc.UploadError(400, "bad_offset", "Upload-Offset header (bytes) is required")
        offset = int(raw)
        want_digest = svc.chunk_checksum(request.headers.get("upload-checksum"))
        lock = locks[upload_id]
        if lock.locked():
            raise svc.UploadError(409, "upload_busy", "another request is writing this upload")
        async with lock:
            upload = await asyncio.to_thread(svc.get_owned, engine=engine, upload_id=upload_id, user_id=user)
            if upload.status != "uploading":
                raise svc.UploadError(409, "not_in_progress", f"upload is {upload.status}",
                                      headers={"Upload-Offset": str(upload.offset)})
            if offset != upload.offset:
                raise svc.UploadError(409, "offset_mismatch", f"upload is at offset {upload.offset}, "
                                      f"not {offset}", headers={"Upload-Offset": str(upload.offset)})
            written, disconnected, digest, too_long = await _write(request, upload, offset)
            metrics.upload_bytes.inc(written)
            if want_digest is not None and (disconnected or digest != want_digest):
                # the chunk is discarded: the offset does not move
                raise svc.UploadError(460, "checksum_mismatch", "chunk does not match Upload-Checksum")
            new_offset = offset + written
            await asyncio.to_thread(svc.set_offset, engine=engine, clock=clock, upload_id=upload_id,
                                    offset=new_offset)
            if too_long:
                raise svc.UploadError(413, "too_large", f"more bytes than Upload-Length {upload.length}",
                                      headers={"Upload-Offset": str(new_offset)})
            if disconnected:
                return Response(status_code=400)
            headers = {"Upload-Offset": str(new_offset)}
            if new_offset == upload.length and not upload.partial:
                upload.offset = new_offset
                accepted = await asyncio.to_thread(finish, upload)
                headers.update({"Upload-Status": accepted.status, "Upload-Video-Id": str(accepted.video_id)})
            return Response(status_code=204, headers=_tus(headers))

    async def _write(request: Request, upload: Upload, offset: int) -> tuple[int, bool, bytes, bool]:
        """Stream the body to the part file at `offset`; keeps what arrived if the client vanishes."""
        h = hashlib.sha256()
        written, disconnected, too_long = 0, False, False
        room = upload.length - offset
        with open(svc.part_path(store.incoming, upload.id), "r+b") as fh:
            fh.seek(offset)
            try:
                async for block in request.stream():
                    if written + len(block) > room:
                        block, too_long = block[: room - written], True
                    fh.write(block)
                    h.update(block)
                    written += len(block)
                    if too_long:
                        break
            except ClientDisconnect:
                disconnected = True
            fh.flush()
            await asyncio.to_thread(os.fsync, fh.fileno())
        return written, disconnected, h.digest(), too_long

    from streamverse.platform.privacy import add_privacy_routes

    add_privacy_routes(app, engine=engine, store=store, clock=clock, user_of=user_of)
    return app


def b64(value: str) -> str:
    """Base64 for tus Upload-Metadata values."""
    return base64.b64encode(value.encode()).decode()
