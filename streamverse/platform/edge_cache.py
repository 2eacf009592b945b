"""A byte-bounded object cache with TTLs, purge and two eviction policies (LRU, S3-FIFO).

One class serves both drivers: live edges keep segment bytes in it, fast-forward runs keep
only sizes (`value=None`). It sits on the simulator's hot path, so `get`/`put` are written
for speed: one dict lookup on a hit, no locks on reads, stats as plain integers.

S3-FIFO (Yang et al., SOSP'23) is made byte-weighted: a small FIFO holding ~10% of the
bytes admits new objects, a main FIFO holds the rest, and a ghost FIFO remembers keys
recently evicted from the small queue so their return goes straight to main. Hits only
bump a 2-bit frequency counter (capped at 3): objects are never moved on a read, which is
both why it is cheap and why a one-pass scan cannot flush a hot working set the way it
flushes LRU.

Threading: reads and writes come from one thread (the event loop or the simulator);
control operations (purge, set_ttl, prewarm puts) may come from another, so every
structural change takes a lock, while the read path stays lock-free (a read only bumps
counters, or, for LRU, makes one atomic `move_to_end`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from streamverse.clock import Clock

Policy = Literal["lru", "s3fifo"]
POLICIES: tuple[str, ...] = ("lru", "s3fifo")
SMALL_SHARE = 0.10  # S3-FIFO: share of the bytes given to the small (probationary) queue
MAX_FREQ = 3  # S3-FIFO: frequency counters are two bits
PROMOTE_AT = 1  # S3-FIFO: read at least once while in the small queue -> main queue


class CacheEntry:
    """One cached object: its bytes (or None in size-only runs), size and expiry."""

    __slots__ = ("key", "size", "value", "stored_at", "expires", "freq", "main")

    def __init__(self, key: str, size: int, value: bytes | None, stored_at: float, expires: float) -> None:
        self.key = key
        self.size = size
        self.value = value
        self.stored_at = stored_at
        self.expires = expires
        self.freq = 0
        self.main = False

    def __repr__(self) -> str:
        return f"CacheEntry({self.key!r}, size={self.size}, expires={self.expires})"


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made (or since `reset_stats`)."""

    hits: int = 0
    misses: int = 0
    hit_bytes: int = 0
    miss_bytes: int = 0
    inserts: int = 0
    evictions: int = 0
    expirations: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups (0 when nothing was asked yet)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def byte_hit_ratio(self) -> float:
        """Bytes served from cache over bytes asked for (misses counted when sized)."""
        total = self.hit_bytes + self.miss_bytes
        return self.hit_bytes / total if total else 0.0


