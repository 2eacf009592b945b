"""RUM ingest: beacons/s accepted and aggregated by the real control API over HTTP, sustained.

The control API (create_app, uvicorn) runs in this process; the load generator runs in a
second process (multiprocessing, spawn) and posts batches with unique batch ids over
keep-alive connections, authenticated with the RUM ingest key. At the end the server's
aggregate is checked against what the client was told was accepted. The baseline is
the same beacons validated by a pydantic model list (what a naive FastAPI body model
does) in-process, next to this module's validate+aggregate in-process.

Last stdout line: JSON with beacons_per_s, duration_s, batches, batch_size, rejected, p95_batch_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGIONS = {
    "us-east": ["nyc-1", "ash-1", "mia-1"],
    "eu-west": ["lon-1", "ams-1", "fra-1"],
    "ap-south": ["sin-1", "bom-1"],
    "sa-east": ["gru-1"],
}
DEVICES = ["tv", "desktop", "mobile", "tablet"]


def make_beacons(rng: random.Random, n: int, t0: float) -> list[dict[str, Any]]:
    """A realistic mix: each view a start, heartbeats, and an end, error or quiet exit."""
    out: list[dict[str, Any]] = []
    while len(out) < n:
        region = rng.choice(list(REGIONS))
        sid = uuid.UUID(int=rng.getrandbits(128)).hex
        base = {
            "session_id": sid,
            "region": region,
            "pop": rng.choice(REGIONS[region]),
            "device": rng.choice(DEVICES),
            "video_id": rng.randint(1, 500),
        }
        fate = rng.random()
        if fate < 0.02:
            out.append({**base, "event": "end", "ts": t0})
            continue
        out.append(
            {
                **base,
                "event": "start",
                "ts": t0,
                "startup_ms": rng.lognormvariate(6.5, 0.5),
                "bitrate_bps": 800_000,
            }
        )
        played = stall = 0.0
        for k in range(rng.randint(1, 6)):
            played += 10.0
            stall += 0.5 if rng.random() < 0.05 else 0.0
            out.append(
                {
                    **base,
                    "event": "heartbeat",
                    "ts": t0 + 10 * (k + 1),
                    "played_s": played,
                    "rebuffer_s": stall,
                    "bitrate_bps": rng.choice([800_000, 2_500_000, 5_000_000]),
                }
            )
        if fate < 0.04:
            out.append(
                {**base, "event": "error", "ts": t0 + 70, "error_code": "http_503", "played_s": played}
            )
        else:
            out.append({**base, "event": "end", "ts": t0 + 70, "played_s": played, "rebuffer_s": stall})
    return out[:n]


def generator(url: str, key: str, duration_s: float, batch_size: int, concurrency: int, result: Any) -> None:
    """The second process: post batches for `duration_s`, report counts and latencies."""
    import httpx

    rng = random.Random(11)
    bodies = [
        json.dumps(make_beacons(rng, batch_size, 1_700_000_000.0), separators=(",", ":")).encode()
        for _ in range(32)
    ]
    stats = {"batches": 0, "accepted": 0, "rejected": 0, "errors": 0, "lat": []}

    async def worker(client: httpx.AsyncClient, end: float, wid: int) -> None:
        i = wid
        while time.perf_counter() < end:
            body = (
                b'{"batch_id":"'
                + uuid.uuid4().hex.encode()
                + b'","beacons":'
                + bodies[i % len(bodies)]
                + b"}"
            )
            i += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(
                    url, content=body, headers={"X-RUM-Key": key, "Content-Type": "application/json"}
                )
            except httpx.HTTPError:
                stats["errors"] += 1
                continue
            stats["lat"].append(time.perf_counter() - t0)
            if r.status_code in (202, 422):
                got = r.json()
                stats["batches"] += 1
                stats["accepted"] += got["accepted"]
                stats["rejected"] += got["rejected"]
            else:
                stats["errors"] += 1

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            start = time.perf_counter()
            await asyncio.gather(*(worker(client, start + duration_s, w) for w in range(concurrency)))
            return time.perf_counter() - start

    wall = asyncio.run(main())
    lat = sorted(stats.pop("lat"))
    stats["wall_s"] = wall
    stats["p95_batch_ms"] = 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else None
    stats["p50_batch_ms"] = 1000 * statistics.median(lat) if lat else None
    result.put(stats)


def in_process(batch_size: int, rounds: int) -> dict[str, float]:
    """This module's validate+aggregate vs pydantic validation, in-process, same beacons."""
    from pydantic import BaseModel, TypeAdapter

    from streamverse.clock import VirtualClock
    from streamverse.collectors.rum import RumAggregator

    class BeaconModel(BaseModel):
        session_id: str
        region: str
        pop: str | None = None
        device: str
        video_id: int
        event: str
        ts: float | None = None
        startup_ms: float | None = None
        rebuffer_s: float | None = None
        played_s: float | None = None
        bitrate_bps: float | None = None
        error_code: str | None = None

    beacons = make_beacons(random.Random(5), batch_size, 1_700_000_000.0)
    raw = json.dumps(beacons).encode()
    agg = RumAggregator(clock=VirtualClock(1_700_000_000.0))
    t0 = time.perf_counter()
    for i in range(rounds):
        agg.ingest_batch(f"b{i}", json.loads(raw))
    ours = rounds * batch_size / (time.perf_counter() - t0)
    adapter = TypeAdapter(list[BeaconModel])
    t0 = time.perf_counter()
    for _ in range(rounds):
        adapter.validate_json(raw)
    pyd = rounds * batch_size / (time.perf_counter() - t0)
    return {"inprocess_beacons_per_s": ours, "pydantic_validate_only_beacons_per_s": pyd}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s instead of 30 s")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    duration = 5.0 if args.quick else 30.0

    import uvicorn

    from streamverse.collectors.rum import resolved_ingest_key
    from streamverse.db import get_engine
    from streamverse.settings import Settings
    from streamverse.system.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-rum-"))
    settings = Settings(data_dir=tmp, jwt_secret="bench-" + "x" * 32)
    app = create_app(settings, engine=get_engine(settings.resolved_database_url))
    key = resolved_ingest_key(tmp)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, timeout_keep_alive=60
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1/rum/beacons"

    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    proc = ctx.Process(target=generator, args=(url, key, duration, args.batch_size, args.concurrency, result))
    proc.start()
    stats = result.get(timeout=duration + 120)
    proc.join(30)
    agg = app.state.rum
    server_accepted = agg.beacons["accepted"]
    written = agg.flush()
    server.should_exit = True
    thread.join(10)

    baseline = in_process(args.batch_size, 20 if args.quick else 60)
    out = {
        "beacons_per_s": round(stats["accepted"] / stats["wall_s"]),
        "duration_s": round(stats["wall_s"], 2),
        "batches": stats["batches"],
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "rejected": stats["rejected"],
        "http_errors": stats["errors"],
        "p95_batch_ms": round(stats["p95_batch_ms"], 2) if stats["p95_batch_ms"] else None,
        "p50_batch_ms": round(stats["p50_batch_ms"], 2) if stats["p50_batch_ms"] else None,
        "server_accepted": server_accepted,
        "aggregated_matches_client": server_accepted == stats["accepted"],
        "series_samples_written_last_flush": written,
        "auth": "X-RUM-Key",
        **{k: round(v) for k, v in baseline.items()},
        "target_beacons_per_s": 20_000,
        "quick": args.quick,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
