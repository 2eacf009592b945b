"""The video catalog: a seeded library of titles with ABR ladders, and viewer accounts.

Seeding is deterministic (same seed, same catalog) and bulk, so a fresh machine has
a few thousand realistic titles in well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from streamverse.clock import Clock, RealClock
from streamverse.platform.models import Account, Rendition, Video

# (name, width, height, bitrate_bps), lowest first; the index is the "ladder index".
LADDER: tuple[tuple[str, int, int, int], ...] = (
    ("360p", 640, 360, 500_000),
    ("480p", 854, 480, 1_000_000),
    ("720p", 1280, 720, 2_500_000),
    ("1080p", 1920, 1080, 5_000_000),
    ("2160p", 3840, 2160, 15_000_000),
)
SEGMENT_SECONDS = 6
SHARE_2160P = 0.25  # newer, popular titles get 4K
SHARE_720P_MAX = 0.05  # old catalogue titles never mastered in HD

GENRES = ("drama", "comedy", "documentary", "thriller", "sci-fi", "animation", "sports",
          "romance", "horror", "kids", "music", "news")
_ADJ = ("Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Frozen", "Wild",
        "Electric", "Distant", "Burning", "Secret", "Northern", "Lost", "Iron", "Velvet", "Paper",
        "Hollow", "Endless", "Quiet", "Savage", "Blue", "Bitter", "Brave")
_NOUN = ("Harbor", "Empire", "Garden", "Signal", "Frontier", "Orchard", "Tide", "Circuit", "Kingdom",
         "River", "Summer", "Machine", "Horizon", "Lighthouse", "Station", "Echo", "Canyon", "Voyage",
         "Citadel", "Letters", "Island", "Parade", "Protocol", "Compass", "Storm")
_PLACE = ("Lisbon", "Osaka", "Nairobi", "the North", "Mars", "Tomorrow", "the Valley", "Reykjavik",
          "Buenos Aires", "the Deep", "Old Town", "Mumbai", "the Coast", "Kraków", "Seoul")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_SEED_SCRYPT_N = 2**12  # seeded demo accounts share a known password; keep seeding fast


PLAYABLE = "playable"  # Video.status once its ladder is published

def segment_key(video_id: int, rendition: str, index: int) -> str:
    """The object key of one media segment, shared by origin, caches and the simulator."""
    return f"videos/{video_id}/{rendition}/seg_{index:05d}.ts"


def _titles(rng: np.random.Generator, count: int) -> list[str]:
    """Plausible titles from word lists (drawn as arrays: 3000 titles in a few ms)."""
    form = rng.integers(0, 5, count)
    adj = rng.integers(0, len(_ADJ), count)
    noun = rng.integers(0, len(_NOUN), count)
    place = rng.integers(0, len(_PLACE), count)
    season = rng.integers(1, 6, count)
    episode = rng.integers(1, 11, count)
    sequel = rng.random(count) < 0.3
    out = []
    for f, a, n, pl, se, ep, sq in zip(form, adj, noun, place, season, episode, sequel, strict=True):
        a, n, pl = _ADJ[a], _NOUN[n], _PLACE[pl]
        if f == 0:
            out.append(f"The {a} {n}")
        elif f == 1:
            out.append(f"{n} of {pl}")
        elif f == 2:
            out.append(f"{a} {n}: Season {se}, Episode {ep}")
        elif f == 3:
            out.append(f"A {a} {n} in {pl}")
        else:
            out.append(f"{a} {n} {2 + se % 2}" if sq else f"{a} {n}")
    return out


def seed_catalog(*, session: Session, count: int = 3000, seed: int = 7, clock: Clock | None = None) -> int:
    """Fill the catalog up to `count` titles (ids 1..count); returns how many titles it holds.

    Idempotent: titles already present are kept, only missing ids are added.
    """
    existing = set(session.exec(select(Video.id).where(col(Video.id) <= count)))
    rng = np.random.default_rng(seed)
    now = (clock or RealClock()).now()
    # Draw everything for all `count` titles so the catalog does not depend on what exists.
    durations = np.clip(np.exp(rng.normal(np.log(1800.0), 0.85, count)), 120.0, 10_800.0).round(1)
    ranks = rng.permutation(count) + 1
    genres = rng.choice(len(GENRES), count)
    u = rng.random(count)
    # 4K is likelier for popular titles; a few old titles stop at 720p.
    p4k = SHARE_2160P * 2 * (1 - ranks / (count + 1))
    max_idx = np.where(u < p4k, 4, np.where(u > 1 - SHARE_720P_MAX, 2, 3))
    ages = rng.exponential(365 * 86_400.0, count)
    titles = _titles(rng, count)

    videos, renditions = [], []
    for i in range(count):
        vid = i + 1
        if vid in existing:
            continue
        genre = GENRES[genres[i]]
        videos.append({
            "id": vid, "title": titles[i], "genre": genre, "duration_s": float(durations[i]),
            "popularity_rank": int(ranks[i]), "status": PLAYABLE,
            "description": f"A {genre} title, {int(durations[i] // 60)} minutes.",
            "created_at": datetime.fromtimestamp(now - float(ages[i]), tz=UTC),
        })
        for name, width, height, bitrate in LADDER[: int(max_idx[i]) + 1]:
            renditions.append({"video_id": vid, "name": name, "width": width, "height": height,
                               "bitrate_bps": bitrate, "codec": "h264",
                               "segment_seconds": SEGMENT_SECONDS})
    if videos:
        # Core inserts (executemany), not ORM objects: 15k rows in a fraction of a second.
        session.execute(insert(Video.__table__), videos)  # type: ignore[attr-defined]
        session.execute(insert(Rendition.__table__), renditions)  # type: ignore[attr-defined]
        _bump_sequence(session, "video")
        session.flush()
    return len(existing) + len(videos)


def _bump_sequence(session: Session, table: str) -> None:
    """Explicit ids leave PostgreSQL's serial behind; move it past them."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
        ))


