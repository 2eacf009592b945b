"""Rate-limit decisions per second through Redis: our GCRA script vs the `limits` library.

Both run against the same Redis (127.0.0.1:6379, db 14, a private key prefix removed
afterwards), through the same client library (redis-py asyncio), with the same number of
concurrent tasks and the same keys. Measured, each a median of several timed runs:

- `single_decisions_per_s`: ours, every task awaiting one decision at a time;
- `limits_decisions_per_s`: `limits` MovingWindowRateLimiter, the same way;
- `decisions_per_s`: ours, pipelined (each task sends batches of `batch` decisions);
- `memory_decisions_per_s`: the in-process limiter (the embedded default).

`ratio_vs_limits` compares like with like: ours vs `limits` at equal concurrency, one decision
per request each (the `limits` API has no batch call). `pipelined_ratio_vs_limits` is the
headline pipelined rate over the same `limits` figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limits import RateLimitItemPerSecond  # noqa: E402
from limits.aio.storage import RedisStorage  # noqa: E402
from limits.aio.strategies import MovingWindowRateLimiter  # noqa: E402

from streamverse.clock import RealClock  # noqa: E402
from streamverse.platform.metrics import PlatformMetrics  # noqa: E402
from streamverse.platform.ratelimit import Limit, LimitTable, MemoryRateLimiter, RedisRateLimiter  # noqa: E402

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

    async def memory_single(i: int, n: int) -> int:
        for k in range(1000):
            await memory.check("user", keys[(n + k) % nkeys])
        return 1000

    # Warm up: scripts loaded, pools filled, both libraries' keys created.
    await timed(args.concurrency, 0.2, ours_single)
    await timed(args.concurrency, 0.2, limits_single)
    series: dict[str, list[float]] = {"single": [], "limits": [], "pipelined": [], "memory": []}
    for _ in range(args.runs):  # interleaved, so drift in machine load hits all alike
        series["single"].append(await timed(args.concurrency, args.seconds, ours_single))
        series["limits"].append(await timed(args.concurrency, args.seconds, limits_single))
        series["pipelined"].append(await timed(args.concurrency, args.seconds, ours_pipelined))
        series["memory"].append(await timed(1, args.seconds, memory_single))

    # Sanity: both limiters enforce the limit (a fresh key, BURST+10 hits at once).
    probe = [("user", "probe")] * (BURST + 10)
    ours_allowed = sum(d.allowed for d in await ours.check_many(probe))
    limits_allowed = sum([await window.hit(item, "user", "probe") for _ in range(BURST + 10)])

    redis = ours.redis
    stale = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
    for i in range(0, len(stale), 1000):
        await redis.delete(*stale[i:i + 1000])
    await ours.aclose()

    med = {name: statistics.median(values) for name, values in series.items()}
    return {
        "decisions_per_s": round(med["pipelined"]),
        "limits_decisions_per_s": round(med["limits"]),
        "ratio_vs_limits": round(med["single"] / med["limits"], 3),
        "single_decisions_per_s": round(med["single"]),
        "pipelined_ratio_vs_limits": round(med["pipelined"] / med["limits"], 3),
        "memory_decisions_per_s": round(med["memory"]),
        "concurrency": args.concurrency,
        "batch": batch,
        "keys": nkeys,
        "runs": args.runs,
        "seconds_per_run": args.seconds,
        "allowed_of_burst_plus_10": {"ours": ours_allowed, "limits": limits_allowed, "burst": BURST},
        "samples": {name: [round(v) for v in values] for name, values in series.items()},
    }


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
    result = asyncio.run(bench(args))
    print(f"ours single {result['single_decisions_per_s']}/s, limits {result['limits_decisions_per_s']}/s, "
          f"ours pipelined {result['decisions_per_s']}/s, in-process {result['memory_decisions_per_s']}/s",
          file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
