"""EdgeCache: byte bound, TTLs, purge, set_ttl, and the eviction policies' real difference."""

from __future__ import annotations

import random

import pytest

from streamverse.clock import VirtualClock
from streamverse.platform.edge_cache import EdgeCache

POLICIES = ["lru", "s3fifo"]


@pytest.mark.parametrize("policy", POLICIES)
def test_byte_bound_is_never_exceeded(policy: str) -> None:
    cache = EdgeCache(10_000, clock=VirtualClock(), policy=policy)
    rng = random.Random(3)
    for _ in range(5000):
        key = f"videos/{rng.randrange(300)}/seg"
        if cache.get(key) is None:
            assert cache.put(key, rng.randrange(1, 2500))
        assert cache.used_bytes <= cache.capacity_bytes
    held = sum(cache.peek(k).size for k in cache.keys())  # type: ignore[union-attr]
    assert held == cache.used_bytes
    st = cache.stats
    assert st.hits + st.misses == 5000
    assert st.evictions > 0 and st.inserts == st.misses


@pytest.mark.parametrize("policy", POLICIES)
def test_values_round_trip_and_stats_count_bytes(policy: str) -> None:
    cache = EdgeCache(1000, clock=VirtualClock(), policy=policy)
    assert cache.get("a", 10) is None
    cache.put("a", 10, b"0123456789")
    entry = cache.get("a")
    assert entry is not None and entry.value == b"0123456789"
    st = cache.stats
    assert (st.hits, st.misses, st.hit_bytes, st.miss_bytes) == (1, 1, 10, 10)
    assert cache.contains("a") and cache.stats.hits == 1  # contains does not count


@pytest.mark.parametrize("policy", POLICIES)
def test_ttl_expiry_follows_the_injected_clock(policy: str) -> None:
    clock = VirtualClock(1000.0)
    cache = EdgeCache(1000, clock=clock, policy=policy, default_ttl_s=60)
    cache.put("short", 10, ttl_s=10)
    cache.put("default", 10)
    clock.advance(9)
    assert cache.get("short") is not None
    clock.advance(2)
    assert cache.get("short") is None
    assert cache.stats.expirations == 1 and len(cache) == 1 and cache.used_bytes == 10
    assert cache.get("default") is not None
    clock.advance(50)
    assert not cache.contains("default") and cache.get("default") is None


@pytest.mark.parametrize("policy", POLICIES)
def test_purge_by_prefix(policy: str) -> None:
    cache = EdgeCache(10_000, clock=VirtualClock(), policy=policy)
    for v in (1, 2, 12):
        for s in range(3):
            cache.put(f"videos/{v}/720p/seg_{s}", 100)
    assert cache.purge("videos/1/") == 3
    assert not cache.contains("videos/1/720p/seg_0") and cache.contains("videos/12/720p/seg_0")
    assert cache.used_bytes == 600
    assert cache.purge() == 6 and cache.used_bytes == 0 and len(cache) == 0


@pytest.mark.parametrize("policy", POLICIES)
def test_set_ttl_applies_to_held_and_new_entries_longest_prefix_wins(policy: str) -> None:
    clock = VirtualClock(0.0)
    cache = EdgeCache(10_000, clock=clock, policy=policy, default_ttl_s=3600)
    cache.put("videos/1/master.m3u8", 10)
    cache.put("videos/2/master.m3u8", 10)
    clock.advance(30)
    assert cache.set_ttl("videos/1/", 20) == 1  # stored 30 s ago with a 20 s TTL: now stale
    assert cache.get("videos/1/master.m3u8") is None
    assert cache.get("videos/2/master.m3u8") is not None
    cache.set_ttl("videos/", 100)
    cache.put("videos/1/a", 10)
    cache.put("videos/3/a", 10)
    assert cache.ttl_for("videos/1/a") == 20 and cache.ttl_for("videos/3/a") == 100
    clock.advance(25)
    assert cache.get("videos/1/a") is None and cache.get("videos/3/a") is not None
    with pytest.raises(ValueError):
        cache.set_ttl("x", -1)


@pytest.mark.parametrize("policy", POLICIES)
def test_oversize_objects_are_refused(policy: str) -> None:
    cache = EdgeCache(1000, clock=VirtualClock(), policy=policy)
    cache.put("small", 400)
    assert cache.put("huge", 1001) is False
    assert not cache.contains("huge") and cache.contains("small")
    assert cache.put("exact", 1000) is True and cache.used_bytes == 1000


@pytest.mark.parametrize("policy", POLICIES)
def test_replacing_a_key_keeps_accounting_exact(policy: str) -> None:
    cache = EdgeCache(1000, clock=VirtualClock(), policy=policy)
    cache.put("a", 300)
    cache.put("a", 500)
    assert cache.used_bytes == 500 and len(cache) == 1


def _hot_hits_after_scan(policy: str) -> int:
    """A hot set of 20 objects read repeatedly, then a one-pass scan of 500 cold objects."""
    cache = EdgeCache(100, clock=VirtualClock(), policy=policy)
    hot = [f"hot/{i}" for i in range(20)]
    for k in hot:
        cache.put(k, 1)
    for _ in range(3):
        for k in hot:
            assert cache.get(k) is not None
    for i in range(500):
        key = f"scan/{i}"
        if cache.get(key) is None:
            cache.put(key, 1)
    return sum(cache.contains(k) for k in hot)


def test_s3fifo_keeps_the_hot_set_through_a_scan_where_lru_loses_it() -> None:
    assert _hot_hits_after_scan("lru") == 0
    assert _hot_hits_after_scan("s3fifo") == 20


def test_s3fifo_ghost_hit_goes_straight_to_main() -> None:
    cache = EdgeCache(100, clock=VirtualClock(), policy="s3fifo")
    for i in range(150):  # "k0" is evicted from the small queue unread: remembered as a ghost
        cache.put(f"k{i}", 1)
    assert not cache.contains("k0")
    cache.put("k0", 1)  # back within the ghost's memory: admitted to main, not to probation
    for i in range(150, 400):  # another one-pass scan churns the small queue, not main
        cache.put(f"k{i}", 1)
    assert cache.contains("k0")
    lru = EdgeCache(100, clock=VirtualClock(), policy="lru")
    for i in range(400):
        lru.put(f"k{i}", 1)
    assert not lru.contains("k0")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        EdgeCache(0, clock=VirtualClock())
    with pytest.raises(ValueError):
        EdgeCache(10, clock=VirtualClock(), policy="fifo")  # type: ignore[arg-type]
