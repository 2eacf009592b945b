"""The seeded catalog and accounts on real SQLite and PostgreSQL."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sqlmodel import func, select

from streamverse.clock import VirtualClock
from streamverse.db import get_engine, init_db, session_scope
from streamverse.platform import catalog
from streamverse.platform.models import Rendition, Video, VideoRead


@pytest.fixture
def engine(db_url: str):
    engine = get_engine(db_url)
    init_db(engine)
    return engine


def test_ladder_and_segment_keys():
    assert [r[0] for r in catalog.LADDER] == ["360p", "480p", "720p", "1080p", "2160p"]
    assert catalog.LADDER[4] == ("2160p", 3840, 2160, 15_000_000)
    assert all(a[3] < b[3] for a, b in zip(catalog.LADDER, catalog.LADDER[1:], strict=False))
    assert catalog.segment_key(42, "720p", 7) == "videos/42/720p/seg_00007.ts"


def test_seed_is_fast_realistic_and_idempotent(engine):
    with session_scope(engine) as s:
        t0 = time.perf_counter()
        assert catalog.seed_catalog(session=s, count=3000, seed=7, clock=VirtualClock(1.8e9)) == 3000
        assert time.perf_counter() - t0 < 1.5  # "well under a second" locally; slack for busy CI
    with session_scope(engine) as s:
        assert catalog.seed_catalog(session=s, count=3000, seed=7) == 3000
        assert s.exec(select(func.count()).select_from(Video)).one() == 3000
        videos = list(s.exec(select(Video)))
        n_renditions = s.exec(select(func.count()).select_from(Rendition)).one()
    durations = np.array([v.duration_s for v in videos])
    assert durations.min() >= 120 and durations.max() <= 3 * 3600
    assert 900 < np.median(durations) < 3600
    assert sorted(v.popularity_rank for v in videos) == list(range(1, 3001))
    assert len({v.title for v in videos}) > 500
    assert {v.status for v in videos} == {"playable"}
    assert all(v.created_at.tzinfo is not None and v.created_at.timestamp() < 1.8e9 for v in videos)
    arrays = None
    with session_scope(engine) as s:
        arrays = catalog.catalog_arrays(session=s)
    share_4k = np.mean(arrays["max_ladder_index"] == 4)
    assert 0.1 < share_4k < 0.5
    assert n_renditions == int((arrays["max_ladder_index"] + 1).sum())


def test_same_seed_same_catalog_and_growth_keeps_existing_titles(engine, tmp_path):
    other = get_engine(f"sqlite:///{tmp_path / 'other.db'}")
    init_db(other)
    for e, n in ((engine, 200), (other, 200)):
        with session_scope(e) as s:
            catalog.seed_catalog(session=s, count=n, seed=3)
    with session_scope(engine) as a, session_scope(other) as b:
        ta = [(v.title, v.duration_s) for v in catalog.list_videos(session=a, limit=200)]
        tb = [(v.title, v.duration_s) for v in catalog.list_videos(session=b, limit=200)]
    assert ta == tb
    with session_scope(engine) as s:
        assert catalog.seed_catalog(session=s, count=250, seed=3) == 250
        assert s.exec(select(func.count()).select_from(Video)).one() == 250
        # After explicit ids, a plain insert still gets a fresh id (PostgreSQL sequence moved).
        v = Video(title="Upload", duration_s=60, popularity_rank=251, genre="news",
                  created_at=catalog_now())
        s.add(v)
        s.flush()
        assert v.id == 251


def catalog_now():
    from datetime import UTC, datetime

    return datetime.now(tz=UTC)


def test_list_get_and_renditions(engine):
    with session_scope(engine) as s:
        catalog.seed_catalog(session=s, count=500)
    with session_scope(engine) as s:
        page1 = catalog.list_videos(session=s, limit=10)
        page2 = catalog.list_videos(session=s, offset=10, limit=10)
        assert [v.popularity_rank for v in page1 + page2] == list(range(1, 21))
        word = page1[0].title.split()[-1]
        hits = catalog.list_videos(session=s, q=word.upper(), limit=1000)
        assert hits and all(word.lower() in v.title.lower() for v in hits)
        assert catalog.list_videos(session=s, q="100%_no_such") == []
        video = catalog.get_video(session=s, video_id=page1[0].id)
        assert video is not None and catalog.get_video(session=s, video_id=10_000) is None
        ladder = catalog.list_renditions(session=s, video_id=video.id)
        assert [r.name for r in ladder] == [r[0] for r in catalog.LADDER[: len(ladder)]]
        assert len(ladder) >= 3 and all(r.segment_seconds == 6 and r.codec == "h264" for r in ladder)
        read = VideoRead.model_validate({**video.model_dump(),
                                         "renditions": [r.model_dump() for r in ladder]})
        assert read.renditions[0].video_id == video.id


def test_catalog_arrays_follow_popularity(engine):
    with session_scope(engine) as s:
        catalog.seed_catalog(session=s, count=300)
        arrays = catalog.catalog_arrays(session=s)
        top = catalog.list_videos(session=s, limit=1)[0]
        top_ladder = catalog.list_renditions(session=s, video_id=top.id)
    assert set(arrays) == {"video_id", "duration_s", "max_ladder_index", "popularity_rank"}
    assert all(len(a) == 300 for a in arrays.values())
    assert np.array_equal(arrays["popularity_rank"], np.arange(1, 301))
    assert arrays["video_id"][0] == top.id and arrays["duration_s"][0] == top.duration_s
    assert arrays["max_ladder_index"][0] == len(top_ladder) - 1


def test_accounts_hash_passwords_and_authenticate(engine):
    with session_scope(engine) as s:
        assert catalog.seed_accounts(session=s, count=5, password="hunter22") == 5
        assert catalog.seed_accounts(session=s, count=5, password="hunter22") == 5
    with session_scope(engine) as s:
        acct = catalog.authenticate(session=s, username="viewer0003", password="hunter22")
        assert acct is not None and acct.username == "viewer0003"
        assert "hunter22" not in acct.password_hash and acct.password_hash.startswith("scrypt$")
        assert catalog.authenticate(session=s, username="viewer0003", password="hunter23") is None
        assert catalog.authenticate(session=s, username="nobody", password="hunter22") is None
    h1, h2 = catalog.hash_password("x", n=2**10), catalog.hash_password("x", n=2**10)
    assert h1 != h2 and catalog.verify_password("x", h1) and not catalog.verify_password("y", h1)
    assert not catalog.verify_password("x", "garbage")
