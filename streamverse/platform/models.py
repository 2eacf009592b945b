"""Catalog and account tables: videos, their ABR renditions, and viewer accounts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from streamverse.db import UTCDateTime


class VideoBase(SQLModel):
    title: str = Field(max_length=300, index=True)
    description: str = Field(default="", max_length=2000)
    duration_s: float = Field(gt=0, description="running time in seconds")
    popularity_rank: int = Field(index=True, description="1 is the most watched title")
    genre: str = Field(max_length=40)
    status: str = Field(default="playable", max_length=20)


class Video(VideoBase, table=True):
    """A title in the catalog."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class RenditionBase(SQLModel):
    name: str = Field(max_length=10, description='ladder rung, e.g. "720p"')
    width: int
    height: int
    bitrate_bps: int
    codec: str = Field(default="h264", max_length=16)
    segment_seconds: int = 6


class Rendition(RenditionBase, table=True):
    """One encoding of a video on the ABR ladder."""

    id: int | None = Field(default=None, primary_key=True)
    video_id: int = Field(foreign_key="video.id", index=True)


class Account(SQLModel, table=True):
    """A viewer who can log in at the gateway; only a salted scrypt hash of the password is kept."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=120, unique=True)
    password_hash: str = Field(max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)


class RenditionRead(RenditionBase):
    id: int
    video_id: int


class VideoRead(VideoBase):
    id: int
    created_at: datetime
    renditions: list[RenditionRead] = []
