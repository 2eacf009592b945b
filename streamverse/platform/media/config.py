"""Media pipeline limits and choices, one typed object passed in (defaults are the embedded setup)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """Upload limits, encoder choices and check policy."""

    max_upload_bytes: int = 8 * 1024**3
    user_quota_bytes: int = 50 * 1024**3
    uploads_per_hour: int = 20
    max_chunk_bytes: int = 64 * 1024**2
    codec: str = "h264"
    # Encoder speed vs quality. Every rung uses `preset` unless `rung_presets` names a FASTER one
    # for it (a slower override is ignored, so preset="ultrafast" still means ultrafast everywhere).
    # Why: 1080p holds ~57% of the ladder's pixels, so its preset sets the ladder's cost. Measured
    # on this 2-core machine (bench/transcode.py, 1080p source, CPU seconds per 10 s of video):
    # all veryfast 18.7 (~1.07x real time on 2 free cores: too close to the target), 1080p
    # superfast 14.1 (~1.4x), 1080p ultrafast 12.2 (~1.6x, but no CABAC or deblocking: visible
    # blocking at 5 Mbps). superfast keeps CABAC and deblocking; at the same bitrate it costs
    # roughly 10-15% more bits than veryfast for equal quality on the top rung only, while the
    # renditions most viewers on weak links get (360p-720p) stay at veryfast.
    preset: str = "veryfast"
    rung_presets: tuple[tuple[str, str], ...] = (("1080p", "superfast"), ("2160p", "ultrafast"))
    require_scan: bool = False  # when True, files that could not be scanned are refused
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    job_max_attempts: int = 3
