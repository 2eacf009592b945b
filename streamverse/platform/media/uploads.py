"""Resumable uploads in the shape of tus 1.0 (core, creation, checksum, concatenation, termination).

The bytes of an upload in flight live in one file under the bucket's `.incoming/`; its
row holds the offset the server vouches for. A PATCH writes at that offset and advances
it by what actually arrived, so a connection dropped mid-chunk resumes from the last byte
received, and HEAD tells the client where. Chunks go in order within one upload; to send
parts in any order or in parallel, tus's concatenation extension is used: upload the parts
as `partial` uploads, then create a `final` upload that names them in order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from streamverse.clock import Clock
from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.models import Upload

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,concatenation,termination"
ACTIVE = ("uploading", "complete", "playable")  # states that count against the quota


class UploadError(Exception):
    """A refusal with its HTTP status, a machine code and a sentence for people."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus `Upload-Metadata`: comma-separated `key base64value` pairs."""
    out: dict[str, str] = {}
    for item in (header or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode() if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise UploadError(400, "bad_metadata",
                              f"Upload-Metadata value for {key!r} is not base64") from None
    return out


def parse_checksum(meta: dict[str, str]) -> str | None:
    """The whole-file SHA-256 from metadata (`checksum` as `sha256:HEX` or HEX, or `sha256`)."""
    raw = meta.get("sha256") or meta.get("checksum")
    if raw is None:
        return None
    algo, _, value = raw.partition(":") if ":" in raw else ("sha256", "", raw)
    value = value.strip().lower()
    if algo.lower() != "sha256" or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise UploadError(400, "bad_checksum", "checksum must be sha256:<64 hex digits>")
    return value


def chunk_checksum(header: str | None) -> bytes | None:
    """tus checksum extension `Upload-Checksum: sha256 <base64>` -> digest bytes."""
    if not header:
        return None
    algo, _, value = header.strip().partition(" ")
    if algo.lower() != "sha256":
        raise UploadError(400, "bad_checksum_algorithm", "only sha256 is supported in Upload-Checksum")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise UploadError(400, "bad_checksum", "Upload-Checksum is not base64") from None


def part_path(incoming: Path, upload_id: str) -> Path:
    """The file holding an upload's bytes while it is in flight."""
    return incoming / f"{upload_id}.part"


def _now(clock: Clock) -> datetime:
    return datetime.fromtimestamp(clock.now(), tz=UTC)


def create(*, engine: Engine, clock: Clock, config: MediaConfig, incoming: Path, user_id: str,
           length: int, meta: dict[str, str], partial: bool = False) -> Upload:
    """A new upload after the size, quota and rate checks; its empty file is created too."""
    if length < 0:
        raise UploadError(400, "bad_length", "Upload-Length must be a non-negative integer")
    if length > config.max_upload_bytes:
        raise UploadError(413, "too_large", f"upload of {length} bytes is over the limit of "
                          f"{config.max_upload_bytes} bytes")
    checksum = parse_checksum(meta)
    now = _now(clock)
    with Session(engine, expire_on_commit=False) as session:
        used = session.exec(select(func.coalesce(func.sum(Upload.length), 0)).where(
            Upload.user_id == user_id, col(Upload.status).in_(ACTIVE))).one()
        if int(used) + length > config.user_quota_bytes:
            raise UploadError(413, "quota_exceeded", f"upload would exceed your quota of "
                              f"{config.user_quota_bytes} bytes ({int(used)} used)")
        if not partial:
            since = now - timedelta(hours=1)
            recent = list(session.exec(select(Upload.created_at).where(
                Upload.user_id == user_id, col(Upload.partial).is_(False), col(Upload.created_at) >= since)
                .order_by(col(Upload.created_at))))
            if len(recent) >= config.uploads_per_hour:
                retry = max(1, int((recent[0] + timedelta(hours=1) - now).total_seconds()) + 1)
                raise UploadError(429, "upload_rate_limited",
                                  f"at most {config.uploads_per_hour} uploads per hour; retry in {retry}s",
                                  headers={"Retry-After": str(retry)})
        upload = Upload(id=uuid.uuid4().hex, user_id=user_id, filename=meta.get("filename", "")[:300],
                        length=length, checksum_sha256=checksum, partial=partial, created_at=now,
                        updated_at=now)
        incoming.mkdir(parents=True, exist_ok=True)
        part_path(incoming, upload.id).touch()
        session.add(upload)
        session.commit()
    return upload


def get_owned(*, engine: Engine, upload_id: str, user_id: str) -> Upload:
    """The user's upload, or 404 (another user's upload does not exist for you)."""
    with Session(engine, expire_on_commit=False) as session:
        upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user_id:
        raise UploadError(404, "not_found", f"upload {upload_id} not found")
    return upload


def list_owned(*, engine: Engine, user_id: str) -> list[Upload]:
    """The user's uploads, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(Upload).where(Upload.user_id == user_id)
                                 .order_by(col(Upload.created_at).desc())))


def set_offset(*, engine: Engine, clock: Clock, upload_id: str, offset: int) -> None:
    """Record how many bytes are safely on disk."""
    with Session(engine) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        upload.offset, upload.updated_at = offset, _now(clock)
        session.add(upload)
        session.commit()


def set_status(*, engine: Engine, clock: Clock, upload_id: str, status: str, reason: str | None = None,
               scan_state: str | None = None) -> None:
    """Move an upload to a terminal or processing state."""
    with Session(engine) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        upload.status, upload.reason, upload.updated_at = status, reason, _now(clock)
        if scan_state is not None:
            upload.scan_state = scan_state
        session.add(upload)
        session.commit()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def concatenate(*, engine: Engine, clock: Clock, config: MediaConfig, incoming: Path, user_id: str,
                parts: list[str], meta: dict[str, str]) -> Upload:
    """tus `Upload-Concat: final`: join finished partial uploads, in the order named, into a new upload."""
    if not parts:
        raise UploadError(400, "bad_concat", "Upload-Concat final names no partial uploads")
    found = [get_owned(engine=engine, upload_id=p, user_id=user_id) for p in parts]
    for up in found:
        if not up.partial:
            raise UploadError(400, "bad_concat", f"upload {up.id} is not a partial upload")
        if up.offset != up.length:
            raise UploadError(400, "bad_concat", f"partial upload {up.id} is not finished")
    total = sum(up.length for up in found)
    final = create(engine=engine, clock=clock, config=config, incoming=incoming, user_id=user_id,
                   length=total, meta=meta)
    dest = part_path(incoming, final.id)
    with open(dest, "wb") as out:
        for up in found:
            with open(part_path(incoming, up.id), "rb") as src:
                while block := src.read(1 << 20):
                    out.write(block)
        out.flush()
        os.fsync(out.fileno())
    set_offset(engine=engine, clock=clock, upload_id=final.id, offset=total)
    with Session(engine) as session:  # the parts are consumed
        for up in found:
            row = session.get(Upload, up.id)
            if row is not None:
                session.delete(row)
            part_path(incoming, up.id).unlink(missing_ok=True)
        session.commit()
    final.offset = total
    return final


def terminate(*, engine: Engine, incoming: Path, upload: Upload) -> None:
    """tus termination: forget an unfinished upload and its bytes."""
    if upload.status != "uploading":
        raise UploadError(409, "not_in_progress", "only an upload in progress can be terminated")
    part_path(incoming, upload.id).unlink(missing_ok=True)
    with Session(engine) as session:
        row = session.get(Upload, upload.id)
        if row is not None:
            session.delete(row)
        session.commit()
