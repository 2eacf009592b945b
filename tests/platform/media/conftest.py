"""Media test fixtures: tiny synthetic clips made with ffmpeg's testsrc and sine sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def make_clip(
    path: Path,
    *,
    seconds: float,
    size: str = "426x240",
    rate: int = 25,
    audio: bool = True,
    faststart: bool = False,
) -> Path:
    """An H.264/AAC MP4 test pattern with a tone."""
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}",
    ]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += ["-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-crf", "32", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    cmd.append(str(path))
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Named clips shared by the media tests (made once per session)."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "short": make_clip(d / "short.mp4", seconds=3),
        "ladder": make_clip(d / "ladder.mp4", seconds=8, size="854x480"),
        "faststart": make_clip(d / "faststart.mp4", seconds=3, faststart=True),
        "long": make_clip(d / "long.mp4", seconds=24),
    }
