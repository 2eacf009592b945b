"""ffprobe checks and the scan step on real files: good clips pass, every kind of bad file is named."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from streamverse.platform.media.config import MediaConfig
from streamverse.platform.media.pipeline import check_file
from streamverse.platform.media.probe import probe
from streamverse.platform.media.scan import ModerationResult, Scanner


def test_a_real_clip_passes_with_its_properties(clips: dict[str, Path]) -> None:
    found = probe(clips["short"])
    assert found.ok, found.detail
    assert (found.width, found.height) == (426, 240)
    assert 2.9 < found.duration_s < 3.2
    assert found.has_audio and found.codec == "h264" and found.fps == 25


def test_zip_renamed_mp4_is_named_as_a_zip(tmp_path: Path, clips: dict[str, Path]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("movie.mp4", clips["short"].read_bytes())
    bad = tmp_path / "holiday.mp4"
    bad.write_bytes(buf.getvalue())
    found = probe(bad)
    assert not found.ok and found.reason == "not_a_video" and "zip" in (found.detail or "")


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("these are not the frames you are looking for\n" * 50)
    found = probe(bad)
    assert not found.ok and found.reason == "not_a_video"


def test_truncated_files_are_caught_both_layouts(tmp_path: Path, clips: dict[str, Path]) -> None:
    for name in ("short", "faststart"):  # index at the end, and index up front
        data = clips[name].read_bytes()
        cut = tmp_path / f"{name}-cut.mp4"
        cut.write_bytes(data[: len(data) * 6 // 10])
        found = probe(cut)
        assert not found.ok, name
        assert found.reason == "truncated", (name, found.reason, found.detail)


def test_audio_only_has_no_video_stream(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "tone.m4a"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300",
            "-t",
            "1",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
    )
    found = probe(path)
    assert not found.ok and found.reason == "no_video_stream"


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.mp4").write_bytes(b"")
    assert probe(tmp_path / "e.mp4").reason == "empty"


def test_scan_without_clamdscan_is_not_scanned_never_clean(clips: dict[str, Path]) -> None:
    scanner = Scanner(clamdscan="" if shutil.which("clamdscan") is None else None)
    result = scanner.scan(clips["short"])
    if shutil.which("clamdscan") is None:
        assert result.state == "not_scanned" and "clamdscan" in result.detail
    else:
        assert result.state in ("clean", "error")


def test_require_scan_refuses_unscanned_and_moderation_hook_refuses(clips: dict[str, Path]) -> None:
    scanner = Scanner(clamdscan="")
    _, state, refusal = check_file(
        clips["short"], config=MediaConfig(require_scan=True), scanner=scanner, moderation=None, metrics=None
    )
    assert state == "not_scanned" and refusal is not None and refusal.stage == "scan"
    _, state, refusal = check_file(
        clips["short"],
        config=MediaConfig(),
        scanner=scanner,
        moderation=lambda _p, f: ModerationResult(f.duration_s > 60, "too short"),
        metrics=None,
    )
    assert state == "not_scanned" and refusal is not None and refusal.reason == "moderation"
    _, _, refusal = check_file(
        clips["short"], config=MediaConfig(), scanner=scanner, moderation=None, metrics=None
    )
    assert refusal is None
