"""ffprobe checks: is this file a whole video with a duration and a video stream?

Each refusal carries a reason a user can act on. A zip renamed `.mp4` is named as such
rather than "invalid data"; a file cut short is caught by decoding its last second,
because containers with the index up front still probe fine when truncated.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

_MAGIC = ((b"PK\x03\x04", "a zip archive"), (b"%PDF", "a PDF document"), (b"\x7fELF", "an executable"),
          (b"MZ", "a Windows executable"), (b"\x89PNG", "a PNG image"), (b"\x1f\x8b", "a gzip archive"),
          (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-zip archive"))


@dataclass(slots=True)
class ProbeResult:
    """What ffprobe found; `ok` False comes with `reason` (a code) and `detail` (for people)."""

    ok: bool
    reason: str | None = None
    detail: str | None = None
    duration_s: float = 0.0
    width: int = 0
    height: int = 0
    codec: str | None = None
    fps: float = 0.0
    has_audio: bool = False
    format_name: str | None = None


def _fail(reason: str, detail: str) -> ProbeResult:
    return ProbeResult(ok=False, reason=reason, detail=detail)


def _fps(rate: str | None) -> float:
    try:
        value = float(Fraction(rate or "0"))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if 0 < value <= 240 else 0.0


def probe(path: Path, *, ffprobe: str = "ffprobe", ffmpeg: str = "ffmpeg", timeout_s: float = 60.0,
          check_tail: bool = True) -> ProbeResult:
    """Probe a file; a video needs a duration > 0 and a decodable video stream."""
    path = Path(path)
    try:
        head = path.open("rb").read(8)
    except OSError as exc:
        return _fail("unreadable", f"cannot read the file: {exc.strerror}")
    if not head:
        return _fail("empty", "the file is empty")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return _fail("not_a_video", f"the file is {what}, not a video")
    proc = subprocess.run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        last = err[-1] if err else "ffprobe failed"
        if head[4:8] == b"ftyp":  # an MP4 that starts right but cannot be read: cut short
            return _fail("truncated", "the file is incomplete (its index is missing): upload it again")
        return _fail("not_a_video", f"not a readable video: {last.split(': ', 1)[-1]}")
    info = json.loads(proc.stdout or b"{}")
    streams = info.get("streams", [])
    fmt = info.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        return _fail("no_video_stream", "the file has no video stream")
    try:
        duration = float(fmt.get("duration") or video.get("duration") or 0)
    except ValueError:
        duration = 0.0
    if duration <= 0:
        return _fail("no_duration", "the file has no duration (a still image or a broken stream)")
    result = ProbeResult(ok=True, duration_s=duration, width=int(video.get("width") or 0),
                         height=int(video.get("height") or 0), codec=video.get("codec_name"),
                         fps=_fps(video.get("avg_frame_rate")) or _fps(video.get("r_frame_rate")),
                         has_audio=any(s.get("codec_type") == "audio" for s in streams),
                         format_name=fmt.get("format_name"))
    if result.width <= 0 or result.height <= 0:
        return _fail("no_video_stream", "the video stream has no picture size")
    if check_tail:
        tail = _tail_error(path, duration, ffmpeg=ffmpeg, timeout_s=timeout_s)
        if tail:
            return _fail("truncated", f"the file is incomplete or corrupt near its end: {tail}")
    return result


def _tail_error(path: Path, duration: float, *, ffmpeg: str, timeout_s: float) -> str | None:
    """Decode the last second; errors there mean the upload was cut short."""
    start = max(0.0, duration - 1.0)
    proc = subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-ss", f"{start:.3f}", "-i", str(path), "-map", "0:v:0",
         "-f", "null", "-"], capture_output=True, timeout=timeout_s, check=False)
    lines = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
    if proc.returncode != 0 or lines:
        return (lines[-1] if lines else f"ffmpeg exit {proc.returncode}")[:200]
    return None
