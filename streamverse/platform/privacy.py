"""GDPR/CCPA: export everything held about a user as JSON, and erase it.

Erasure removes the account, profile, subscriptions, watch history and the user's uploads
(rows, originals, renditions and catalog entries) and leaves one audit record that names
the subject only by pseudonym and says what was removed in counts. Both requests are
served to the user themselves (through the gateway, as `/v1/me/...`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from streamverse.clock import Clock, utc_iso
from streamverse.jsonlog import hash_user_id
from streamverse.platform.media.models import TranscodeJob, Upload
from streamverse.platform.media.object_store import ObjectStore
from streamverse.platform.media.uploads import part_path
from streamverse.platform.models import Account, Rendition, Video
from streamverse.platform.models_users import PrivacyAudit, Subscription, UserProfile, WatchEvent

log = logging.getLogger("streamverse.privacy")


def _rows(items: list[Any], drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.model_dump(mode="json").items() if k not in drop} for item in items]


def _account_id(user_id: str) -> int | None:
    return int(user_id) if user_id.isdigit() else None


def export_user(*, engine: Engine, clock: Clock, user_id: str) -> dict[str, Any]:
    """Everything held about the user, as JSON-ready data (and an audit record of the export)."""
    subject = hash_user_id(user_id)
    with Session(engine) as session:
        account = session.get(Account, _account_id(user_id)) if _account_id(user_id) is not None else None
        uploads = list(session.exec(select(Upload).where(Upload.user_id == user_id)))
        video_ids = [u.video_id for u in uploads if u.video_id is not None]
        videos = list(session.exec(select(Video).where(col(Video.id).in_(video_ids)))) if video_ids else []
        out = {
            "user_id": user_id,
            "generated_at": utc_iso(clock.now()),
            "account": _rows([account], drop=("password_hash",))[0] if account else None,
            "profile": _rows([p])[0] if (p := session.get(UserProfile, user_id)) else None,
            "subscriptions": _rows(list(session.exec(select(Subscription)
                                                     .where(Subscription.user_id == user_id)))),
            "watch_history": _rows(list(session.exec(select(WatchEvent).where(WatchEvent.user_id == user_id)
                                                     .order_by(col(WatchEvent.watched_at))))),
            "uploads": _rows(uploads),
            "uploaded_videos": _rows(videos),
            "privacy_requests": _rows(list(session.exec(select(PrivacyAudit)
                                                        .where(PrivacyAudit.subject == subject)))),
        }
        counts = {k: (len(v) if isinstance(v, list) else int(v is not None)) for k, v in out.items()
                  if k not in ("user_id", "generated_at")}
        session.add(PrivacyAudit(action="export", subject=subject,
                                 at=datetime.fromtimestamp(clock.now(), tz=UTC),
                                 summary=json.dumps(counts, sort_keys=True)))
        session.commit()
    log.info("privacy export", extra={"user": subject})
    return out


def erase_user(*, engine: Engine, store: ObjectStore, clock: Clock, user_id: str) -> dict[str, Any]:
    """Remove the user's data everywhere; returns the audit record (counts, pseudonymous subject)."""
    subject = hash_user_id(user_id)
    counts: dict[str, int] = {}
    with Session(engine) as session:
        uploads = list(session.exec(select(Upload).where(Upload.user_id == user_id)))
        objects = 0
        for up in uploads:
            part_path(store.incoming, up.id).unlink(missing_ok=True)
            if up.video_id is not None:
                objects += store.delete_prefix(f"videos/{up.video_id}")
                objects += store.delete_prefix(f"uploads/{up.video_id}")
        video_ids = [u.video_id for u in uploads if u.video_id is not None]
        upload_ids = [u.id for u in uploads]
        if video_ids:
            session.exec(delete(Rendition).where(col(Rendition.video_id).in_(video_ids)))
            counts["videos"] = session.exec(delete(Video).where(col(Video.id).in_(video_ids))).rowcount
        for upload_id in upload_ids:  # queued jobs name the upload; they go too
            session.exec(delete(TranscodeJob).where(col(TranscodeJob.payload).contains(f'"{upload_id}"')))
        counts["uploads"] = session.exec(delete(Upload).where(col(Upload.user_id) == user_id)).rowcount
        counts["objects"] = objects
        counts["watch_history"] = session.exec(delete(WatchEvent).where(col(WatchEvent.user_id) == user_id)
                                               ).rowcount
        counts["subscriptions"] = session.exec(delete(Subscription)
                                               .where(col(Subscription.user_id) == user_id)).rowcount
        counts["profile"] = session.exec(delete(UserProfile).where(col(UserProfile.user_id) == user_id)
                                         ).rowcount
        account_id = _account_id(user_id)
        counts["account"] = session.exec(delete(Account).where(col(Account.id) == account_id)).rowcount \
            if account_id is not None else 0
        audit = PrivacyAudit(action="erase", subject=subject, at=datetime.fromtimestamp(clock.now(), tz=UTC),
                             summary=json.dumps(counts, sort_keys=True))
        session.add(audit)
        session.commit()
        session.refresh(audit)
    log.info("privacy erasure", extra={"user": subject, "counts": counts})
    return {"audit_id": audit.id, "action": "erase", "subject": subject, "at": utc_iso(audit.at.timestamp()),
            "erased": counts}


