"""Media tables: uploads in flight, objects in the store with their storage class, transcode jobs."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from streamverse.db import UTCDateTime


class Upload(SQLModel, table=True):
    """One resumable upload (a tus resource); `user_id` is the gateway principal that owns it."""

    __tablename__ = "media_upload"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(index=True, max_length=120)
    filename: str = Field(default="", max_length=300)
    length: int = Field(ge=0)
    offset: int = Field(default=0, ge=0)
    checksum_sha256: str | None = Field(default=None, max_length=64)
    # uploading -> complete (accepted, queued) -> playable | rejected | failed
    status: str = Field(default="uploading", max_length=20, index=True)
    partial: bool = Field(default=False, description="a tus concatenation part, never processed alone")
    reason: str | None = Field(default=None, max_length=500)
    video_id: int | None = Field(default=None, index=True)
    job_id: str | None = Field(default=None, max_length=40)
    scan_state: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StoredObject(SQLModel, table=True):
    """Metadata the bucket keeps per object: size, storage class, when it was written."""

    __tablename__ = "media_object"

    key: str = Field(primary_key=True, max_length=400)
    size: int = Field(ge=0)
    storage_class: str = Field(default="hot", max_length=10, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    class_changed_at: datetime = Field(sa_type=UTCDateTime)


class TranscodeJob(SQLModel, table=True):
    """A queued job in the database backend (the embedded default; Redis keeps its own)."""

    __tablename__ = "media_job"

    id: str = Field(primary_key=True, max_length=40)
    payload: str = Field(description="JSON; never carries personal data")
    status: str = Field(default="queued", max_length=12, index=True)  # queued running succeeded dead
    attempts: int = 0
    max_attempts: int = 3
    run_at: float = Field(index=True, description="epoch seconds when it may run (backoff)")
    lease_until: float | None = None
    worker: str | None = Field(default=None, max_length=80)
    progress: float = 0.0
    error: str | None = Field(default=None, max_length=1000)
    created_at: float
    updated_at: float
