"""Rate-limit decisions per second through Redis: our GCRA script vs the `limits` library.

Both run against the same Redis (127.0.0.1:6379, db 14, a private key prefix removed
afterwards), through the same client library (redis-py asyncio), with the same number of
concurrent tasks and the same keys. Measured, each a median of several timed runs:

- `unbatched_decisions_per_s` (= `single_decisions_per_s`): ours, every task awaiting one
  decision at a time (our client writes the calls that are waiting at the same moment in one
  socket write, as auto-pipelining clients do; each call is still its own EVALSHA);
- `limits_decisions_per_s`: `limits` MovingWindowRateLimiter (its sorted-set strategy), the same way;
- `limits_fixed_window_decisions_per_s`: `limits` FixedWindowRateLimiter (its cheapest: INCR +
  EXPIRE), the same way;
- `decisions_per_s`: ours, pipelined (each task sends batches of `batch` decisions);
- `redis_ceiling_decisions_per_s`: Redis's own ceiling for the same script, `redis-benchmark`
  sending EVALSHA of our GCRA script with the same connections and pipeline depth;
- `memory_decisions_per_s`: the in-process limiter (the embedded default).

Every client side runs `concurrency` asyncio tasks on one event loop in one process.
`ratio_vs_limits` (moving window) and `ratio_vs_limits_fixed_window` compare ours unbatched
with `limits` at equal concurrency, one decision per call each (the `limits` API has no batch
call). `pipelined_ratio_vs_ceiling` is the pipelined rate over the redis-benchmark ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limits import RateLimitItemPerSecond  # noqa: E402
from limits.aio.storage import RedisStorage  # noqa: E402
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter  # noqa: E402

from streamverse.clock import RealClock  # noqa: E402
from streamverse.platform.metrics import PlatformMetrics  # noqa: E402
from streamverse.platform.ratelimit import (  # noqa: E402
    GCRA_LUA,
    Limit,
    LimitTable,
    MemoryRateLimiter,
    RedisRateLimiter,
)

REDIS = "redis://127.0.0.1:6379/14"
RATE, BURST = 100, 100  # per key; with KEYS keys most decisions are "allowed", as in real traffic


async def timed(tasks: int, seconds: float, step) -> float:
    """Decisions per second of `tasks` coroutines each calling step() (returns decisions made)."""
    stop = time.perf_counter() + seconds
    counts = [0] * tasks

    async def worker(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            n += await step(i, n)
        counts[i] = n

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    return sum(counts) / (time.perf_counter() - started)


async def bench(args: argparse.Namespace) -> dict[str, object]:
    prefix = f"svbench:{os.getpid()}:"
    table = LimitTable({"user": Limit(RATE, BURST)})
    ours = RedisRateLimiter(url=REDIS, clock=RealClock(), limits=table, metrics=PlatformMetrics(),
                            prefix=prefix + "gcra:", timeout_s=5.0)
    storage = RedisStorage(REDIS.replace("redis://", "async+redis://"), implementation="redispy",
                           key_prefix=prefix + "limits")
    window = MovingWindowRateLimiter(storage)
    # Its own key prefix: both strategies name a key by the limit alone (a list vs a counter).
    fixed = FixedWindowRateLimiter(RedisStorage(REDIS.replace("redis://", "async+redis://"),
                                                implementation="redispy", key_prefix=prefix + "limits-fixed"))
    item = RateLimitItemPerSecond(RATE)
    memory = MemoryRateLimiter(clock=RealClock(), limits=table)
    keys = [str(k) for k in range(args.keys)]
    nkeys = len(keys)
    batch = args.batch
    batches = [[("user", keys[(j * batch + i) % nkeys]) for i in range(batch)] for j in range(64)]

    async def ours_single(i: int, n: int) -> int:
        await ours.check("user", keys[(i * 7919 + n) % nkeys])
        return 1

    async def ours_pipelined(i: int, n: int) -> int:
        await ours.check_many(batches[(i + n) % 64])
        return batch

    async def limits_single(i: int, n: int) -> int:
        await window.hit(item, "user", keys[(i * 7919 + n) % nkeys])
        return 1

    async def limits_fixed(i: int, n: int) -> int:
        await fixed.hit(item, "user", keys[(i * 7919 + n) % nkeys])
        return 1

    async def memory_single(i: int, n: int) -> int:
        for k in range(1000):
            await memory.check("user", keys[(n + k) % nkeys])
        return 1000

    # Warm up: scripts loaded, pools filled, both libraries' keys created.
    await timed(args.concurrency, 0.2, ours_single)
    await timed(args.concurrency, 0.2, limits_single)
    await timed(args.concurrency, 0.2, limits_fixed)
    series: dict[str, list[float]] = {"single": [], "limits": [], "limits_fixed": [], "pipelined": [],
                                      "memory": []}
    ceiling: list[float] = []
    for _ in range(args.runs):  # interleaved, so drift in machine load hits all alike
        series["single"].append(await timed(args.concurrency, args.seconds, ours_single))
        series["limits"].append(await timed(args.concurrency, args.seconds, limits_single))
        series["limits_fixed"].append(await timed(args.concurrency, args.seconds, limits_fixed))
        series["pipelined"].append(await timed(args.concurrency, args.seconds, ours_pipelined))
        series["memory"].append(await timed(1, args.seconds, memory_single))
        got = redis_ceiling(prefix + "ceiling:", args)
        if got is not None:
            ceiling.append(got)

    # Sanity: both limiters enforce the limit (a fresh key, BURST+10 hits at once).
    probe = [("user", "probe")] * (BURST + 10)
    ours_allowed = sum(d.allowed for d in await ours.check_many(probe))
    limits_allowed = sum([await window.hit(item, "user", "probe") for _ in range(BURST + 10)])
    fixed_allowed = sum([await fixed.hit(item, "user", "probe-fixed") for _ in range(BURST + 10)])

    redis = ours.redis
    stale = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
    for i in range(0, len(stale), 1000):
        await redis.delete(*stale[i:i + 1000])
    await ours.aclose()

    med = {name: statistics.median(values) for name, values in series.items()}
    ceil = statistics.median(ceiling) if ceiling else None
    return {
        "decisions_per_s": round(med["pipelined"]),
        "decisions_per_s_is": f"ours, pipelined: {args.concurrency} tasks x batches of {batch}",
        "unbatched_decisions_per_s": round(med["single"]),
        "limits_decisions_per_s": round(med["limits"]),
        "limits_decisions_per_s_is": "limits MovingWindowRateLimiter (Redis sorted set), unbatched",
        "limits_fixed_window_decisions_per_s": round(med["limits_fixed"]),
        "limits_fixed_window_decisions_per_s_is": "limits FixedWindowRateLimiter (Redis INCR), unbatched",
        "ratio_vs_limits": round(med["single"] / med["limits"], 3),
        "ratio_vs_limits_fixed_window": round(med["single"] / med["limits_fixed"], 3),
        "redis_ceiling_decisions_per_s": round(ceil) if ceil is not None else None,
        "redis_ceiling_is": (f"redis-benchmark EVALSHA of our GCRA script, -c {args.concurrency} -P {batch}"
                             if ceil is not None else "not measured: redis-benchmark not found"),
        "pipelined_ratio_vs_ceiling": round(med["pipelined"] / ceil, 3) if ceil else None,
        "single_decisions_per_s": round(med["single"]),
        "pipelined_ratio_vs_limits": round(med["pipelined"] / med["limits"], 3),
        "memory_decisions_per_s": round(med["memory"]),
        "concurrency": args.concurrency,
        "client_side": f"{args.concurrency} asyncio tasks on one event loop, one process, for every library",
        "batch": batch,
        "keys": nkeys,
        "runs": args.runs,
        "seconds_per_run": args.seconds,
        "allowed_of_burst_plus_10": {"ours": ours_allowed, "limits": limits_allowed,
                                     "limits_fixed_window": fixed_allowed, "burst": BURST},
        "samples": {name: [round(v) for v in values]
                    for name, values in {**series, "ceiling": ceiling}.items()},
    }


def redis_ceiling(prefix: str, args: argparse.Namespace) -> float | None:
    """EVALSHA of our GCRA script per second as redis-benchmark drives it (None without the tool)."""
    tool = shutil.which("redis-benchmark") or ("/usr/bin/redis-benchmark"
                                               if Path("/usr/bin/redis-benchmark").exists() else None)
    if tool is None:
        return None
    sha = subprocess.run(["redis-cli", "-n", "14", "SCRIPT", "LOAD", GCRA_LUA], capture_output=True,
                         text=True, check=True).stdout.strip()
    interval_us = 1_000_000 // RATE
    n = max(args.batch * args.concurrency * 4, int(120_000 * args.seconds))
    out = subprocess.run(
        [tool, "-h", "127.0.0.1", "-p", "6379", "--dbnum", "14", "-c", str(args.concurrency),
         "-P", str(args.batch), "-n", str(n), "-r", str(args.keys), "-q", "--csv",
         "EVALSHA", sha, "1", f"{prefix}__rand_int__", "1", str(interval_us), str(interval_us * BURST)],
        capture_output=True, text=True, check=True).stdout
    # --csv: a header line, then "test","rps",...
    return float(out.strip().splitlines()[-1].split(",")[1].strip('"'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: short and few runs")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds = 2, 0.3
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    load_start = os.getloadavg()[0]
    result = asyncio.run(bench(args))
    result["load_avg_1m"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]  # shared 2-core machine
    print(f"ours single {result['single_decisions_per_s']}/s, limits {result['limits_decisions_per_s']}/s, "
          f"ours pipelined {result['decisions_per_s']}/s, in-process {result['memory_decisions_per_s']}/s",
          file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