def list_videos(*, session: Session, q: str | None = None, offset: int = 0, limit: int = 50) -> list[Video]:
    """Playable titles by popularity, optionally those whose title contains `q` (case-insensitive).

    Uploads still being processed are not listed: a viewer could not play them yet.
    """
    stmt = (select(Video).where(Video.status == PLAYABLE)
            .order_by(col(Video.popularity_rank), col(Video.id)))
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(Video.title).like(f"%{escaped.lower()}%", escape="\\"))
    return list(session.exec(stmt.offset(max(0, offset)).limit(max(0, min(limit, 1000)))))


def get_playable(*, session: Session, video_id: int) -> Video | None:
    """One title that can be played now, or None (unknown or still processing)."""
    video = session.get(Video, video_id)
    return video if video is not None and video.status == PLAYABLE else None


def get_video(*, session: Session, video_id: int) -> Video | None:
    """One title, or None."""
    return session.get(Video, video_id)


def list_renditions(*, session: Session, video_id: int) -> list[Rendition]:
    """The ladder of one title, lowest bitrate first."""
    stmt = select(Rendition).where(Rendition.video_id == video_id).order_by(col(Rendition.bitrate_bps))
    return list(session.exec(stmt))


def catalog_arrays(*, session: Session) -> dict[str, np.ndarray]:
    """The catalog as arrays ordered by popularity rank (row 0 is rank 1), for the simulator.

    Keys: video_id, duration_s, max_ladder_index (into LADDER), popularity_rank.
    """
    rows = session.exec(
        select(Video.id, Video.duration_s, Video.popularity_rank, func.max(Rendition.height))
        .join(Rendition, col(Rendition.video_id) == col(Video.id))
        .where(Video.status == PLAYABLE)
        .group_by(col(Video.id), col(Video.duration_s), col(Video.popularity_rank))
        .order_by(col(Video.popularity_rank), col(Video.id))
    ).all()
    heights = np.array([h for *_, h in rows], dtype=np.int64)
    ladder_heights = np.array([rung[2] for rung in LADDER])
    return {
        "video_id": np.array([r[0] for r in rows], dtype=np.int64),
        "duration_s": np.array([r[1] for r in rows], dtype=np.float64),
        "max_ladder_index": np.searchsorted(ladder_heights, heights).astype(np.int64),
        "popularity_rank": np.array([r[2] for r in rows], dtype=np.int64),
    }


def hash_password(password: str, *, n: int = _SCRYPT["n"]) -> str:
    """A salted scrypt hash that records its own parameters, so they can be raised later."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_SCRYPT["r"], p=_SCRYPT["p"],
                            maxmem=128 * 1024 * 1024)
    b64 = base64.b64encode
    return f"scrypt${n}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash from hash_password (constant-time)."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=128 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def account_username(index: int) -> str:
    """The username of the i-th seeded account (1-based)."""
    return f"viewer{index:04d}"


def seed_accounts(*, session: Session, count: int = 100, password: str, clock: Clock | None = None) -> int:
    """Demo accounts viewer0001..viewerNNNN sharing one password; returns how many exist."""
    wanted = [account_username(i) for i in range(1, count + 1)]
    existing = set(session.exec(select(Account.username).where(col(Account.username).in_(wanted))))
    at = datetime.fromtimestamp((clock or RealClock()).now(), tz=UTC)
    rows = [{"username": u, "password_hash": hash_password(password, n=_SEED_SCRYPT_N), "created_at": at}
            for u in wanted if u not in existing]
    if rows:
        session.execute(insert(Account), rows)
        session.flush()
    return len(existing) + len(rows)


def authenticate(*, session: Session, username: str, password: str) -> Account | None:
    """The account when the password matches, else None (unknown users cost the same time)."""
    account = session.exec(select(Account).where(Account.username == username)).first()
    if account is None:
        verify_password(password, _DUMMY_HASH)  # same work, so timing does not reveal usernames
        return None
    return account if verify_password(password, account.password_hash) else None


_DUMMY_HASH = "scrypt$4096$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + base64.b64encode(b"\0" * 64).decode()
