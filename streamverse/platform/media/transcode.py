"""ffmpeg into an HLS ladder: renditions from the source's resolution down, aligned keyframes, 6-s segments.

One ffmpeg process decodes the source once and encodes every rendition (a `split` filter
feeding one encoder per rung) plus a thumbnail sprite; `bench/transcode.py` measures that
against one-process-per-rendition. Keyframes are forced on the same timestamps in every
rendition (`-force_key_frames`, no scene-cut keyframes), so a player can switch at any
segment boundary. Progress comes from `-progress pipe:1`.
"""

from __future__ import annotations

import ctypes
import math
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamverse.platform.catalog import LADDER, SEGMENT_SECONDS

CODECS = {"h264": "libx264", "h265": "libx265"}
AUDIO_BPS = 128_000
KEYFRAME_S = 2  # divides SEGMENT_SECONDS, so every segment starts on a keyframe
SPRITE_TILE = (5, 5)
SPRITE_WIDTH = 160
# x264/x265 presets, fastest first
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
SPRITE_KEYFRAMES_FROM_S = 10.0  # tile spacing from which decoding keyframes only is close enough


def rung_preset(name: str, preset: str, overrides: dict[str, str] | None) -> str:
    """The preset for one rung: the override when it is faster than the default, else the default."""
    want = (overrides or {}).get(name)
    if want is None or want not in PRESETS or preset not in PRESETS:
        return preset
    return want if PRESETS.index(want) < PRESETS.index(preset) else preset


@dataclass(frozen=True, slots=True)
class Rung:
    """One rendition to produce."""

    name: str
    width: int
    height: int
    bitrate_bps: int


class TranscodeError(Exception):
    """ffmpeg failed; `reason` is a short code, the message has ffmpeg's last words."""

    def __init__(self, message: str, *, reason: str = "ffmpeg_failed") -> None:
        super().__init__(message)
        self.reason = reason


def plan_ladder(width: int, height: int) -> list[Rung]:
    """The seed ladder up to the source's height (2160p only for 4K sources); at least 360p."""
    short = min(width, height) if height > width else height
    rungs = [Rung(name, w, h, b) for name, w, h, b in LADDER if h <= short]
    if not rungs:
        name, w, h, b = LADDER[0]
        rungs = [Rung(name, w, h, b)]
    # keep the source's shape: the rung names the short side, the long side follows (even)
    out = []
    for r in rungs:
        if height > width:
            out.append(Rung(r.name, r.height, _even(r.height * height / width), r.bitrate_bps))
        else:
            out.append(Rung(r.name, _even(r.height * width / height), r.height, r.bitrate_bps))
    return out


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _die_with_parent() -> None:
    """Linux: ffmpeg gets SIGKILL when the worker dies, so a killed job leaves no writer behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def ladder_command(src: Path, out_dir: Path, rungs: list[Rung], *, duration_s: float, has_audio: bool,
                   codec: str = "h264", preset: str = "veryfast", sprite: bool = True,
                   ffmpeg: str = "ffmpeg", threads: int = 0,
                   rung_presets: dict[str, str] | None = None) -> list[str]:
    """The one-process ffmpeg command for the ladder (and sprite) into `out_dir`."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
    n = len(rungs)
    outs = "".join(f"[s{i}]" for i in range(n)) + ("[sp]" if sprite else "")
    graph = [f"[0:v]split={n + (1 if sprite else 0)}{outs}"]
    for i, r in enumerate(rungs):
        graph.append(f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]")
    if sprite:
        cols, rows = SPRITE_TILE
        every = max(1.0, duration_s / (cols * rows))
        graph.append(f"[sp]fps=1/{every:.3f},scale={SPRITE_WIDTH}:-2,tile={cols}x{rows}[spo]")
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(src),
           "-filter_complex", ";".join(graph), "-progress", "pipe:1", "-nostats"]
    hevc = codec == "h265"
    seg_ext = "m4s" if hevc else "ts"
    var_map = []
    for i, r in enumerate(rungs):
        cmd += ["-map", f"[v{i}]"]
        if has_audio:
            cmd += ["-map", "0:a:0"]
        var_map.append(f"v:{i},a:{i},name:{r.name}" if has_audio else f"v:{i},name:{r.name}")
    cmd += ["-c:v", CODECS[codec]]
    for i, r in enumerate(rungs):
        cmd += [f"-preset:v:{i}", rung_preset(r.name, preset, rung_presets)]
    if threads:
        cmd += ["-threads", str(threads)]
    for i, r in enumerate(rungs):
        cmd += [f"-b:v:{i}", str(r.bitrate_bps), f"-maxrate:v:{i}", str(int(r.bitrate_bps * 1.07)),
                f"-bufsize:v:{i}", str(int(r.bitrate_bps * 1.5))]
    cmd += ["-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_S})", "-sc_threshold", "0"]
    if hevc:
        cmd += ["-tag:v", "hvc1", "-x265-params", f"scenecut=0:keyint={KEYFRAME_S * 60}:log-level=error"]
    else:
        cmd += ["-profile:v", "high", "-x264-params", "scenecut=0"]
    if has_audio:
        cmd += ["-c:a", "aac", "-b:a", str(AUDIO_BPS), "-ac", "2", "-ar", "48000"]
    cmd += ["-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-start_number", "0",
            "-hls_segment_type", "fmp4" if hevc else "mpegts",
            "-hls_segment_filename", str(out_dir / "%v" / f"seg_%05d.{seg_ext}"),
            "-master_pl_name", "master.m3u8", "-var_stream_map", " ".join(var_map)]
    if hevc:
        cmd += ["-hls_fmp4_init_filename", "init.mp4"]
    cmd.append(str(out_dir / "%v" / "index.m3u8"))
    if sprite:
        cmd += ["-map", "[spo]", "-frames:v", "1", "-q:v", "4", "-update", "1", str(out_dir / "sprite.jpg")]
    return cmd


