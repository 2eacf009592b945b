"""Gateway rate limits: GCRA per key, in process or in Redis with one atomic Lua script.

GCRA (the generic cell rate algorithm) keeps one number per key, the theoretical arrival
time (TAT), so a decision is one read and one write, and it gives an exact Retry-After.
The Redis variant takes the time from Redis `TIME`, so every gateway replica agrees on
"now" whatever their own clocks say, and checks several keys (per IP and per user) in one
round trip, charging none of them unless all allow.

Stored keys never carry the raw identifier (a user id, an IP): the key part is a keyed
BLAKE2b pseudonym (`sv:rl:user:{hex}`), so Redis and the in-process dict hold nothing an
erasure request would have to find, and without the secret the pseudonym cannot be
reversed by enumerating ids. Limit overrides are still looked up by the raw `user:42` form.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from streamverse.clock import Clock
from streamverse.platform.metrics import PlatformMetrics
from streamverse.settings import Settings

log = logging.getLogger("streamverse.ratelimit")

DEFAULT_LIMITS = {"user": (20.0, 40), "ip": (50.0, 100)}
KEY_PREFIX = "sv:rl:"
_DEFAULT_KEY_SECRET = b"streamverse-ratelimit-keys-v1"  # only when no secret is configured


class KeyHasher:
    """`scope:pseudonym` for a (scope, raw key): keyed BLAKE2b, memoised (the hot path pays a dict hit)."""

    def __init__(self, secret: bytes | None = None, *, max_cached: int = 100_000) -> None:
        material = secret or _DEFAULT_KEY_SECRET
        self._key = hashlib.blake2b(material, digest_size=32, person=b"sv-rl-key").digest()
        self._cache: dict[tuple[str, str], str] = {}
        self._max = max_cached

    def __call__(self, scope: str, key: str) -> str:
        """The stored name of one limit's key (without the Redis prefix)."""
        found = self._cache.get((scope, key))
        if found is None:
            digest = hashlib.blake2b(key.encode(), key=self._key, digest_size=12).hexdigest()
            found = f"{scope}:{digest}"
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[(scope, key)] = found
        return found


@dataclass(frozen=True, slots=True)
class Limit:
    """A sustained rate and how many requests may arrive at once."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError(f"a limit needs rate_per_s > 0 and burst >= 1, got {self}")

    @property
    def interval_s(self) -> float:
        """Seconds one request's worth of allowance takes to come back."""
        return 1.0 / self.rate_per_s


@dataclass(slots=True)
class Decision:
    """The answer for one request; `scope` names the limit that refused it."""

    allowed: bool
    retry_after_s: float
    remaining: int
    scope: str = ""


class LimitTable:
    """Per-scope defaults plus per-key overrides, changeable while the gateway runs.

    Writers swap in a new dict under a lock, so the hot-path read takes no lock.
    """

    def __init__(self, defaults: dict[str, Limit] | None = None) -> None:
        base = {scope: Limit(rate, burst) for scope, (rate, burst) in DEFAULT_LIMITS.items()}
        base.update(defaults or {})
        self._limits: dict[str, Limit] = base
        self._lock = threading.Lock()

    def get(self, scope: str, key: str) -> Limit:
        """The override for `scope:key` if there is one, else the scope's default."""
        limits = self._limits
        found = limits.get(f"{scope}:{key}")
        if found is not None:
            return found
        try:
            return limits[scope]
        except KeyError:
            raise KeyError(f"no rate limit configured for scope {scope!r}") from None

    def set(self, scope_or_key: str, limit: Limit) -> None:
        """Set a scope default ("user") or an override for one key ("ip:10.0.0.1")."""
        with self._lock:
            self._limits = {**self._limits, scope_or_key: limit}

    def clear(self, key: str) -> None:
        """Drop a per-key override so the scope default applies again."""
        if ":" not in key:
            raise ValueError("scope defaults cannot be removed, only overridden")
        with self._lock:
            self._limits = {k: v for k, v in self._limits.items() if k != key}

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Every configured limit, for the control API and logs."""
        return {k: {"rate_per_s": v.rate_per_s, "burst": v.burst} for k, v in self._limits.items()}


class RateLimiter(Protocol):
    """What the gateway needs from a limiter, in process or in Redis."""

    async def check(self, scope: str, key: str, cost: int = 1) -> Decision:
        """Charge `cost` against one key."""
        ...

    async def check_all(self, items: Sequence[tuple[str, str]], cost: int = 1) -> Decision:
        """Charge every (scope, key) atomically, or none of them if any refuses."""
        ...

    async def check_many(self, items: Sequence[tuple[str, str]], cost: int = 1) -> list[Decision]:
        """Independent decisions for many keys in one batch (benchmarks, bulk clients)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _gcra(tat: float, now: float, limit: Limit, cost: int) -> tuple[bool, float, int, float]:
    """(allowed, retry_after_s, remaining, tat to store) for one key; pure."""
    interval = limit.interval_s
    tolerance = interval * limit.burst
    tat = max(tat, now)
    if tat > now + tolerance:
        # Only possible after a limit change (steady state keeps tat <= now + tolerance): debt run up
        # under the old limit is dropped, so the new limit applies at once with its full burst.
        tat = now
    new_tat = tat + interval * cost
    allow_at = new_tat - tolerance
    if now < allow_at:
        return False, allow_at - now, max(0, int((now - (tat - tolerance)) / interval)), tat
    return True, 0.0, int((now - allow_at) / interval), new_tat


