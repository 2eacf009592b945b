"""Ladder encode speed on this machine: seconds of video per wall second, beside one rendition.

The clip is ffmpeg's testsrc2 + sine at 1080p. The ladder (360p..1080p in one ffmpeg process,
then the thumbnail sprite) is what the pipeline runs; the baseline is a single 720p HLS
rendition of the same clip, so the ladder's overhead is visible. Also measured: the ladder
as one process per rendition (run in parallel), the alternative the one-process design beat.
Medians of several runs. Last line of stdout: one JSON object.

The machine is shared with other jobs, so wall time alone says more about the neighbours
than about the encoder: every run also records the CPU seconds its ffmpeg children used
(`getrusage(RUSAGE_CHILDREN)`), and `cpu_bound_video_seconds_per_wall_second` is the speed
the ladder would reach with this machine's cores to itself (video seconds / (CPU s / cores)).
The ladder with every rung at veryfast (the previous default) runs beside the chosen presets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamverse.platform.media.config import MediaConfig  # noqa: E402
from streamverse.platform.media.transcode import (  # noqa: E402
    ladder_command,
    plan_ladder,
    run_ffmpeg,
    rung_preset,
    transcode_ladder,
)


def make_clip(path: Path, seconds: float) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "23", "-c:a", "aac", str(path)], check=True)


def timed(fn) -> tuple[float, float]:  # noqa: ANN001
    """(wall seconds, CPU seconds of child processes) for one call."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    fn()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def medians(fn, runs: int) -> tuple[float, float]:  # noqa: ANN001
    """Median wall and median CPU seconds over `runs` calls."""
    samples = [timed(fn) for _ in range(runs)]
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--preset", default=MediaConfig().preset)
    args = parser.parse_args()
    seconds = args.seconds or (6.0 if args.quick else 30.0)
    runs = args.runs or (1 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="sv-bench-transcode-"))
    try:
        src = work / "clip.mp4"
        make_clip(src, seconds)
        rungs = plan_ladder(1920, 1080)

        config = MediaConfig()

        def ladder(rung_presets: dict[str, str] | None = dict(config.rung_presets)) -> None:  # noqa: B006
            out = work / "ladder"
            shutil.rmtree(out, ignore_errors=True)
            transcode_ladder(src, out, width=1920, height=1080, duration_s=seconds, has_audio=True,
                             preset=args.preset, fps=30, rung_presets=rung_presets)

        def single(rung_index: int = 2, sub: str = "single") -> None:
            out = work / sub
            shutil.rmtree(out, ignore_errors=True)
            rung = rungs[rung_index]
            (out / rung.name).mkdir(parents=True)
            run_ffmpeg(ladder_command(src, out, [rung], duration_s=seconds, has_audio=True,
                                      preset=args.preset, sprite=False), duration_s=seconds)

        def per_process() -> None:
            with ThreadPoolExecutor(len(rungs)) as pool:
                list(pool.map(lambda i: single(i, f"pp{i}"), range(len(rungs))))

        load_before = os.getloadavg()[0]
        ladder_s, ladder_cpu = medians(ladder, runs)
        uniform_s, uniform_cpu = medians(lambda: ladder(None), runs)
        single_s, single_cpu = medians(single, runs)
        per_proc_s, per_proc_cpu = medians(per_process, runs)
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count() or 1

    def cpu_speed(cpu_s: float) -> float:
        return round(seconds / (cpu_s / cores), 3)

    result = {
        "video_seconds_per_wall_second": round(seconds / ladder_s, 3),
        "single_rendition_video_seconds_per_wall_second": round(seconds / single_s, 3),
        "cpu_bound_video_seconds_per_wall_second": cpu_speed(ladder_cpu),
        "single_rendition_cpu_bound_video_seconds_per_wall_second": cpu_speed(single_cpu),
        "uniform_preset_ladder_video_seconds_per_wall_second": round(seconds / uniform_s, 3),
        "uniform_preset_ladder_cpu_bound_video_seconds_per_wall_second": cpu_speed(uniform_cpu),
        "process_per_rendition_video_seconds_per_wall_second": round(seconds / per_proc_s, 3),
        "process_per_rendition_cpu_bound_video_seconds_per_wall_second": cpu_speed(per_proc_cpu),
        "ladder_wall_s": round(ladder_s, 3), "ladder_cpu_s": round(ladder_cpu, 3),
        "uniform_preset_ladder_wall_s": round(uniform_s, 3),
        "uniform_preset_ladder_cpu_s": round(uniform_cpu, 3),
        "single_wall_s": round(single_s, 3), "single_cpu_s": round(single_cpu, 3),
        "process_per_rendition_wall_s": round(per_proc_s, 3),
        "process_per_rendition_cpu_s": round(per_proc_cpu, 3),
        "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        "clip_seconds": seconds, "source": "1920x1080@30 testsrc2+sine", "ladder": [r.name for r in rungs],
        "single_rendition": rungs[2].name, "preset": args.preset,
        "rung_presets": {r.name: rung_preset(r.name, args.preset, dict(config.rung_presets)) for r in rungs},
        "runs": runs, "cores": cores,
        "target": "ladder >= 1.0 (real time) on 2 cores",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
