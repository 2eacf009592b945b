"""GDPR/CCPA export and erasure on SQLite and PostgreSQL; the object store's atomicity and lifecycle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest
from sqlalchemy import inspect, text
from sqlmodel import Session

from streamverse.clock import VirtualClock
from streamverse.db import get_engine, init_db
from streamverse.jsonlog import hash_user_id
from streamverse.platform import privacy
from streamverse.platform.media.metrics import MediaMetrics
from streamverse.platform.media.models import Upload
from streamverse.platform.media.object_store import LifecycleRule, ObjectStore
from streamverse.platform.models import Account, Rendition, Video
from streamverse.platform.models_users import Subscription, UserProfile, WatchEvent

EMAIL = "ada.lovelace@example.org"


def _seed_user(engine, store: ObjectStore, clock: VirtualClock) -> tuple[str, int]:  # noqa: ANN001
    now = datetime.fromtimestamp(clock.now(), tz=UTC)
    with Session(engine) as session:
        account = Account(username="ada_l", password_hash="scrypt$x", created_at=now)
        other = Account(username="bob_b", password_hash="scrypt$y", created_at=now)
        session.add(account)
        session.add(other)
        session.flush()
        user = str(account.id)
        session.add(
            UserProfile(
                user_id=user, display_name="Ada L", email=EMAIL, country="GB", created_at=now, updated_at=now
            )
        )
        session.add(Subscription(user_id=user, plan="premium", started_at=now))
        session.add(WatchEvent(user_id=user, video_id=1, watched_at=now, position_s=30, seconds_watched=30))
        session.add(WatchEvent(user_id=str(other.id), video_id=1, watched_at=now))
        video = Video(title="ada-birthday", duration_s=3, popularity_rank=10, genre="user", created_at=now)
        session.add(video)
        session.flush()
        session.add(Rendition(video_id=video.id, name="360p", width=640, height=360, bitrate_bps=500_000))
        session.add(
            Upload(
                id="up1",
                user_id=user,
                filename="ada-birthday.mp4",
                length=3,
                offset=3,
                status="playable",
                video_id=video.id,
                created_at=now,
                updated_at=now,
            )
        )
        session.commit()
        video_id = video.id
    store.put_bytes(f"uploads/{video_id}/original", b"abc")
    store.put_bytes(f"videos/{video_id}/master.m3u8", b"#EXTM3U\n")
    return user, video_id


def test_export_then_erase_leaves_no_personal_data(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    init_db(engine)
    clock = VirtualClock(1_750_000_000)
    store = ObjectStore(tmp_path / "bucket", engine=engine, clock=clock)
    user, video_id = _seed_user(engine, store, clock)

    out = privacy.export_user(engine=engine, clock=clock, user_id=user)
    json.dumps(out)  # JSON all the way down
    assert out["account"]["username"] == "ada_l" and "password_hash" not in out["account"]
    assert out["profile"]["email"] == EMAIL
    assert [s["plan"] for s in out["subscriptions"]] == ["premium"]
    assert len(out["watch_history"]) == 1 and out["watch_history"][0]["seconds_watched"] == 30
    assert out["uploads"][0]["filename"] == "ada-birthday.mp4"
    assert out["uploaded_videos"][0]["id"] == video_id

    result = privacy.erase_user(engine=engine, store=store, clock=clock, user_id=user)
    assert result["subject"] == hash_user_id(user)
    assert result["erased"]["account"] == 1 and result["erased"]["watch_history"] == 1
    assert result["erased"]["objects"] == 2 and result["erased"]["uploads"] == 1

    # look everywhere: every table's every row, and the bucket
    needles = ("ada_l", EMAIL, "Ada L", "ada-birthday", "scrypt$x")
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                blob = " ".join(str(v) for v in row)
                assert not any(n in blob for n in needles), (table, row)
        # the user's id survives only as the audit pseudonym
        audits = conn.execute(text("SELECT action, subject, summary FROM privacy_audit")).all()
        assert {a[0] for a in audits} == {"export", "erase"}
        assert all(a[1] == hash_user_id(user) for a in audits)
        assert conn.execute(text("SELECT count(*) FROM user_watch_event")).scalar() == 1  # bob's stays
    assert store.list(f"videos/{video_id}") == [] and store.list(f"uploads/{video_id}") == []
    assert not any(p.is_file() for p in (tmp_path / "bucket").rglob("*") if ".tmp" not in p.parts)
    again = privacy.export_user(engine=engine, clock=clock, user_id=user)
    assert again["account"] is None and again["profile"] is None and again["uploads"] == []


def test_store_atomic_publish_classes_and_lifecycle(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 's.db'}")
    init_db(engine)
    clock = VirtualClock(1_750_000_000)
    store = ObjectStore(tmp_path / "bucket", engine=engine, clock=clock)
    store.put_bytes("uploads/5/original", b"o" * 100)
    staging = store.new_staging("video-5")
    (staging / "360p").mkdir()
    (staging / "360p" / "seg_00000.ts").write_bytes(b"s" * 50)
    (staging / "master.m3u8").write_bytes(b"#EXTM3U\n")
    assert store.read("videos/5/master.m3u8") is None  # staged is invisible
    assert store.read(".staging/x") is None
    keys = store.publish_dir(staging, "videos/5")
    assert keys == ["videos/5/360p/seg_00000.ts", "videos/5/master.m3u8"]
    assert store.read("videos/5/360p/seg_00000.ts") == b"s" * 50
    assert store.bytes_by_class() == {"hot": 158, "warm": 0, "cold": 0, "archive": 0}

    metrics = MediaMetrics()
    metrics.watch_store(store.bytes_by_class)
    assert (
        'streamverse_object_store_bytes{storage_class="hot"} 158.0'
        in generate_latest(metrics.registry).decode()
    )

    rules = (
        LifecycleRule("uploads/", 7 * 86400, "cold"),
        LifecycleRule("videos/", 30 * 86400, "warm", keep_hot_hits=3),
    )
    clock.advance(8 * 86400)
    assert store.apply_lifecycle(rules) == {"cold": 1}
    assert store.storage_class("uploads/5/original") == "cold"
    clock.advance(30 * 86400)
    for _ in range(3):
        store.read("videos/5/master.m3u8")  # popular: stays hot
    assert store.apply_lifecycle(rules) == {}
    assert store.storage_class("videos/5/master.m3u8") == "hot"
    assert store.apply_lifecycle(rules) == {"warm": 2}  # no reads since: ages out
    assert store.bytes_by_class()["warm"] == 58
    assert store.delete_prefix("videos/5") == 2 and store.read("videos/5/master.m3u8") is None