class MemoryRateLimiter:
    """The embedded default: GCRA in a dict, time from the injected clock."""

    def __init__(self, *, clock: Clock, limits: LimitTable, max_keys: int = 200_000,
                 key_secret: bytes | None = None) -> None:
        self._clock = clock
        self._limits = limits
        self.stored_name = KeyHasher(key_secret)
        self._tat: dict[str, float] = {}
        self._max_keys = max_keys

    def _decide(self, items: Sequence[tuple[str, str]], cost: int, now: float) -> Decision:
        tats = self._tat
        pending: list[tuple[str, float]] = []
        remaining = None
        for scope, key in items:
            name = self.stored_name(scope, key)
            ok, retry, left, new_tat = _gcra(tats.get(name, 0.0), now, self._limits.get(scope, key), cost)
            if not ok:
                return Decision(False, retry, left, scope)
            pending.append((name, new_tat))
            remaining = left if remaining is None else min(remaining, left)
        for name, new_tat in pending:
            tats[name] = new_tat
        if len(tats) > self._max_keys:
            self._sweep(now)
        return Decision(True, 0.0, remaining or 0)

    def _sweep(self, now: float) -> None:
        # A TAT in the past means a full bucket: the same as no entry at all.
        self._tat = {k: v for k, v in self._tat.items() if v > now}

    async def check(self, scope: str, key: str, cost: int = 1) -> Decision:
        """Charge `cost` against one key."""
        return self._decide(((scope, key),), cost, self._clock.now())

    def tracking(self, scope: str, key: str) -> bool:
        """Whether this client has spent any of its allowance lately (its bucket is not full)."""
        return self._tat.get(self.stored_name(scope, key), 0.0) > self._clock.now()

    async def check_all(self, items: Sequence[tuple[str, str]], cost: int = 1) -> Decision:
        """Charge every (scope, key) atomically, or none of them if any refuses."""
        return self._decide(items, cost, self._clock.now())

    async def check_many(self, items: Sequence[tuple[str, str]], cost: int = 1) -> list[Decision]:
        """Independent decisions for many keys."""
        now = self._clock.now()
        return [self._decide((item,), cost, now) for item in items]

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS: one per limit (at most 63). ARGV: cost, then (interval_us, tolerance_us) per key.
# One integer reply keeps client-side parsing cheap: >= 0 means allowed with that many left;
# < 0 means refused, -(retry_after_us * 64 + index of the refusing key).
# Times are integer microseconds: exact in Lua doubles up to 2^53 (year 2255).
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local n = #KEYS
local new_tats = {}
local remaining = nil
for i = 1, n do
  local interval = tonumber(ARGV[i * 2])
  local tolerance = tonumber(ARGV[i * 2 + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  if tat > now + tolerance then
    -- only after a limit change: the old limit's debt is dropped, the new burst applies at once
    tat = now
  end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - tolerance
  if now < allow_at then
    return -(math.ceil(allow_at - now) * 64 + i)
  end
  new_tats[i] = new_tat
  local left = math.floor((now - allow_at) / interval)
  if remaining == nil or left < remaining then remaining = left end
end
for i = 1, n do
  local ttl = math.ceil((new_tats[i] - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%d', new_tats[i]), 'PX', ttl)
end
return remaining
"""
MAX_KEYS_PER_CALL = 63


def _pack(args: Sequence[bytes], *, header: bool = True) -> bytes:
    """RESP encoding of a command (or, without header, of some of its arguments)."""
    parts = [b"*%d\r\n" % len(args)] if header else []
    parts += [b"$%d\r\n%s\r\n" % (len(a), a) for a in args]
    return b"".join(parts)


class RedisRateLimiter:
    """GCRA shared by every gateway replica through Redis; degrades by policy when it is down.

    Concurrent calls are coalesced: every decision requested in the same event-loop turn
    goes to Redis in one pipeline, so under load the gateway pays one round trip and one
    connection checkout per batch rather than per request, and a quiet gateway pays
    nothing extra.
    """

    def __init__(self, *, url: str, clock: Clock, limits: LimitTable, metrics: PlatformMetrics,
                 fail_open: bool = True, prefix: str = KEY_PREFIX, timeout_s: float = 0.25,
                 backoff_s: float = 1.0, log_every_s: float = 10.0, key_secret: bytes | None = None) -> None:
        import redis.asyncio as aredis

        # No socket_timeout: the deadline is one asyncio.timeout per batch (cheaper than
        # redis-py's per-read wait_for); a cancelled read makes redis-py drop the connection.
        self._redis = aredis.Redis.from_url(url, socket_connect_timeout=timeout_s)
        self._timeout_s = timeout_s
        self._clock = clock
        self._limits = limits
        self._prefix = prefix
        self._hasher = KeyHasher(key_secret)
        self._fail_open = fail_open
        self._policy = "open" if fail_open else "closed"
        self._errors = metrics.ratelimit_backend_errors.labels(policy=self._policy)
        self._sha = hashlib.sha1(GCRA_LUA.encode()).hexdigest().encode()
        # EVALSHA sha 1 key cost interval tolerance: 7 parts, the first three fixed.
        self._head1 = b"*7\r\n" + _pack([b"EVALSHA", self._sha, b"1"], header=False)
        self._tails: dict[tuple[Limit, int], bytes] = {}
        self._backoff_s = backoff_s
        self._down_until = 0.0
        self._log_every_s = log_every_s
        self._last_log = -math.inf
        self._suppressed = 0
        self._pending: list[tuple[bytes, asyncio.Future[object]]] = []
        self._flush_scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()

    @property
    def redis(self):  # noqa: ANN201 - redis.asyncio.Redis, kept untyped to import it lazily
        """The underlying client (tests and benchmarks clean up keys through it)."""
        return self._redis

    def storage_key(self, scope: str, key: str) -> str:
        """The Redis key holding one limit's state (a pseudonym, never the raw id)."""
        return self._prefix + self._hasher(scope, key)

    def _command(self, items: Sequence[tuple[str, str]], cost: int) -> bytes:
        """One EVALSHA call, already in the Redis wire format.

        Packing it here from cached pieces (the script id and each limit's arguments are
        constant) skips redis-py's generic encoder, the largest client-side cost of a batch.
        """
        n = len(items)
        if n == 1:
            scope, key = items[0]
            name = (self._prefix + self._hasher(scope, key)).encode()
            return b"%s$%d\r\n%s\r\n%s" % (self._head1, len(name), name,
                                               self._tail(self._limits.get(scope, key), cost))
        if n > MAX_KEYS_PER_CALL or n == 0:
            raise ValueError(f"an atomic check takes 1 to {MAX_KEYS_PER_CALL} limits, got {n}")
        args: list[bytes] = [b"EVALSHA", self._sha, str(n).encode()]
        args += [(self._prefix + self._hasher(scope, key)).encode() for scope, key in items]
        args.append(str(cost).encode())
        for scope, key in items:
            interval_us = 1_000_000.0 / (limit := self._limits.get(scope, key)).rate_per_s
            args += [str(int(interval_us)).encode(), str(int(interval_us * limit.burst)).encode()]
        return _pack(args)

    def _tail(self, limit: Limit, cost: int) -> bytes:
        """The packed (cost, interval_us, tolerance_us) arguments, cached per limit and cost."""
        found = self._tails.get((limit, cost))
        if found is None:
            interval_us = 1_000_000.0 / limit.rate_per_s
            found = _pack([str(cost).encode(), str(int(interval_us)).encode(),
                           str(int(interval_us * limit.burst)).encode()], header=False)
            if len(self._tails) > 10_000:  # limits come from config: a handful, normally
                self._tails.clear()
            self._tails[(limit, cost)] = found
        return found

    @staticmethod
    def _decision(reply: int, items: Sequence[tuple[str, str]]) -> Decision:
        if reply >= 0:
            return Decision(True, 0.0, reply)
        retry_us, index = divmod(-reply, 64)
        return Decision(False, retry_us / 1_000_000, 0, items[index - 1][0])

    def _degraded(self, exc: BaseException | None) -> Decision:
        """The policy's answer while Redis is unreachable; counted, logged at a bounded rate."""
        self._errors.inc()
        now = self._clock.now()
        if exc is not None:
            self._down_until = now + self._backoff_s
        if now - self._last_log >= self._log_every_s:
            log.warning("rate-limit backend unreachable, failing %s", self._policy,
                        extra={"error": repr(exc) if exc else "backing off",
                               "suppressed": self._suppressed, "policy": self._policy})
            self._last_log = now
            self._suppressed = 0
        else:
            self._suppressed += 1
        if self._fail_open:
            return Decision(True, 0.0, 0)
        return Decision(False, max(1.0, self._backoff_s), 0, "backend")

    async def _run(self, commands: Sequence[bytes]) -> list[object]:
        """Send packed commands in one write; replies or exceptions in order (NOSCRIPT healed)."""
        from redis.exceptions import NoScriptError

        async with asyncio.timeout(self._timeout_s):
            replies = await self._send(commands)
            missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if missing:  # Redis restarted or SCRIPT FLUSH: load once, resend what did not run
                await self._redis.script_load(GCRA_LUA)
                again = await self._send([commands[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        return replies

    async def _send(self, commands: Sequence[bytes]) -> list[object]:
        from redis.exceptions import ResponseError

        pool = self._redis.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(b"".join(commands), check_health=False)
            replies: list[object] = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # one script error must not fail the whole batch
                    replies.append(exc)
        except BaseException:
            await conn.disconnect()  # half-read replies would poison the next user
            raise
        finally:
            await pool.release(conn)
        return replies

    def _submit(self, command: bytes) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._pending.append((command, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._start_flush)
        return future

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._flush(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[bytes, asyncio.Future[object]]]) -> None:
        try:
            replies = await self._run([command for command, _ in batch])
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, who applies the policy
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if not future.done():
                future.set_result(reply)

    async def check(self, scope: str, key: str, cost: int = 1) -> Decision:
        """Charge `cost` against one key."""
        return await self.check_all(((scope, key),), cost)

    async def check_all(self, items: Sequence[tuple[str, str]], cost: int = 1) -> Decision:
        """Charge every (scope, key) atomically in one script call, or none if any refuses."""
        if self._down_until and self._clock.now() < self._down_until:
            return self._degraded(None)
        try:
            reply = await self._submit(self._command(items, cost))
        except (ValueError, KeyError):
            raise
        except Exception as exc:  # RedisError, OSError, TimeoutError: all mean "backend unusable"
            return self._degraded(exc)
        if isinstance(reply, Exception):
            return self._degraded(reply)
        self._down_until = 0.0
        return self._decision(reply, items)  # type: ignore[arg-type]

    async def check_many(self, items: Sequence[tuple[str, str]], cost: int = 1) -> list[Decision]:
        """Independent decisions for many keys, pipelined into one round trip."""
        if self._down_until and self._clock.now() < self._down_until:
            return [self._degraded(None) for _ in items]
        try:
            replies = await self._run([self._command((item,), cost) for item in items])
        except Exception as exc:  # noqa: BLE001 - see check_all
            return [self._degraded(exc) for _ in items]
        self._down_until = 0.0
        return [self._degraded(reply) if isinstance(reply, Exception) else self._decision(reply, (item,))
                for item, reply in zip(items, replies, strict=True)]

    async def aclose(self) -> None:
        """Wait for in-flight batches, then close the connection pool."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        await self._redis.aclose()


def make_rate_limiter(settings: Settings, *, clock: Clock, limits: LimitTable,
                      metrics: PlatformMetrics) -> RateLimiter:
    """Redis when settings.redis_url is set (shared by replicas), else in process."""
    secret = settings.resolved_jwt_secret.encode()  # shared by every replica, so pseudonyms agree
    if settings.redis_url:
        return RedisRateLimiter(url=settings.redis_url, clock=clock, limits=limits, metrics=metrics,
                                fail_open=settings.ratelimit_fail_open, key_secret=secret)
    return MemoryRateLimiter(clock=clock, limits=limits, key_secret=secret)
