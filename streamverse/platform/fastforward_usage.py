"""The usage a fast-forward run reports for the costs area: cache fill, per-title egress, stored bytes.

The engine adds up bytes as it serves them (`FastForward.bytes_by_row`, `ChunkCache.fill_bytes_p`,
`.origin_fill_bytes`); this module publishes them under the names the live platform exports, so
a simulated month prices like a metered one and nothing has to be estimated:

- `streamverse_shield_bytes_sent_total{region}` and `streamverse_origin_bytes_sent_total{origin}`:
  measured fills. Every chunk the CDN fetched past an edge (once per PoP, as the CDN did), plus
  the requests the model sends past the edge (a thundering herd on a cold chunk, an edge that
  holds nothing), in represented viewers.
- `streamverse_usage_video_egress_bytes_total{video_id}`: edge bytes per title for the top
  `TOP_VIDEOS` titles of each telemetry interval and the rest under `video_id="other"`, so the
  series in use stay bounded and every byte is in exactly one of them.
- `streamverse_object_store_bytes{storage_class}`: the catalogue's renditions and originals,
  sized from durations and the ladder, plus every upload the run transcoded, in the classes the
  media service's lifecycle rules would give them (`StorageModel`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from streamverse.platform import metrics as m
from streamverse.platform.catalog import LADDER
from streamverse.platform.media.metrics import STORED_BYTES

if TYPE_CHECKING:
    from streamverse.platform.fastforward import FastForward

VIDEO_EGRESS = "streamverse_usage_video_egress_bytes_total"
OTHER_VIDEOS = "other"  # the costs area reads the same id (costs/usage.py)
TOP_VIDEOS = 20
RETIRE_AFTER = 10  # intervals out of the top before a title's series is left to go stale
ORIGINAL_BITRATE_FACTOR = 1.5  # an uploaded original runs ~1.5x its top rendition's bitrate
ORIGINAL_COLD_AFTER_S = 7 * 86_400  # media lifecycle: originals go cold after 7 days

Add = Callable[[str, tuple[tuple[str, str], ...], float, float], None]


class StorageModel:
    """Stored bytes per class: the catalogue at the run's start plus the uploads it transcoded.

    Assumptions, so the figures can be checked: the seeded catalogue is older than 30 days, so
    the lifecycle has moved its renditions to warm except the popular tenth (read often enough to
    stay hot, the titles fast-forward prewarms) and its originals to cold. An upload adds a mean
    title: renditions hot (younger than 30 days), original hot for 7 days, then cold.
    """

    def __init__(self, catalog: dict[str, np.ndarray], *, hot_share: float) -> None:
        bps = np.array([rung[3] for rung in LADDER], dtype=float)
        top = catalog["max_ladder_index"].astype(int)
        dur = catalog["duration_s"].astype(float)
        renditions = dur * np.cumsum(bps)[top] / 8.0
        originals = dur * bps[top] * ORIGINAL_BITRATE_FACTOR / 8.0
        head = max(1, int(len(dur) * hot_share))  # rows are in popularity order
        self.base = {"hot": float(renditions[:head].sum()), "warm": float(renditions[head:].sum()),
                     "cold": float(originals.sum()), "archive": 0.0}
        self.upload_renditions = float(renditions.mean())
        self.upload_original = float(originals.mean())
        self._done: list[tuple[float, float]] = []  # (time, uploads transcoded so far)
        self._aged = 0  # index into _done of the newest entry at least a week old

    def bytes_by_class(self, ts: float, done: float) -> dict[str, float]:
        """Every class (zero when empty, as the object store reports them) at `ts`."""
        self._done.append((ts, done))
        week_ago = ts - ORIGINAL_COLD_AFTER_S
        while self._aged + 1 < len(self._done) and self._done[self._aged + 1][0] <= week_ago:
            self._aged += 1
        t0, d0 = self._done[self._aged]
        old = d0 if t0 <= week_ago else 0.0
        out = dict(self.base)
        out["hot"] += done * self.upload_renditions + (done - old) * self.upload_original
        out["cold"] += old * self.upload_original
        return out


class TitleEgress:
    """Top-N per-title egress counters with an `other` remainder; anchors keep `increase()` exact.

    A title's counter only grows while it is in the top; outside it its bytes go to `other`, so
    no byte counts twice. A title (re)entering gets an anchor sample one interval back holding its
    previous total, so the first interval's bytes land inside the window that reads them.
    """

    def __init__(self, video_ids: list[int], *, step_s: float) -> None:
        self.video_ids, self.step_s = video_ids, step_s
        self.last = np.zeros(len(video_ids))
        self.total: dict[int, float] = {}
        self.absent: dict[int, int] = {}  # rows with a live series -> intervals out of the top
        self.other = 0.0

    def scrape(self, add: Add, ts: float, bytes_by_row: np.ndarray) -> None:
        """Write this interval's top titles and `other` (cumulative counters)."""
        delta = np.maximum(bytes_by_row - self.last, 0.0)
        self.last = bytes_by_row.copy()
        k = min(TOP_VIDEOS, len(delta))
        top = [int(r) for r in np.argpartition(delta, -k)[-k:] if delta[r] > 0]
        self.other += float(delta.sum()) - float(delta[top].sum())
        for r in top:
            if r not in self.absent:
                add(VIDEO_EGRESS, self._labels(r), ts - self.step_s, self.total.get(r, 0.0))
            self.total[r] = self.total.get(r, 0.0) + float(delta[r])
            self.absent[r] = 0
        for r in list(self.absent):
            if r not in top:
                self.absent[r] += 1
                if self.absent[r] > RETIRE_AFTER:
                    del self.absent[r]
                    continue
            add(VIDEO_EGRESS, self._labels(r), ts, self.total[r])
        add(VIDEO_EGRESS, (("video_id", OTHER_VIDEOS),), ts, self.other)

    def _labels(self, row: int) -> tuple[tuple[str, str], ...]:
        return (("video_id", str(int(self.video_ids[row]))),)


class UsageTelemetry:
    """Adds the run's cost usage to each telemetry scrape."""

    def __init__(self, engine: FastForward, *, step_s: float) -> None:
        from streamverse.platform.fastforward import PREWARM_SHARE

        self.ff = engine
        self.titles = TitleEgress(engine.video_ids, step_s=step_s)
        self.storage = StorageModel(engine.catalog, hot_share=PREWARM_SHARE)

    def scrape(self, add: Add, ts: float) -> None:
        """Fill bytes per region and origin, per-title egress, stored bytes per class."""
        ff = self.ff
        fill_r = np.bincount(ff.pop_region, weights=ff.chunks.fill_bytes_p, minlength=len(ff.regions))
        for r, region in enumerate(ff.regions):
            add(m.SHIELD_BYTES, (("region", region),), ts, float(fill_r[r]))
        for origin, n in sorted(ff.chunks.origin_fill_bytes.items()):
            add(m.ORIGIN_BYTES, (("origin", origin),), ts, float(n))
        self.titles.scrape(add, ts, ff.bytes_by_row)
        for cls, n in self.storage.bytes_by_class(ts, ff.transcode.done).items():
            add(STORED_BYTES, (("storage_class", cls),), ts, n)
