"""Fast-forward benchmark: 24 simulated hours of 100,000 concurrent sessions over 6 regions.

Telemetry goes into a real embedded store in a temp dir. Side by side, in the same run:
the same engine with finer cache objects (60-s chunks, nearer per-segment keys) over a
shorter span, to show what the coarse-object choice buys.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _run(*, duration_s: float, viewers: int, store, object_s: float = 600.0, scenario: str | None = None):
    from streamverse.platform.fastforward import run_simulation
    from streamverse.platform.topology import load_topology

    t0 = time.perf_counter()
    res = run_simulation(topology=load_topology(), scenario=scenario, duration_s=duration_s, viewers=viewers,
                         store=store, start_ts=1_750_000_000.0, object_s=object_s)
    return res, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2 h and 10,000 sessions")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scenario", default=None)
    args = ap.parse_args()
    duration, viewers = (7200.0, 10_000) if args.quick else (86_400.0, 100_000)
    from streamverse.collectors.service import make_store
    from streamverse.settings import Settings

    walls, last = [], None
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            store = make_store(Settings(data_dir=Path(tmp)))
            last, wall = _run(duration_s=duration, viewers=viewers, store=store, scenario=args.scenario)
            walls.append(wall)
            print(f"run {i + 1}: {duration:.0f} s simulated in {wall:.1f} s wall, "
                  f"{last.stats['cache_fetches']:,} CDN fetches, {last.stats['samples_written']:,} samples",
                  file=sys.stderr)
    wall = statistics.median(walls)
    base_span = 1800.0 if args.quick else 3600.0
    base, base_wall = _run(duration_s=base_span, viewers=viewers, store=None, object_s=60.0)
    out = {
        "sim_seconds_per_wall_second": round(duration / wall, 1),
        "wall_s": round(wall, 2),
        "sessions": last.summary["sessions"],
        "viewers": viewers,
        "simulated_s": duration,
        "steps": last.stats["steps"],
        "cache_fetches": last.stats["cache_fetches"],
        "samples_written": last.stats["samples_written"],
        "target_wall_s": 60.0,
        "meets_target": (not args.quick) and wall <= 60.0,
        "baseline_60s_objects_sim_seconds_per_wall_second": round(base_span / base_wall, 1),
        "baseline_60s_objects_cache_fetches_per_sim_hour":
            round(base.stats["cache_fetches"] * 3600 / base_span),
        "cache_fetches_per_sim_hour": round(last.stats["cache_fetches"] * 3600 / duration),
        "repeats": args.repeat,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
