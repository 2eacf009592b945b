"""The live origin's objects: HLS playlists from the catalog ladder and stand-in segment bytes.

Until real transcoded files exist, a segment is deterministic bytes of the rendition's
real size (bitrate x duration / 8): a header naming the key, then 188-byte MPEG-TS-like
packets. Sizes are what matter to caches, links and players, and making 1 MB costs a
memory copy, not a transcode. The catalog is reached through a `video_info` callable so
this module never touches the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from streamverse.platform.catalog import SEGMENT_SECONDS, segment_key

TS_PACKET = 188
_PACKET = bytes([0x47, 0x1F, 0xFF, 0x10]) + bytes(range(TS_PACKET - 4))  # sync byte, null PID
_BLOCK = _PACKET * 348  # ~64 KB of packets, repeated to size

# (rendition, width, height, bitrate_bps)
Rendition = tuple[str, int, int, int]
VideoInfo = Callable[[int], Any]


def _normalise(info: Any) -> tuple[float, list[Rendition]] | None:
    """Accept `(duration_s, [(name, w, h, bps)])` or a dict with duration_s and renditions.

    Rendition tuples may also be (name, bps, w, h): widths are below 10,000 and bitrates above.
    """
    if info is None:
        return None
    if isinstance(info, dict):
        duration, rends = info.get("duration_s"), info.get("renditions") or []
    else:
        duration, rends = info
    out: list[Rendition] = []
    for r in rends:
        if isinstance(r, dict):
            out.append((str(r["name"]), int(r["width"]), int(r["height"]), int(r["bitrate_bps"])))
            continue
        name, a, b, c = r
        if int(a) > 10_000:  # (name, bitrate, width, height)
            out.append((str(name), int(b), int(c), int(a)))
        else:
            out.append((str(name), int(a), int(b), int(c)))
    out.sort(key=lambda x: x[3])
    return float(duration or 0.0), out


def segment_durations(duration_s: float) -> list[float]:
    """Durations of a title's segments: 6 s each, the last one shorter."""
    n = max(1, math.ceil(duration_s / SEGMENT_SECONDS - 1e-9))
    last = duration_s - (n - 1) * SEGMENT_SECONDS
    return [float(SEGMENT_SECONDS)] * (n - 1) + [last if last > 0 else float(SEGMENT_SECONDS)]


def segment_bytes(key: str, size: int) -> bytes:
    """Deterministic stand-in bytes for a segment: a header naming it, then TS-like packets."""
    head = f"SVSEG {key} {size}\n".encode()
    if size <= len(head):
        return head[:size]
    rest = size - len(head)
    reps = rest // len(_BLOCK) + 1
    return head + (_BLOCK * reps)[:rest]


def master_playlist(renditions: list[Rendition]) -> str:
    """The HLS master playlist: one variant per rendition, lowest bitrate first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for name, w, h, bps in renditions:
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={bps},AVERAGE-BANDWIDTH={bps},RESOLUTION={w}x{h}")
        lines.append(f"{name}/index.m3u8")
    return "\n".join(lines) + "\n"


def media_playlist(duration_s: float) -> str:
    """A VOD media playlist with relative segment URIs (the path token carries over)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for i, d in enumerate(segment_durations(duration_s)):
        lines.append(f"#EXTINF:{d:.3f},")
        lines.append(f"seg_{i:05d}.ts")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


class OriginSource:
    """Objects by key for the live origin: `source(key) -> bytes | None`, plus sizes and listings."""

    def __init__(self, *, video_info: VideoInfo) -> None:
        self._info = video_info
        # The catalog does not change while serving: remember each title's ladder.
        self._video = lru_cache(maxsize=4096)(self._load)

    def _load(self, video_id: int) -> tuple[float, list[Rendition]] | None:
        return _normalise(self._info(video_id))

    def _parse(self, key: str) -> tuple[int, list[str]] | None:
        parts = key.lstrip("/").split("/")
        if len(parts) < 3 or parts[0] != "videos" or not parts[1].isdigit():
            return None
        return int(parts[1]), parts[2:]

    def _resolve(self, key: str) -> tuple[str, Any] | None:
        """What `key` names: ("master", rends), ("media", duration) or ("segment", (size))."""
        parsed = self._parse(key)
        if parsed is None:
            return None
        video = self._video(parsed[0])
        if video is None:
            return None
        duration, rends = video
        rest = parsed[1]
        if rest == ["master.m3u8"]:
            return "master", rends
        if len(rest) != 2:
            return None
        rend = next((r for r in rends if r[0] == rest[0]), None)
        if rend is None:
            return None
        if rest[1] == "index.m3u8":
            return "media", duration
        name = rest[1]
        if not (name.startswith("seg_") and name.endswith(".ts") and name[4:-3].isdigit()):
            return None
        index = int(name[4:-3])
        durations = segment_durations(duration)
        if index >= len(durations):
            return None
        return "segment", int(rend[3] * durations[index] / 8)

    def __call__(self, key: str) -> bytes | None:
        """The object's bytes, or None when the key names nothing."""
        what = self._resolve(key)
        if what is None:
            return None
        kind, arg = what
        if kind == "master":
            return master_playlist(arg).encode()
        if kind == "media":
            return media_playlist(arg).encode()
        return segment_bytes(key.lstrip("/"), arg)

    def size_of(self, key: str) -> int | None:
        """The object's size without making a segment's bytes."""
        what = self._resolve(key)
        if what is None:
            return None
        kind, arg = what
        if kind == "segment":
            return int(arg)
        return len(master_playlist(arg) if kind == "master" else media_playlist(arg))

    def objects_for_video(self, video_id: int) -> list[tuple[str, int]]:
        """Every object of a title as (key, size): playlists first, then each rendition's segments."""
        video = self._video(video_id)
        if video is None:
            return []
        duration, rends = video
        out = [(f"videos/{video_id}/master.m3u8", len(master_playlist(rends)))]
        media_len = len(media_playlist(duration))
        durations = segment_durations(duration)
        for name, _w, _h, bps in rends:
            out.append((f"videos/{video_id}/{name}/index.m3u8", media_len))
            out.extend((segment_key(video_id, name, i), int(bps * d / 8)) for i, d in enumerate(durations))
        return out
