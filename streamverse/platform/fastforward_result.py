"""What a fast-forward run hands back: the `simulate --json` summary, per-step timelines and run stats."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from streamverse.platform.fastforward_telemetry import STARTUP_BIN_MS

if TYPE_CHECKING:
    from streamverse.platform.fastforward import FastForward


@dataclass
class SimulationResult:
    """The `simulate --json` summary plus per-step timelines per viewer region."""

    summary: dict[str, Any]
    timeline: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)

    def window(self, region: str, start_s: float, end_s: float) -> dict[str, float]:
        """Availability and hit ratio for viewers in `region` between two run offsets."""
        t = np.asarray(self.timeline["t_s"])
        sel = (t >= start_s) & (t < end_s)
        reg = self.timeline["raw"][region]
        ok, fail, hit = (np.asarray(reg[k])[sel].sum() for k in ("ok", "fail", "hit"))
        return {"availability": float(ok / (ok + fail)) if ok + fail else math.nan,
                "cache_hit_ratio": float(hit / ok) if ok else math.nan}


def summarise(ff: FastForward, tl: dict[str, np.ndarray], n_steps: int, wall: float) -> SimulationResult:
    """Totals per viewer region, the per-step timeline `tl` as ratios, and how the run went."""
    t = ff.tot
    regions = {}
    for r, name in enumerate(ff.regions):
        req = t["ok"][r] + t["fail"][r]
        watch = t["played"][r] + t["stalled"][r]
        regions[name] = {
            "availability": round(float(t["ok"][r] / req), 6) if req else None,
            "cache_hit_ratio": round(float(t["hit"][r] / t["ok"][r]), 6) if t["ok"][r] else None,
            "startup_p95_ms": _p95_ms(ff.startup_hist[r]),
            "rebuffer_ratio": round(float(t["stalled"][r] / watch), 6) if watch else None,
            "egress_bytes": float(t["bytes"][r]),
        }
    summary = {"scenario": ff.faults[0]["scenario"] if ff.faults else None,
               "duration_s": ff.duration_s, "wall_s": round(wall, 3),
               "sessions": int(ff.sessions_started), "regions": regions,
               "faults": list(ff.faults)}
    t_s = (np.arange(n_steps) * ff.step_s).tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        avail = tl["ok"] / (tl["ok"] + tl["fail"])
        hit = tl["hit"] / tl["ok"]
    timeline: dict[str, Any] = {"t_s": t_s, "regions": {}, "raw": {}}
    for r, name in enumerate(ff.regions):
        timeline["regions"][name] = {"availability": avail[:, r].tolist(),
                                     "cache_hit_ratio": hit[:, r].tolist(),
                                     "sessions": tl["sessions"][:, r].astype(int).tolist()}
        timeline["raw"][name] = {k: tl[k][:, r].tolist() for k in ("ok", "fail", "hit")}
    # samples/series published: what a sink received (none without one)
    stats = {"steps": n_steps, "step_s": ff.step_s, "object_s": ff.object_s,
             "cache_fetches": ff.chunks.fetches, "scale": ff.scale, "viewers": ff.viewers,
             "samples_written": ff.telemetry.samples, "series_written": len(ff.telemetry.series),
             "start_ts": ff.start_ts, "end_ts": ff.clock.now()}
    return SimulationResult(summary=summary, timeline=timeline, stats=stats)


def _p95_ms(hist: np.ndarray) -> float | None:
    total = hist.sum()
    if not total:
        return None
    i = int(np.searchsorted(np.cumsum(hist), 0.95 * total))
    return float((i + 1) * STARTUP_BIN_MS)
