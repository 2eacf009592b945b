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
    preset: str = "veryfast"
    require_scan: bool = False  # when True, files that could not be scanned are refused
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    job_max_attempts: int = 3
