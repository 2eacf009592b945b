"""The platform's Prometheus metrics, one definition shared by every service.

Names follow Prometheus conventions (base units, `_total` counters, low-cardinality
labels) and are the series the SLOs, alerts and cost meters are written against.
Fast-forward runs write samples under the same names, so both drivers look alike.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Buckets fitted to each quantity: edge latencies in ms, startup around the 1 s target.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
STARTUP_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)

EDGE_REQUESTS = "streamverse_edge_requests_total"
EDGE_BYTES = "streamverse_edge_bytes_sent_total"
SHIELD_REQUESTS = "streamverse_shield_requests_total"
SHIELD_BYTES = "streamverse_shield_bytes_sent_total"
ORIGIN_REQUESTS = "streamverse_origin_requests_total"
ORIGIN_BYTES = "streamverse_origin_bytes_sent_total"
REQUEST_DURATION = "streamverse_request_duration_seconds"
STARTUP = "streamverse_playback_startup_seconds"
REBUFFER = "streamverse_rebuffer_seconds_total"
PLAYBACK = "streamverse_playback_seconds_total"
PLAYBACK_SESSIONS = "streamverse_playback_sessions_total"
PLAYBACK_ERRORS = "streamverse_playback_errors_total"
RATELIMITED = "streamverse_gateway_ratelimited_total"
GATEWAY_REQUESTS = "streamverse_gateway_requests_total"
RATELIMIT_BACKEND_ERRORS = "streamverse_ratelimit_backend_errors_total"
CACHE_BYTES = "streamverse_cache_bytes"
POP_HEALTHY = "streamverse_pop_healthy"
DNS_ANSWERS = "streamverse_dns_answers_total"
VIDEO_START_SHARE = "streamverse_video_start_share"
VIDEO_START_SURGE = "streamverse_video_start_surge"
TRANSCODE_QUEUE = "streamverse_transcode_queue_depth"
TRANSCODE_JOBS = "streamverse_transcode_jobs_total"


class PlatformMetrics:
    """All platform metrics registered on one registry (one per service process/port)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.edge_requests = Counter(
            EDGE_REQUESTS[: -len("_total")], "Requests served by an edge PoP",
            ["region", "pop", "cache", "code"], registry=r)
        self.edge_bytes = Counter(
            EDGE_BYTES[: -len("_total")], "Body bytes sent to viewers by an edge PoP",
            ["region", "pop"], registry=r)
        self.shield_requests = Counter(
            SHIELD_REQUESTS[: -len("_total")], "Requests reaching a regional shield",
            ["region", "cache", "code"], registry=r)
        self.shield_bytes = Counter(
            SHIELD_BYTES[: -len("_total")], "Bytes a regional shield sent to its PoPs (cache fill)",
            ["region"], registry=r)
        self.origin_requests = Counter(
            ORIGIN_REQUESTS[: -len("_total")], "Requests reaching an origin",
            ["origin", "code"], registry=r)
        self.origin_bytes = Counter(
            ORIGIN_BYTES[: -len("_total")], "Bytes sent by an origin", ["origin"], registry=r)
        self.request_duration = Histogram(
            REQUEST_DURATION, "Server-side request duration",
            ["service", "region", "route", "code"], buckets=LATENCY_BUCKETS, registry=r)
        self.startup = Histogram(
            STARTUP, "Play request to first frame, seen by players",
            ["region"], buckets=STARTUP_BUCKETS, registry=r)
        self.rebuffer = Counter(
            REBUFFER[: -len("_total")], "Seconds players spent stalled", ["region"], registry=r)
        self.playback = Counter(
            PLAYBACK[: -len("_total")], "Seconds of video played", ["region"], registry=r)
        self.playback_sessions = Counter(
            PLAYBACK_SESSIONS[: -len("_total")], "Playback sessions started",
            ["region"], registry=r)
        self.playback_errors = Counter(
            PLAYBACK_ERRORS[: -len("_total")], "Playback sessions that failed",
            ["region", "reason"], registry=r)
        self.ratelimited = Counter(
            RATELIMITED[: -len("_total")], "Requests refused by the gateway rate limiter",
            ["scope"], registry=r)
        self.gateway_requests = Counter(
            GATEWAY_REQUESTS[: -len("_total")], "Requests through the API gateway",
            ["route", "code"], registry=r)
        self.ratelimit_backend_errors = Counter(
            RATELIMIT_BACKEND_ERRORS[: -len("_total")],
            "Rate-limit decisions made without the backend (Redis unreachable)",
            ["policy"], registry=r)
        self.cache_bytes = Gauge(
            CACHE_BYTES, "Bytes held in a cache", ["tier", "region", "pop"], registry=r)
        self.pop_healthy = Gauge(
            POP_HEALTHY, "1 when GeoDNS health checks pass for the PoP",
            ["region", "pop"], registry=r)
        self.dns_answers = Counter(
            DNS_ANSWERS[: -len("_total")], "GeoDNS answers by client region and PoP",
            ["client_region", "pop"], registry=r)
        self.video_start_share = Gauge(
            VIDEO_START_SHARE, "Share of play starts over the last 30 s, top titles only",
            ["video_id"], registry=r)
        self.video_start_surge = Gauge(
            VIDEO_START_SURGE, "Share of play starts over the last window minus the title's share over "
            "the last 10 minutes, top titles only", ["video_id"], registry=r)
        self.transcode_queue = Gauge(
            TRANSCODE_QUEUE, "Transcode jobs waiting", registry=r)
        self.transcode_jobs = Counter(
            TRANSCODE_JOBS[: -len("_total")], "Transcode jobs finished", ["status"], registry=r)