def run_ffmpeg(cmd: list[str], *, duration_s: float, on_progress: Callable[[float], None] | None = None,
               timeout_s: float | None = None, fps: float = 0.0) -> None:
    """Run ffmpeg, reporting progress 0..1 from `-progress`; raises TranscodeError on failure.

    `out_time` stays N/A while the sprite output has no frame yet, so the encoded frame
    count over the expected frames (when `fps` is known) is used as well.
    """
    total_frames = duration_s * fps
    best = -1.0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_die_with_parent)  # noqa: PLW1509 - a prctl only
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if on_progress is None or duration_s <= 0:
                continue
            key, _, value = line.partition("=")
            fraction = -1.0
            if key == "out_time_us" and value.isdigit():
                fraction = min(1.0, int(value) / 1e6 / duration_s)
            elif key == "frame" and value.isdigit() and total_frames > 0:
                fraction = min(0.999, int(value) / total_frames)
            if fraction > best:  # the two estimates interleave; progress never goes back
                best = fraction
                on_progress(fraction)
        proc.wait(timeout=timeout_s)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.returncode != 0:
        raise TranscodeError(f"ffmpeg exited {proc.returncode}: {err.splitlines()[-1] if err else ''}"[:500])


def transcode_ladder(src: Path, out_dir: Path, *, width: int, height: int, duration_s: float,
                     has_audio: bool, codec: str = "h264", preset: str = "veryfast",
                     on_progress: Callable[[float], None] | None = None,
                     ffmpeg: str = "ffmpeg", fps: float = 0.0,
                     rung_presets: dict[str, str] | None = None) -> list[Rung]:
    """Encode the whole ladder into `out_dir` (master.m3u8, {rung}/index.m3u8 + segments, sprite.jpg)."""
    rungs = plan_ladder(width, height)
    for r in rungs:
        (out_dir / r.name).mkdir(parents=True, exist_ok=True)
    cmd = ladder_command(src, out_dir, rungs, duration_s=duration_s, has_audio=has_audio, codec=codec,
                         preset=preset, ffmpeg=ffmpeg, sprite=False, rung_presets=rung_presets)
    run_ffmpeg(cmd, duration_s=duration_s, on_progress=on_progress, fps=fps)
    make_sprite(src, out_dir / "sprite.jpg", duration_s=duration_s, ffmpeg=ffmpeg)
    check_outputs(out_dir, rungs, duration_s=duration_s)
    if on_progress:
        on_progress(1.0)
    return rungs


def make_sprite(src: Path, dest: Path, *, duration_s: float, ffmpeg: str = "ffmpeg") -> None:
    """A 5x5 thumbnail sheet (a separate run: a sprite output in the ladder process holds back
    ffmpeg's progress reports until the sheet is full)."""
    cols, rows = SPRITE_TILE
    every = max(1.0, duration_s / (cols * rows))
    # a full decode costs ~10% of the ladder; with tiles >= 10 s apart, keyframes are close enough
    skip = ["-skip_frame", "nokey"] if every >= SPRITE_KEYFRAMES_FROM_S else []
    run_ffmpeg([ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", *skip, "-i", str(src),
                "-vf", f"fps=1/{every:.3f},scale={SPRITE_WIDTH}:-2,tile={cols}x{rows}",
                "-frames:v", "1",
                "-q:v", "4", "-update", "1", str(dest)], duration_s=duration_s)


def check_outputs(out_dir: Path, rungs: list[Rung], *, duration_s: float) -> None:
    """Refuse to publish a ladder with a missing playlist or too few segments."""
    master = out_dir / "master.m3u8"
    if not master.is_file():
        raise TranscodeError("no master playlist written", reason="incomplete_output")
    want = max(1, math.ceil(duration_s / SEGMENT_SECONDS - 0.05))
    for r in rungs:
        playlist = out_dir / r.name / "index.m3u8"
        if not playlist.is_file() or "#EXT-X-ENDLIST" not in playlist.read_text():
            raise TranscodeError(f"{r.name} playlist missing or unfinished", reason="incomplete_output")
        segs = [ln for ln in playlist.read_text().splitlines() if ln and not ln.startswith("#")]
        if len(segs) < want or not all((out_dir / r.name / s).is_file() for s in segs):
            raise TranscodeError(f"{r.name} has {len(segs)} segments, expected {want}",
                                 reason="incomplete_output")
