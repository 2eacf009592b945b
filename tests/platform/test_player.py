"""The live player's HLS parsing and CMCD headers (the network loop is covered by test_live_system)."""

from __future__ import annotations

import pytest

from streamverse.platform.live.origin_source import master_playlist, media_playlist
from streamverse.platform.live.player import PlaybackFailed, cmcd_headers, parse_master, parse_media

BASE = "http://127.0.0.1:9000/t/1/abc/videos/5/master.m3u8"


def test_master_variants_sorted_with_absolute_uris() -> None:
    text = master_playlist([("1080p", 1920, 1080, 5_000_000), ("360p", 640, 360, 500_000)])
    variants = parse_master(text, BASE)
    assert [v.bandwidth for v in variants] == [500_000, 5_000_000]
    assert variants[0].uri == "http://127.0.0.1:9000/t/1/abc/videos/5/360p/index.m3u8"
    assert variants[1].resolution == "1920x1080"


def test_media_segments_and_durations() -> None:
    url = BASE.replace("master.m3u8", "720p/index.m3u8")
    segs = parse_media(media_playlist(20.0), url)
    assert [d for _, d in segs] == [6.0, 6.0, 6.0, 2.0]
    assert segs[3][0].endswith("/videos/5/720p/seg_00003.ts")


def test_empty_playlists_fail_the_session() -> None:
    with pytest.raises(PlaybackFailed) as err:
        parse_master("#EXTM3U\n", BASE)
    assert err.value.reason == "bad_manifest"
    with pytest.raises(PlaybackFailed):
        parse_media("#EXTM3U\n#EXT-X-ENDLIST\n", BASE)


def test_cmcd_headers_follow_cta_5004() -> None:
    headers = cmcd_headers({"br": 2500, "bl": 12300, "d": 6000, "ot": "v", "sf": "h", "sid": "s1",
                            "cid": "42", "mtp": 8000, "su": True, "st": "v", "v": 1, "tb": 5000})
    assert headers["CMCD-Object"] == "br=2500,d=6000,ot=v,tb=5000"
    assert headers["CMCD-Request"] == "bl=12300,mtp=8000,su"
    assert headers["CMCD-Session"] == 'cid="42",sf=h,sid="s1",st=v,v=1'
    assert "CMCD-Status" not in headers
