"""User tables: profiles, subscriptions, watch history, and the privacy audit trail.

`user_id` is the gateway principal (the account id as text). The audit table never holds
it raw: only its pseudonym, so the trail survives an erasure without keeping the person.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from streamverse.db import UTCDateTime


class UserProfile(SQLModel, table=True):
    """What a viewer told us about themselves."""

    __tablename__ = "user_profile"

    user_id: str = Field(primary_key=True, max_length=120)
    display_name: str = Field(default="", max_length=120)
    email: str | None = Field(default=None, max_length=254)
    country: str | None = Field(default=None, max_length=2)
    language: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Subscription(SQLModel, table=True):
    """A plan a viewer pays for (or did)."""

    __tablename__ = "user_subscription"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True, max_length=120)
    plan: str = Field(max_length=40)
    status: str = Field(default="active", max_length=20)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WatchEvent(SQLModel, table=True):
    """One viewing of a title: what, when, how far, on what device."""

    __tablename__ = "user_watch_event"

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True, max_length=120)
    video_id: int = Field(index=True)
    watched_at: datetime = Field(sa_type=UTCDateTime)
    position_s: float = 0.0
    seconds_watched: float = 0.0
    device: str | None = Field(default=None, max_length=40)


class PrivacyAudit(SQLModel, table=True):
    """A privacy request carried out: pseudonymous subject, action, counts; no personal data."""

    __tablename__ = "privacy_audit"

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=20)  # export | erase
    subject: str = Field(index=True, max_length=40, description="hash_user_id of the subject")
    at: datetime = Field(sa_type=UTCDateTime)
    summary: str = Field(default="{}", description="JSON counts of what was exported or erased")
