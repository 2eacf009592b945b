"""Pipeline telemetry as Prometheus metrics, on a registry of its own (or one passed in).

No label carries a user, a file name or an IP: only stages, reasons, renditions and classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

QUEUE_JOBS = "streamverse_media_queue_jobs"
RENDITION_SECONDS = "streamverse_transcode_rendition_seconds"
JOB_SECONDS = "streamverse_transcode_job_seconds"
UPLOAD_TO_PLAYABLE = "streamverse_upload_to_playable_seconds"
# The promise is "an hour of video playable within 15 minutes": normalise by the video's length.
UPLOAD_TO_PLAYABLE_PER_HOUR = "streamverse_upload_to_playable_seconds_per_video_hour"
FAILURES = "streamverse_media_failures_total"
STORED_BYTES = "streamverse_object_store_bytes"
UPLOADS = "streamverse_uploads_total"
UPLOAD_BYTES = "streamverse_upload_bytes_received_total"
SCANS = "streamverse_media_scans_total"

_JOB_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 3600)


class _Pull(Collector):
    """A gauge family computed at scrape time (queue depth, bytes per class)."""

    def __init__(self, name: str, doc: str, label: str, read: Callable[[], dict[str, int]]) -> None:
        self.name, self.doc, self.label, self.read = name, doc, label, read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.doc, labels=[self.label])
        try:
            values = self.read()
        except Exception:  # noqa: BLE001 - a scrape must not fail because a backend is down
            values = {}
        for key, value in values.items():
            family.add_metric([key], value)
        yield family


class MediaMetrics:
    """Upload, check, transcode and storage metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rendition_seconds = Histogram(RENDITION_SECONDS, "Wall seconds to encode one rendition",
                                           ["rendition", "codec"], buckets=_JOB_BUCKETS, registry=r)
        self.job_seconds = Histogram(JOB_SECONDS, "Wall seconds per transcode job attempt", ["status"],
                                     buckets=_JOB_BUCKETS, registry=r)
        self.upload_to_playable = Histogram(UPLOAD_TO_PLAYABLE, "Upload complete to playable",
                                            buckets=_JOB_BUCKETS, registry=r)
        self.upload_to_playable_per_hour = Histogram(
            UPLOAD_TO_PLAYABLE_PER_HOUR, "Upload complete to playable, per hour of video",
            buckets=_JOB_BUCKETS, registry=r)
        self.failures = Counter(FAILURES[: -len("_total")], "Media pipeline failures",
                                ["stage", "reason"], registry=r)
        self.uploads = Counter(UPLOADS[: -len("_total")], "Uploads by outcome", ["status"], registry=r)
        self.upload_bytes = Counter(UPLOAD_BYTES[: -len("_total")], "Upload body bytes received",
                                    registry=r)
        self.scans = Counter(SCANS[: -len("_total")], "Malware scans by result", ["state"], registry=r)

    def watch_queue(self, depth: Callable[[], dict[str, int]]) -> None:
        """Export the queue's depth per state at scrape time."""
        self.registry.register(_Pull(QUEUE_JOBS, "Transcode jobs per state", "state", depth))

    def watch_store(self, bytes_by_class: Callable[[], dict[str, int]]) -> None:
        """Export bytes stored per storage class at scrape time."""
        self.registry.register(_Pull(STORED_BYTES, "Bytes in the object store per class", "storage_class",
                                     bytes_by_class))
