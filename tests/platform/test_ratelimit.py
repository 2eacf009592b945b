"""GCRA limits in process (virtual clock) and in a real Redis, plus the Redis-down policies."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streamverse.clock import RealClock, VirtualClock
from streamverse.platform.metrics import PlatformMetrics
from streamverse.platform.ratelimit import (
    Limit,
    LimitTable,
    MemoryRateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)
from streamverse.settings import Settings
from tests.conftest import free_port


def run(coro):
    return asyncio.run(coro)


def backend_errors(metrics: PlatformMetrics, policy: str) -> float:
    return metrics.registry.get_sample_value(
        "streamverse_ratelimit_backend_errors_total", {"policy": policy}) or 0.0


# ---- LimitTable -------------------------------------------------------------------------------

def test_limit_table_override_and_clear():
    table = LimitTable({"user": Limit(5, 10)})
    assert table.get("user", "42") == Limit(5, 10)
    table.set("user:42", Limit(1, 2))
    assert table.get("user", "42") == Limit(1, 2)
    assert table.get("user", "7") == Limit(5, 10)
    assert table.snapshot()["user:42"] == {"rate_per_s": 1, "burst": 2}
    table.clear("user:42")
    assert table.get("user", "42") == Limit(5, 10)
    with pytest.raises(KeyError):
        table.get("tenant", "x")
    with pytest.raises(ValueError):
        Limit(0, 1)


# ---- in process -------------------------------------------------------------------------------

def test_memory_burst_then_refused_with_exact_retry_after():
    clock = VirtualClock(1000.0)
    limiter = MemoryRateLimiter(clock=clock, limits=LimitTable({"user": Limit(2, 5)}))

    async def go():
        results = [await limiter.check("user", "a") for _ in range(6)]
        assert [r.allowed for r in results] == [True] * 5 + [False]
        assert [r.remaining for r in results[:5]] == [4, 3, 2, 1, 0]
        refused = results[-1]
        assert refused.scope == "user"
        assert refused.retry_after_s == pytest.approx(0.5)
        # Another key is untouched.
        assert (await limiter.check("user", "b")).allowed
        # Just before Retry-After: still refused; at it: allowed.
        clock.advance(0.49)
        assert not (await limiter.check("user", "a")).allowed
        clock.advance(0.01)
        assert (await limiter.check("user", "a")).allowed
        # A long pause refills the whole burst, never more.
        clock.advance(60)
        allowed = 0
        while (await limiter.check("user", "a")).allowed:
            allowed += 1
        assert allowed == 5

    run(go())


def test_memory_check_all_charges_nothing_when_one_refuses():
    clock = VirtualClock(0.0)
    table = LimitTable({"ip": Limit(1, 3), "user": Limit(1, 1)})
    limiter = MemoryRateLimiter(clock=clock, limits=table)

    async def go():
        first = await limiter.check_all([("ip", "1.1.1.1"), ("user", "u")])
        assert first.allowed
        second = await limiter.check_all([("ip", "1.1.1.1"), ("user", "u")])
        assert not second.allowed and second.scope == "user"
        # The refused call did not spend the IP's allowance: 2 of 3 left.
        assert (await limiter.check("ip", "1.1.1.1")).remaining == 1

    run(go())


def test_memory_limit_change_at_run_time_takes_effect():
    clock = VirtualClock(0.0)
    table = LimitTable({"ip": Limit(1, 2)})
    limiter = MemoryRateLimiter(clock=clock, limits=table)

    async def go():
        assert [(await limiter.check("ip", "x")).allowed for _ in range(3)] == [True, True, False]
        table.set("ip:x", Limit(100, 50))
        # Loosened: the old limit's debt does not hold the key back; the new limit applies at once.
        assert all([(await limiter.check("ip", "x")).allowed for _ in range(40)])
        table.set("ip", Limit(1, 1))  # new default, other keys feel it at once
        assert [(await limiter.check("ip", "y")).allowed for _ in range(2)] == [True, False]

    run(go())


def test_memory_sweeps_idle_keys():
    clock = VirtualClock(0.0)
    limiter = MemoryRateLimiter(clock=clock, limits=LimitTable(), max_keys=100)

    async def go():
        for i in range(100):
            await limiter.check("ip", str(i))
        clock.advance(3600)
        await limiter.check("ip", "new")
        await limiter.check("ip", "new2")
        assert len(limiter._tat) <= 2

    run(go())


# ---- Redis ------------------------------------------------------------------------------------

def test_redis_burst_retry_after_and_refill(redis_url):
    metrics = PlatformMetrics()
    table = LimitTable({"user": Limit(20, 4)})

    async def go():
        limiter = RedisRateLimiter(url=redis_url, clock=RealClock(), limits=table, metrics=metrics)
        try:
            results = [await limiter.check("user", "r1") for _ in range(5)]
            assert [r.allowed for r in results] == [True] * 4 + [False]
            assert results[-1].scope == "user"
            assert 0.0 < results[-1].retry_after_s <= 0.05 + 1e-3
            await asyncio.sleep(results[-1].retry_after_s + 0.01)
            assert (await limiter.check("user", "r1")).allowed
            # Keys carry the prefix and expire on their own.
            ttl = await limiter.redis.pttl(limiter.storage_key("user", "r1"))
            assert 0 < ttl <= 2000
        finally:
            await limiter.aclose()

    run(go())
    assert backend_errors(metrics, "open") == 0


def test_redis_atomic_multi_key_and_runtime_change(redis_url):
    table = LimitTable({"ip": Limit(1, 3), "user": Limit(1, 1)})

    async def go():
        limiter = RedisRateLimiter(url=redis_url, clock=RealClock(), limits=table, metrics=PlatformMetrics())
        try:
            assert (await limiter.check_all([("ip", "9.9.9.9"), ("user", "u")])).allowed
            refused = await limiter.check_all([("ip", "9.9.9.9"), ("user", "u")])
            assert not refused.allowed and refused.scope == "user"
            assert 0.9 < refused.retry_after_s <= 1.0
            assert (await limiter.check("ip", "9.9.9.9")).remaining == 1
            table.set("user:u", Limit(1000, 100))
            assert (await limiter.check_all([("user", "u")])).allowed
        finally:
            await limiter.aclose()

    run(go())


def test_redis_survives_script_flush_and_pipelines(redis_url):
    table = LimitTable({"user": Limit(1, 3)})

    async def go():
        limiter = RedisRateLimiter(url=redis_url, clock=RealClock(), limits=table, metrics=PlatformMetrics())
        try:
            assert (await limiter.check("user", "a")).allowed
            await limiter.redis.script_flush()
            assert (await limiter.check("user", "a")).allowed  # reloaded after NOSCRIPT
            await limiter.redis.script_flush()
            batch = await limiter.check_many([("user", "b")] * 5 + [("user", "c")])
            assert [d.allowed for d in batch] == [True, True, True, False, False, True]
        finally:
            await limiter.aclose()

    run(go())


def test_redis_down_fails_open_counted_and_logged_once(caplog):
    metrics = PlatformMetrics()
    clock = VirtualClock(100.0)
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def go():
        limiter = RedisRateLimiter(url=url, clock=clock, limits=LimitTable(), metrics=metrics)
        with caplog.at_level(logging.WARNING, logger="streamverse.ratelimit"):
            decisions = [await limiter.check("ip", "1.2.3.4") for _ in range(20)]
        await limiter.aclose()
        return decisions

    decisions = run(go())
    assert all(d.allowed for d in decisions)
    assert backend_errors(metrics, "open") == 20
    warnings = [r for r in caplog.records if r.name == "streamverse.ratelimit"]
    assert len(warnings) == 1 and "failing open" in warnings[0].getMessage()


def test_redis_down_fail_closed_refuses():
    metrics = PlatformMetrics()
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", ratelimit_fail_open=False)
    limiter = make_rate_limiter(settings, clock=VirtualClock(0.0), limits=LimitTable(), metrics=metrics)
    assert isinstance(limiter, RedisRateLimiter)

    async def go():
        try:
            return await limiter.check("user", "1"), await limiter.check_many([("ip", "a"), ("ip", "b")])
        finally:
            await limiter.aclose()

    one, many = run(go())
    assert not one.allowed and one.retry_after_s >= 1 and one.scope == "backend"
    assert not any(d.allowed for d in many)
    assert backend_errors(metrics, "closed") == 3
    assert backend_errors(metrics, "open") == 0


def test_redis_recovers_after_backoff(redis_url):
    clock = VirtualClock(0.0)

    async def go():
        limiter = RedisRateLimiter(url=redis_url, clock=clock, limits=LimitTable(), metrics=PlatformMetrics(),
                                   fail_open=False, backoff_s=1.0)
        try:
            limiter._down_until = 0.5  # as if a failure had just happened
            assert not (await limiter.check("ip", "z")).allowed
            clock.advance(1.0)
            assert (await limiter.check("ip", "z")).allowed
        finally:
            await limiter.aclose()

    run(go())


def test_factory_picks_memory_without_redis_url():
    limiter = make_rate_limiter(Settings(), clock=VirtualClock(0.0), limits=LimitTable(),
                                metrics=PlatformMetrics())
    assert isinstance(limiter, MemoryRateLimiter)


# ---- Pseudonymous keys (privacy) --------------------------------------------------------------

def test_redis_keys_never_carry_raw_user_ids_or_ips(redis_url):
    """Erasure cannot reach rate-limit state, so the state must not name the user in the first place."""
    import redis as sync_redis

    table = LimitTable({"user": Limit(100, 100), "ip": Limit(100, 100)})
    table.set("user:4242", Limit(1, 1))  # overrides are still found by the raw id

    async def go():
        limiter = RedisRateLimiter(url=redis_url, clock=RealClock(), limits=table, metrics=PlatformMetrics(),
                                   key_secret=b"secret-a")
        other = RedisRateLimiter(url=redis_url, clock=RealClock(), limits=table, metrics=PlatformMetrics(),
                                 key_secret=b"secret-b")
        try:
            assert (await limiter.check_all([("user", "4242"), ("ip", "203.0.113.77")])).allowed
            refused = await limiter.check_all([("user", "4242"), ("ip", "203.0.113.77")])
            assert not refused.allowed and refused.scope == "user"  # the 1/s override applied
            assert (await limiter.check("user", "777001")).allowed
            assert limiter.storage_key("user", "4242") != other.storage_key("user", "4242")  # keyed
            return limiter.storage_key("user", "4242")
        finally:
            await limiter.aclose()
            await other.aclose()

    stored = run(go())
    keys = [k.decode() for k in sync_redis.Redis.from_url(redis_url).keys("*")]
    assert stored in keys and len(keys) == 3
    for key in keys:
        assert key.startswith("sv:rl:")
        assert "4242" not in key and "777001" not in key and "203.0.113" not in key


def test_memory_limiter_holds_no_raw_ids_and_keeps_overrides():
    clock = VirtualClock(0.0)
    table = LimitTable({"user": Limit(100, 100)})
    table.set("user:31337", Limit(1, 1))
    limiter = MemoryRateLimiter(clock=clock, limits=table, key_secret=b"k")

    async def go():
        assert [(await limiter.check("user", "31337")).allowed for _ in range(2)] == [True, False]
        assert (await limiter.check("user", "5")).allowed

    run(go())
    assert len(limiter._tat) == 2 and not any("31337" in k or k.endswith(":5") for k in limiter._tat)
