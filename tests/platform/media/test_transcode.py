"""Real ffmpeg: a synthetic clip becomes a ladder: 6-s segments, aligned keyframes, a master playlist."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from streamverse.platform.media.probe import probe
from streamverse.platform.media.transcode import TranscodeError, check_outputs, plan_ladder, transcode_ladder


def _ffprobe(*args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", *args], check=True, capture_output=True
    ).stdout
    return json.loads(out)


def test_ladder_follows_the_source_resolution() -> None:
    assert [r.name for r in plan_ladder(3840, 2160)] == ["360p", "480p", "720p", "1080p", "2160p"]
    assert [r.name for r in plan_ladder(1920, 1080)] == ["360p", "480p", "720p", "1080p"]
    assert [(r.name, r.width, r.bitrate_bps) for r in plan_ladder(1280, 720)] == [
        ("360p", 640, 500_000),
        ("480p", 854, 1_000_000),
        ("720p", 1280, 2_500_000),
    ]
    assert [r.name for r in plan_ladder(320, 180)] == ["360p"]  # at least the lowest rung
    assert [(r.width, r.height) for r in plan_ladder(1080, 1920)][-1] == (1080, 1920)  # portrait


def test_real_ladder_is_valid(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["ladder"]  # 8 s, 854x480, with audio
    found = probe(src)
    progress: list[float] = []
    rungs = transcode_ladder(
        src,
        tmp_path,
        width=found.width,
        height=found.height,
        duration_s=found.duration_s,
        has_audio=True,
        on_progress=progress.append,
    )
    assert [r.name for r in rungs] == ["360p", "480p"]
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)

    master = (tmp_path / "master.m3u8").read_text().splitlines()
    inf = [ln for ln in master if ln.startswith("#EXT-X-STREAM-INF:")]
    assert len(inf) == 2
    assert "BANDWIDTH=" in inf[0] and "RESOLUTION=640x360" in inf[0]
    assert "RESOLUTION=854x480" in inf[1]
    bandwidths = [int(ln.split("BANDWIDTH=")[1].split(",")[0]) for ln in inf]
    assert 500_000 <= bandwidths[0] < 1_000_000 <= bandwidths[1] < 2_000_000
    assert [ln for ln in master if ln.endswith(".m3u8")] == ["360p/index.m3u8", "480p/index.m3u8"]

    keyframes = {}
    for r in rungs:
        playlist = (tmp_path / r.name / "index.m3u8").read_text()
        assert "#EXT-X-TARGETDURATION:6" in playlist and "#EXT-X-ENDLIST" in playlist
        segs = [ln for ln in playlist.splitlines() if ln.endswith(".ts")]
        assert segs == ["seg_00000.ts", "seg_00001.ts"]
        durations = [
            float(_ffprobe("-show_format", str(tmp_path / r.name / s))["format"]["duration"]) for s in segs
        ]
        assert abs(durations[0] - 6.0) < 0.15 and abs(durations[1] - 2.0) < 0.2
        info = _ffprobe("-select_streams", "v:0", "-show_streams", str(tmp_path / r.name / segs[0]))
        assert info["streams"][0]["width"] == r.width and info["streams"][0]["height"] == r.height
        frames = _ffprobe(
            "-select_streams",
            "v:0",
            "-skip_frame",
            "nokey",
            "-show_entries",
            "frame=pts_time",
            str(tmp_path / r.name / segs[0]),
        )["frames"]
        keyframes[r.name] = [round(float(f["pts_time"]), 2) for f in frames]
    # the same keyframe times in every rendition, every 2 s, so players can switch anywhere
    assert keyframes["360p"] == keyframes["480p"]
    assert len(keyframes["360p"]) == 3
    assert [round(b - a, 2) for a, b in zip(keyframes["360p"], keyframes["360p"][1:], strict=False)] == [
        2.0,
        2.0,
    ]

    sprite = _ffprobe("-show_streams", str(tmp_path / "sprite.jpg"))["streams"][0]
    assert sprite["width"] == 160 * 5


def test_h265_option_writes_hevc_fmp4(clips: dict[str, Path], tmp_path: Path) -> None:
    found = probe(clips["short"])
    transcode_ladder(
        clips["short"],
        tmp_path,
        width=found.width,
        height=found.height,
        duration_s=found.duration_s,
        has_audio=False,
        codec="h265",
        preset="ultrafast",
    )
    assert (tmp_path / "360p" / "init.mp4").is_file()
    info = _ffprobe("-show_streams", str(tmp_path / "360p" / "index.m3u8"))
    assert info["streams"][0]["codec_name"] == "hevc"


def test_incomplete_output_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    found = probe(clips["ladder"])
    rungs = transcode_ladder(
        clips["ladder"],
        tmp_path,
        width=found.width,
        height=found.height,
        duration_s=found.duration_s,
        has_audio=True,
        preset="ultrafast",
    )
    (tmp_path / "480p" / "seg_00001.ts").unlink()
    with pytest.raises(TranscodeError) as err:
        check_outputs(tmp_path, rungs, duration_s=found.duration_s)
    assert err.value.reason == "incomplete_output"
