"""The media service as the live runner hosts it: origin reads in front of the synthetic source, lifecycle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from streamverse.clock import RealClock
from streamverse.db import get_engine, init_db
from streamverse.platform.live.origin_source import OriginSource
from streamverse.platform.media.live import chain_sizes, chain_sources, start_media
from streamverse.platform.media.object_store import LifecycleRule
from streamverse.platform.media.queue import RedisJobQueue
from streamverse.platform.media.transcode import ladder_command, plan_ladder, rung_preset
from streamverse.settings import Settings

LADDER = [("360p", 640, 360, 500_000)]


def test_start_media_serves_uploads_reads_renditions_first_and_runs_lifecycle(tmp_path: Path,
                                                                              redis_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url, jwt_secret="s" * 40)
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_db(engine)

    async def go() -> None:
        media = await start_media(settings, engine=engine, clock=RealClock(), host="127.0.0.1", workers=0,
                                  lifecycle_interval_s=0.05,
                                  lifecycle_rules=(LifecycleRule("uploads/", 0, "cold"),))
        try:
            assert isinstance(media.queue, RedisJobQueue)  # Redis when configured
            assert media.store.root == settings.data_dir / "objects"
            async with httpx.AsyncClient(base_url=media.url) as http:
                health = (await http.get("/health")).json()
                assert health["service"] == "uploads" and health["scanner"] in ("clamdscan", "not_scanned")
                opts = await http.options("/v1/uploads", headers={"Tus-Resumable": "1.0.0"})
                assert opts.status_code == 204
            real = b"#EXTM3U\n#EXT-X-VERSION:3\n# real rendition\n"
            media.store.put_bytes("videos/2/360p/index.m3u8", real)
            media.store.put_bytes("uploads/2/original", b"private original")
            synthetic = OriginSource(video_info=lambda vid: (12.0, LADDER) if vid in (1, 2) else None)
            read = chain_sources(media.origin_read, synthetic)
            size_of = chain_sizes(media.size_of, synthetic.size_of)
            assert read("videos/2/360p/index.m3u8") == real  # the uploaded video's own files win
            assert size_of("videos/2/360p/index.m3u8") == len(real)
            seeded = read("videos/1/360p/index.m3u8")  # seeded titles stay synthetic
            assert seeded is not None and b"seg_00001.ts" in seeded
            assert size_of("videos/1/360p/seg_00000.ts") == 500_000 * 6 // 8
            assert media.origin_read("uploads/2/original") is None  # originals never leave via the origin
            assert media.size_of("uploads/2/original") is None
            assert media.origin_read("videos/../uploads/2/original") is None
            assert read("videos/3/master.m3u8") is None and size_of("videos/3/master.m3u8") is None
            for _ in range(100):
                if media.store.storage_class("uploads/2/original") == "cold":
                    break
                await asyncio.sleep(0.05)
            assert media.store.storage_class("uploads/2/original") == "cold"
            assert media.store.storage_class("videos/2/360p/index.m3u8") == "hot"
        finally:
            await media.stop()
        assert media.task.done()

    asyncio.run(go())


def test_rung_presets_only_ever_make_a_rung_faster(tmp_path: Path) -> None:
    overrides = {"1080p": "superfast", "2160p": "ultrafast", "720p": "slow"}
    assert rung_preset("1080p", "veryfast", overrides) == "superfast"
    assert rung_preset("720p", "veryfast", overrides) == "veryfast"  # slower override ignored
    assert rung_preset("1080p", "ultrafast", overrides) == "ultrafast"  # tests asking for speed get it
    assert rung_preset("480p", "veryfast", overrides) == "veryfast"
    rungs = plan_ladder(1920, 1080)
    cmd = ladder_command(tmp_path / "in.mp4", tmp_path, rungs, duration_s=10, has_audio=True,
                         preset="veryfast", rung_presets=overrides)
    pairs = {cmd[i]: cmd[i + 1] for i in range(len(cmd) - 1) if cmd[i].startswith("-preset")}
    assert pairs == {"-preset:v:0": "veryfast", "-preset:v:1": "veryfast", "-preset:v:2": "veryfast",
                     "-preset:v:3": "superfast"}
