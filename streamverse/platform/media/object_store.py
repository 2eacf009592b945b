"""A local-filesystem bucket laid out like S3, with atomic writes and storage classes.

Keys look like S3 keys (`uploads/{video_id}/original`, `videos/{video_id}/720p/seg_00000.ts`).
Every write goes to a temp file and is renamed into place, and whole renditions are built
under a staging prefix and published with one directory rename, so a reader never sees a
half-written object or a half-built ladder. Storage class (hot, warm, cold, archive) is
kept per object in the database; lifecycle rules move objects by age and popularity.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from streamverse.clock import Clock
from streamverse.platform.media.models import StoredObject

STORAGE_CLASSES = ("hot", "warm", "cold", "archive")
_STAGING = ".staging"
_TMP = ".tmp"
INCOMING = ".incoming"  # uploads in progress; same filesystem, so accepting one is a rename


def _check_key(key: str) -> str:
    key = key.lstrip("/")
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or parts[0] in (_STAGING, _TMP, INCOMING):
        raise ValueError(f"invalid object key {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """Move objects under `prefix` to `to_class` once older than `min_age_s`, unless popular.

    "Popular" means the object's video was read at least `keep_hot_hits` times since the
    last lifecycle run; such objects go back to (or stay) hot.
    """

    prefix: str
    min_age_s: float
    to_class: str
    keep_hot_hits: int | None = None


DEFAULT_RULES = (
    # originals are only read again for a re-encode
    LifecycleRule("uploads/", 7 * 86_400, "cold"),
    LifecycleRule("uploads/", 90 * 86_400, "archive"),
    LifecycleRule("videos/", 30 * 86_400, "warm", keep_hot_hits=100),
    LifecycleRule("videos/", 180 * 86_400, "cold", keep_hot_hits=100),
)


class ObjectStore:
    """The bucket: `read(key)` is the origin's hot path and touches no database."""

    def __init__(self, root: Path, *, engine: Engine, clock: Clock) -> None:
        self.root = Path(root)
        self.engine = engine
        self.clock = clock
        for sub in (_STAGING, _TMP, INCOMING):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    # -- paths
    def path(self, key: str) -> Path:
        """Where an object lives on disk."""
        return self.root / _check_key(key)

    @property
    def incoming(self) -> Path:
        """The directory for partial uploads (never readable as objects)."""
        return self.root / INCOMING

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)

    def _temp(self) -> Path:
        return self.root / _TMP / uuid.uuid4().hex

    # -- reads
    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None; counts a hit for the video's popularity."""
        try:
            data = self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError):
            return None
        parts = key.lstrip("/").split("/", 2)
        if len(parts) >= 2 and parts[0] == "videos":
            with self._lock:
                self._hits[f"videos/{parts[1]}/"] += 1
        return data

    def exists(self, key: str) -> bool:
        """Whether the object is visible."""
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        """Keys under a prefix (staging never shows)."""
        base = self.path(prefix.rstrip("/"))
        if base.is_file():
            return [prefix.rstrip("/")]
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    # -- writes
    def _record(self, session: Session, key: str, size: int, storage_class: str) -> None:
        if storage_class not in STORAGE_CLASSES:
            raise ValueError(f"unknown storage class {storage_class!r}")
        now = self._now()
        row = session.get(StoredObject, key)
        if row is None:
            session.add(StoredObject(key=key, size=size, storage_class=storage_class, created_at=now,
                                     class_changed_at=now))
        else:
            row.size, row.storage_class, row.created_at, row.class_changed_at = size, storage_class, now, now
            session.add(row)

    def put_bytes(self, key: str, data: bytes, *, storage_class: str = "hot") -> None:
        """Write an object atomically (temp file, fsync, rename)."""
        dest = self.path(key)
        tmp = self._temp()
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        with Session(self.engine) as session:
            self._record(session, _check_key(key), len(data), storage_class)
            session.commit()

    def move_in(self, key: str, src: Path, *, storage_class: str = "hot") -> None:
        """Take ownership of a finished local file (same filesystem: one rename)."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp()
        shutil.move(str(src), tmp)
        os.replace(tmp, dest)
        with Session(self.engine) as session:
            self._record(session, _check_key(key), dest.stat().st_size, storage_class)
            session.commit()

    def new_staging(self, name: str) -> Path:
        """A fresh private directory for building a set of objects before publishing them."""
        path = self.root / _STAGING / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def clear_staging(self, name: str) -> int:
        """Remove staging directories left by earlier (crashed) attempts; returns how many."""
        gone = 0
        for path in (self.root / _STAGING).glob(f"{name}-*"):
            shutil.rmtree(path, ignore_errors=True)
            gone += 1
        return gone

    def publish_dir(self, staging: Path, prefix: str, *, storage_class: str = "hot") -> list[str]:
        """Make a staged directory visible under `prefix` in one rename; replaces what was there."""
        dest = self.path(prefix.rstrip("/"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if dest.exists():
            old = self.root / _TMP / f"old-{uuid.uuid4().hex}"
            os.rename(dest, old)
        os.rename(staging, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        keys = self.list(prefix)
        with Session(self.engine) as session:
            under = prefix.rstrip("/") + "/"
            session.exec(delete(StoredObject).where(col(StoredObject.key).startswith(under)))
            for key in keys:
                self._record(session, key, self.path(key).stat().st_size, storage_class)
            session.commit()
        return keys

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a prefix (or the one object named); returns how many."""
        prefix = prefix.rstrip("/")
        target = self.path(prefix)
        keys = self.list(prefix)
        if target.is_dir():
            trash = self.root / _TMP / f"del-{uuid.uuid4().hex}"
            os.rename(target, trash)  # disappears at once, then is removed
            shutil.rmtree(trash, ignore_errors=True)
        elif target.is_file():
            target.unlink()
        with Session(self.engine) as session:
            session.exec(delete(StoredObject).where(
                (col(StoredObject.key) == prefix) | col(StoredObject.key).startswith(prefix + "/")))
            session.commit()
        return len(keys)

    # -- storage classes and lifecycle
    def storage_class(self, key: str) -> str | None:
        """The object's storage class, or None when unknown."""
        with Session(self.engine) as session:
            row = session.get(StoredObject, _check_key(key))
            return row.storage_class if row else None

    def bytes_by_class(self) -> dict[str, int]:
        """Bytes stored per storage class (every class present, zero when empty)."""
        out = dict.fromkeys(STORAGE_CLASSES, 0)
        with Session(self.engine) as session:
            rows = session.exec(select(StoredObject.storage_class, func.sum(StoredObject.size))
                                .group_by(col(StoredObject.storage_class))).all()
        for cls, total in rows:
            out[cls] = int(total or 0)
        return out

    def take_hits(self) -> dict[str, int]:
        """Reads per video prefix since the last call (and reset)."""
        with self._lock:
            hits, self._hits = dict(self._hits), Counter()
        return hits

    def apply_lifecycle(self, rules: tuple[LifecycleRule, ...] = DEFAULT_RULES) -> dict[str, int]:
        """Re-class objects by age and popularity; returns how many moved to each class."""
        hits = self.take_hits()
        now = self._now()
        moved: Counter[str] = Counter()
        with Session(self.engine) as session:
            for row in session.exec(select(StoredObject)):
                target = _classify(row, rules, hits, now)
                if target != row.storage_class:
                    row.storage_class, row.class_changed_at = target, now
                    session.add(row)
                    moved[target] += 1
            session.commit()
        return dict(moved)

    def iter_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Object metadata rows under a prefix."""
        with Session(self.engine) as session:
            yield from session.exec(select(StoredObject).where(col(StoredObject.key).startswith(prefix)))


def _classify(row: StoredObject, rules: tuple[LifecycleRule, ...], hits: dict[str, int],
              now: datetime) -> str:
    """The class the rules give an object: the coldest matching age rule, hot again if popular."""
    age = (now - row.created_at).total_seconds()
    parts = row.key.split("/", 2)
    video_hits = hits.get(f"{parts[0]}/{parts[1]}/", 0) if len(parts) >= 2 else 0
    target = "hot"
    for rule in rules:
        if not row.key.startswith(rule.prefix) or age < rule.min_age_s:
            continue
        if rule.keep_hot_hits is not None and video_hits >= rule.keep_hot_hits:
            continue
        if STORAGE_CLASSES.index(rule.to_class) > STORAGE_CLASSES.index(target):
            target = rule.to_class
    return target
