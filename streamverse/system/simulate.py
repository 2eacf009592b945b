"""The `streamverse simulate` command: fast-forward runs and store backfills, for people or scripts.

It wires the platform's fast-forward driver to the configured metric store through the
collectors' snapshot collector; the platform itself only publishes scrape snapshots.
"""

from __future__ import annotations

import math
from typing import Any

from streamverse.clock import RealClock, utc_iso
from streamverse.durations import format_duration
from streamverse.errors import UsageError
from streamverse.output import console, emit_json
from streamverse.platform.faults import SCENARIOS, fault_book_for
from streamverse.settings import Settings

BACKFILL_VIEWERS = 2000  # a backfill is normal history: few sessions, large scale factor
BACKFILL_STEP_S = 120.0
BACKFILL_TELEMETRY_S = 300.0


def _topology(settings: Settings) -> Any:
    from streamverse.platform.topology import load_topology

    return load_topology(settings.topology_file)


def _check(topology: Any, scenario: str | None, target: str | None) -> None:
    """Unknown scenarios and targets fail before any work, listing the valid choices."""
    if scenario is None:
        if target is not None:
            raise UsageError("--target needs --scenario")
        return
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; choose one of {', '.join(sorted(SCENARIOS))}")
    if scenario == "viral-video" and target is None:
        return  # the engine picks a cold, mid-popularity title
    fault_book_for(topology, RealClock()).validate_target(scenario, target)


def run_simulate(settings: Settings, *, scenario: str | None, duration_s: float, seed: int, viewers: int,
                 backfill_s: float | None, target: str | None, json_out: bool) -> None:
    """Body of `streamverse simulate`: a scenario run with its summary, or a backfill."""
    from streamverse.collectors.service import make_store
    from streamverse.collectors.snapshots import SnapshotCollector
    from streamverse.platform.fastforward import run_simulation

    topology = _topology(settings)
    if viewers < 1:
        raise UsageError("--viewers must be at least 1")
    if backfill_s is not None:
        if scenario is not None:
            raise UsageError("--backfill writes normal history; it does not take --scenario")
        start = math.floor((RealClock().now() - backfill_s) / 60.0) * 60.0
        result = run_simulation(topology=topology, duration_s=backfill_s, seed=seed,
                                viewers=min(viewers, BACKFILL_VIEWERS),
                                sink=SnapshotCollector(make_store(settings)),
                                start_ts=start, telemetry_step_s=BACKFILL_TELEMETRY_S,
                                progress=True, step_s=BACKFILL_STEP_S)
        st = result.stats
        out = {"backfill_s": backfill_s, "samples": st["samples_written"], "series": st["series_written"],
               "start": utc_iso(st["start_ts"]), "end": utc_iso(st["end_ts"]),
               "wall_s": result.summary["wall_s"]}
        if json_out:
            emit_json(out)
        else:
            console.print(f"wrote {out['samples']:,} samples in {out['series']:,} series covering "
                          f"{format_duration(backfill_s)} ({out['start']} .. {out['end']}) "
                          f"in {out['wall_s']:.1f}s")
        return
    _check(topology, scenario, target)
    result = run_simulation(topology=topology, scenario=scenario, target=target, duration_s=duration_s,
                            seed=seed, viewers=viewers, sink=SnapshotCollector(make_store(settings)),
                            progress=not json_out)
    if json_out:
        emit_json(result.summary)
        return
    _print(result)


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "pct":
        return f"{100 * value:.2f}%"
    if kind == "ms":
        return f"{value:.0f} ms"
    if kind == "bytes":
        for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9)):
            if value >= size:
                return f"{value / size:.2f} {unit}"
        return f"{value:.0f} B"
    return str(value)


def _print(result: Any) -> None:
    """A table per viewer region, and availability before / during / after each fault."""
    from rich.table import Table

    s = result.summary
    title = (f"{s['scenario'] or 'normal'} - {format_duration(s['duration_s'])} simulated in "
             f"{s['wall_s']:.1f}s, {s['sessions']:,} modelled sessions")
    table = Table("viewer region", "availability", "cache hit", "startup p95", "rebuffer", "egress",
                  title=title)
    for name, r in s["regions"].items():
        table.add_row(name, _fmt(r["availability"], "pct"), _fmt(r["cache_hit_ratio"], "pct"),
                      _fmt(r["startup_p95_ms"], "ms"), _fmt(r["rebuffer_ratio"], "pct"),
                      _fmt(r["egress_bytes"], "bytes"))
    console.print(table)
    for f in s["faults"]:
        tl = Table("viewer region", "before", "during", "after",
                   title=f"availability around {f['scenario']} on {f['target']} "
                         f"({format_duration(f['start_s'])} .. {format_duration(f['end_s'])})")
        for name in s["regions"]:
            spans = ((0, f["start_s"]), (f["start_s"], f["end_s"]), (f["end_s"], s["duration_s"]))
            cells = [result.window(name, a, b)["availability"] for a, b in spans]
            tl.add_row(name, *(_fmt(c, "pct") for c in cells))
        console.print(tl)
