"""Ladder encode speed on this machine: seconds of video per wall second, beside one rendition.

The clip is ffmpeg's testsrc2 + sine at 1080p. The ladder (360p..1080p in one ffmpeg process,
then the thumbnail sprite) is what the pipeline runs; the baseline is a single 720p HLS
rendition of the same clip, so the ladder's overhead is visible. Also measured: the ladder
as one process per rendition (run in parallel), the alternative the one-process design beat.
Medians of several runs. Last line of stdout: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
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
    transcode_ladder,
)


def make_clip(path: Path, seconds: float) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "23", "-c:a", "aac", str(path)], check=True)


def timed(fn) -> float:  # noqa: ANN001
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


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

        def ladder() -> None:
            out = work / "ladder"
            shutil.rmtree(out, ignore_errors=True)
            transcode_ladder(src, out, width=1920, height=1080, duration_s=seconds, has_audio=True,
                             preset=args.preset, fps=30)

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

        ladder_s = statistics.median(timed(ladder) for _ in range(runs))
        single_s = statistics.median(timed(single) for _ in range(runs))
        per_proc_s = statistics.median(timed(per_process) for _ in range(runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "video_seconds_per_wall_second": round(seconds / ladder_s, 3),
        "single_rendition_video_seconds_per_wall_second": round(seconds / single_s, 3),
        "process_per_rendition_video_seconds_per_wall_second": round(seconds / per_proc_s, 3),
        "ladder_wall_s": round(ladder_s, 3), "single_wall_s": round(single_s, 3),
        "process_per_rendition_wall_s": round(per_proc_s, 3),
        "clip_seconds": seconds, "source": "1920x1080@30 testsrc2+sine", "ladder": [r.name for r in rungs],
        "single_rendition": rungs[2].name, "preset": args.preset, "runs": runs, "cores": os.cpu_count(),
        "target": "ladder >= 1.0 (real time) on 2 cores",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