class ProfileIn(BaseModel):
    """Profile fields a user may set."""

    display_name: str = Field("", max_length=120)
    email: str | None = Field(None, max_length=254)
    country: str | None = Field(None, min_length=2, max_length=2)
    language: str | None = Field(None, max_length=16)


class WatchIn(BaseModel):
    """One viewing to record."""

    video_id: int
    position_s: float = Field(0.0, ge=0)
    seconds_watched: float = Field(0.0, ge=0)
    device: str | None = Field(None, max_length=40)


class SubscriptionIn(BaseModel):
    """A plan to subscribe to."""

    plan: str = Field(min_length=1, max_length=40)


def add_privacy_routes(app: FastAPI, *, engine: Engine, store: ObjectStore, clock: Clock,
                       user_of: Callable[[Request], str]) -> None:
    """The `/v1/me` routes: profile, subscriptions, history, export and erasure."""

    def now() -> datetime:
        return datetime.fromtimestamp(clock.now(), tz=UTC)

    @app.put("/v1/me/profile", summary="Set your profile")
    def put_profile(body: ProfileIn, request: Request) -> dict[str, Any]:
        user = user_of(request)
        with Session(engine) as session:
            row = session.get(UserProfile, user) or UserProfile(user_id=user, created_at=now(),
                                                                 updated_at=now())
            for key, value in body.model_dump().items():
                setattr(row, key, value)
            row.updated_at = now()
            session.add(row)
            session.commit()
            return row.model_dump(mode="json")

    @app.post("/v1/me/subscriptions", status_code=201, summary="Subscribe to a plan")
    def subscribe(body: SubscriptionIn, request: Request) -> dict[str, Any]:
        with Session(engine) as session:
            row = Subscription(user_id=user_of(request), plan=body.plan, started_at=now())
            session.add(row)
            session.commit()
            return row.model_dump(mode="json")

    @app.post("/v1/me/history", status_code=201, summary="Record a viewing")
    def watched(body: WatchIn, request: Request) -> dict[str, Any]:
        with Session(engine) as session:
            row = WatchEvent(user_id=user_of(request), watched_at=now(), **body.model_dump())
            session.add(row)
            session.commit()
            return row.model_dump(mode="json")

    @app.get("/v1/me/export", summary="GDPR/CCPA export: everything held about you, as JSON")
    def export(request: Request) -> dict[str, Any]:
        return export_user(engine=engine, clock=clock, user_id=user_of(request))

    @app.delete("/v1/me", summary="GDPR/CCPA erasure: remove your account and data")
    def erase(request: Request) -> dict[str, Any]:
        return erase_user(engine=engine, store=store, clock=clock, user_id=user_of(request))