class EdgeCache:
    """A byte-bounded cache of objects keyed by path, with TTLs and prefix purge."""

    def __init__(self, capacity_bytes: int, *, clock: Clock, policy: Policy = "s3fifo",
                 default_ttl_s: float = 86400.0) -> None:
        if capacity_bytes <= 0:
            raise ValueError(f"capacity_bytes must be positive, got {capacity_bytes}")
        if policy not in POLICIES:
            raise ValueError(f"unknown cache policy {policy!r}; choose one of {list(POLICIES)}")
        if default_ttl_s <= 0:
            raise ValueError(f"default_ttl_s must be positive, got {default_ttl_s}")
        self.capacity_bytes = int(capacity_bytes)
        self.policy = policy
        self.default_ttl_s = float(default_ttl_s)
        self._now = clock.now
        self._lock = threading.Lock()
        self._map: dict[str, CacheEntry] = {}
        self._used = 0
        # LRU keeps one ordered queue; S3-FIFO a small, a main and a ghost queue.
        self._small: OrderedDict[str, CacheEntry] = OrderedDict()
        self._main: OrderedDict[str, CacheEntry] = OrderedDict()
        self._ghost: OrderedDict[str, int] = OrderedDict()
        self._small_used = 0
        self._main_used = 0
        self._ghost_used = 0
        self._small_cap = max(1, int(self.capacity_bytes * SMALL_SHARE))
        self._ghost_cap = self.capacity_bytes - self._small_cap
        self._ttl_rules: dict[str, float] = {}
        self._lru = policy == "lru"
        self.reset_stats()

    # -- reads -------------------------------------------------------------------------------
    def get(self, key: str, size: int = 0) -> CacheEntry | None:
        """The fresh entry for `key`, or None (a miss; `size`, when known, counts miss bytes)."""
        e = self._map.get(key)
        if e is None:
            self._misses += 1
            self._miss_bytes += size
            return None
        if e.expires <= self._now():
            self._expire(e)
            self._misses += 1
            self._miss_bytes += e.size
            return None
        if self._lru:
            try:
                self._main.move_to_end(key)
            except KeyError:  # removed by a control operation in another thread just now
                pass
        elif e.freq < MAX_FREQ:
            e.freq += 1
        self._hits += 1
        self._hit_bytes += e.size
        return e

    def contains(self, key: str) -> bool:
        """Whether a fresh copy is held; touches neither stats nor recency."""
        e = self._map.get(key)
        return e is not None and e.expires > self._now()

    def peek(self, key: str) -> CacheEntry | None:
        """The entry if held and fresh, without counting or touching recency."""
        e = self._map.get(key)
        return e if e is not None and e.expires > self._now() else None

    # -- writes ------------------------------------------------------------------------------
    def put(self, key: str, size: int, value: bytes | None = None, ttl_s: float | None = None) -> bool:
        """Store an object (evicting as needed); False when it can never fit."""
        if size > self.capacity_bytes or size < 0:
            return False
        now = self._now()
        if ttl_s is None:
            ttl_s = self._rule_ttl(key) if self._ttl_rules else self.default_ttl_s
        with self._lock:
            old = self._map.get(key)
            to_main = False
            if old is not None:
                to_main = old.main
                self._unlink(old)
            elif not self._lru and key in self._ghost:
                self._ghost_used -= self._ghost.pop(key)
                to_main = True
            need = self._used + size - self.capacity_bytes
            if need > 0:
                self._evict(need)
            e = CacheEntry(key, size, value, now, now + ttl_s)
            self._map[key] = e
            self._used += size
            if self._lru or to_main:
                e.main = True
                self._main[key] = e
                self._main_used += size
            else:
                self._small[key] = e
                self._small_used += size
            self._inserts += 1
        return True

    def put_many(self, items: list[tuple[str, int]], ttl_s: float | None = None) -> int:
        """Store many size-only objects (prewarm); returns how many were stored."""
        put = self.put
        return sum(1 for key, size in items if put(key, size, None, ttl_s))

    def purge(self, prefix: str = "") -> int:
        """Drop every object whose key starts with `prefix` (all when empty); returns how many."""
        with self._lock:
            doomed = [e for k, e in list(self._map.items()) if k.startswith(prefix)]
            for e in doomed:
                self._unlink(e)
            if not prefix:
                self._ghost.clear()
                self._ghost_used = 0
        return len(doomed)

    def set_ttl(self, prefix: str, ttl_s: float) -> int:
        """A TTL for keys under `prefix`: new puts use it, held entries are re-dated from their store time.

        Returns how many held entries it changed.
        """
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be >= 0, got {ttl_s}")
        with self._lock:
            self._ttl_rules[prefix] = float(ttl_s)
            # Longest prefix wins, so a rule for "videos/42/" beats one for "videos/".
            self._ttl_rules = dict(sorted(self._ttl_rules.items(), key=lambda kv: -len(kv[0])))
            changed = 0
            for k, e in list(self._map.items()):
                if k.startswith(prefix) and self._rule_ttl(k) == ttl_s:
                    e.expires = e.stored_at + ttl_s
                    changed += 1
        return changed

    def ttl_for(self, key: str) -> float:
        """The TTL a new put of `key` would get."""
        return self._rule_ttl(key) if self._ttl_rules else self.default_ttl_s

    @property
    def ttl_rules(self) -> dict[str, float]:
        """Prefix -> TTL rules in force (longest prefix first)."""
        return dict(self._ttl_rules)

    def clear(self) -> None:
        """Drop everything (objects and ghost history); stats and TTL rules stay."""
        with self._lock:
            self._map.clear()
            self._small.clear()
            self._main.clear()
            self._ghost.clear()
            self._used = self._small_used = self._main_used = self._ghost_used = 0

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._hits = self._misses = self._hit_bytes = self._miss_bytes = 0
        self._inserts = self._evictions = self._expirations = 0

    # -- introspection -----------------------------------------------------------------------
    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        return CacheStats(self._hits, self._misses, self._hit_bytes, self._miss_bytes,
                          self._inserts, self._evictions, self._expirations)

    @property
    def used_bytes(self) -> int:
        """Bytes held now."""
        return self._used

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.contains(key)

    def keys(self) -> list[str]:
        """Keys held (fresh or not), for status pages and tests."""
        return list(self._map)

    # -- internals ---------------------------------------------------------------------------
    def _rule_ttl(self, key: str) -> float:
        for prefix, ttl in self._ttl_rules.items():
            if key.startswith(prefix):
                return ttl
        return self.default_ttl_s

    def _unlink(self, e: CacheEntry) -> None:
        """Remove an entry from the map and its queue (no ghost record)."""
        if self._map.pop(e.key, None) is None:
            return
        self._used -= e.size
        if e.main:
            if self._main.pop(e.key, None) is not None:
                self._main_used -= e.size
        elif self._small.pop(e.key, None) is not None:
            self._small_used -= e.size

    def _expire(self, e: CacheEntry) -> None:
        with self._lock:
            if self._map.get(e.key) is e:
                self._unlink(e)
                self._expirations += 1

    def _evict(self, need: int) -> None:
        """Free at least `need` bytes."""
        if self._lru:
            main = self._main
            while need > 0 and main:
                _, e = main.popitem(last=False)
                del self._map[e.key]
                self._used -= e.size
                self._main_used -= e.size
                need -= e.size
                self._evictions += 1
            return
        while need > 0 and (self._small or self._main):
            if self._small and (self._small_used >= self._small_cap or not self._main):
                need -= self._evict_small()
            else:
                need -= self._evict_main()

    def _evict_small(self) -> int:
        """Pop the small queue's head: promote it if it was read, else remember it as a ghost."""
        _, e = self._small.popitem(last=False)
        self._small_used -= e.size
        if e.freq >= PROMOTE_AT:
            e.freq = 0
            e.main = True
            self._main[e.key] = e
            self._main_used += e.size
            return 0
        del self._map[e.key]
        self._used -= e.size
        self._evictions += 1
        if e.size <= self._ghost_cap:
            self._ghost[e.key] = e.size
            self._ghost_used += e.size
            while self._ghost_used > self._ghost_cap:
                self._ghost_used -= self._ghost.popitem(last=False)[1]
        return e.size

    def _evict_main(self) -> int:
        """Pop the main queue's head: read objects get another lap with one less credit."""
        main = self._main
        while True:
            key, e = main.popitem(last=False)
            if e.freq > 0:
                e.freq -= 1
                main[key] = e
                continue
            del self._map[key]
            self._used -= e.size
            self._main_used -= e.size
            self._evictions += 1
            return e.size
