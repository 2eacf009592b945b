"""Real-user monitoring: validate player beacons and fold them into QoE series.

Definitions follow Mux / CTA-2066, per view (one `session_id` = one view):
- video startup time: play request to first frame (`startup_ms` of the `start` beacon);
- rebuffer percentage: rebuffer time / watch time, where watch time is startup plus
  played plus stalled time (Mux counts startup and stalls as watched);
- playback failure %: views that ended on a fatal `error` / views;
- exits before video start (EBVS) %: views that ended (an `end` beacon, or silence for
  `idle_view_s`) with no first frame and no fatal error / views;
- average bitrate: played-time-weighted mean of the rendition bitrate;
- upshifts / downshifts: changes of the reported bitrate within a view.

Beacons carry cumulative `rebuffer_s` (and `played_s` when the player knows it), so a
lost or repeated heartbeat never double-counts. Everything is aggregated in memory (the
hot path is plain dict and float work) and written to the metric store as counters and
a histogram on `flush()`, so `rate()` and `histogram_quantile()` answer in either backend.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamverse.clock import Clock
from streamverse.metricstore import MetricStore, Sample
from streamverse.platform.metrics import STARTUP_BUCKETS

log = logging.getLogger(__name__)

EVENTS = frozenset({"play", "start", "heartbeat", "rebuffer", "bitrate_change", "error", "end"})
MAX_BATCH = 10_000
INGEST_KEY_FILE = "rum_ingest.key"
DIMS = ("region", "pop", "device")
_BUCKETS = (*STARTUP_BUCKETS, math.inf)
_KEEP_STARTUPS = 20_000  # exact percentiles from the newest startups of each group
_MAX_STR = 128


def resolved_ingest_key(data_dir: Path) -> str:
    """The RUM ingest key of a data dir, created once (0600) like the control key."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / INGEST_KEY_FILE
    if not path.exists():
        path.write_text("rum_" + secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


# -- validation ------------------------------------------------------------------------------
def _num(
    b: Mapping[str, Any], name: str, errors: list[dict[str, Any]], index: int, *, required: bool = False
) -> float | None:
    v = b.get(name)
    if v is None:
        if required:
            errors.append({"index": index, "field": name, "error": "required"})
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        errors.append({"index": index, "field": name, "error": "must be a finite number >= 0"})
        return None
    return float(v)


def _str(
    b: Mapping[str, Any], name: str, errors: list[dict[str, Any]], index: int, *, required: bool = True
) -> str | None:
    v = b.get(name)
    if v is None or v == "":
        if required:
            errors.append({"index": index, "field": name, "error": "required"})
        return None
    if not isinstance(v, str) or len(v) > _MAX_STR:
        errors.append(
            {"index": index, "field": name, "error": f"must be a string of at most {_MAX_STR} chars"}
        )
        return None
    return v


@dataclass(slots=True)
class RumBeacon:
    """One validated beacon, reduced to what the aggregation reads."""

    session_id: str
    region: str
    pop: str
    device: str
    video_id: str
    event: str
    ts: float
    startup_ms: float | None
    rebuffer_s: float | None
    played_s: float | None
    bitrate_bps: float | None
    error_code: str | None
    fatal: bool


def validate_beacon(b: Any, index: int, *, now: float) -> tuple[RumBeacon | None, list[dict[str, Any]]]:
    """The beacon, or None and one error per bad field (with the beacon's index)."""
    if not isinstance(b, dict):
        return None, [{"index": index, "field": "", "error": "beacon must be a JSON object"}]
    errors: list[dict[str, Any]] = []
    sid = _str(b, "session_id", errors, index)
    region = _str(b, "region", errors, index)
    device = _str(b, "device", errors, index)
    pop = _str(b, "pop", errors, index, required=False)
    event = b.get("event")
    if event not in EVENTS:
        errors.append(
            {"index": index, "field": "event", "error": f"must be one of {', '.join(sorted(EVENTS))}"}
        )
    vid = b.get("video_id")
    if isinstance(vid, bool) or not (
        isinstance(vid, int) and vid >= 0 or isinstance(vid, str) and vid.isdigit() and len(vid) < 20
    ):
        errors.append({"index": index, "field": "video_id", "error": "required, an integer >= 0"})
    ts = _num(b, "ts", errors, index)
    startup = _num(b, "startup_ms", errors, index, required=event == "start")
    rebuffer = _num(b, "rebuffer_s", errors, index)
    played = _num(b, "played_s", errors, index)
    if played is None and isinstance(b.get("extra"), dict) and "played_s" in b["extra"]:
        played = _num(b["extra"], "played_s", errors, index)
    bitrate = _num(b, "bitrate_bps", errors, index)
    code = b.get("error_code")
    if event == "error" and (not isinstance(code, str) or not code):
        errors.append({"index": index, "field": "error_code", "error": "required for an error event"})
    elif code is not None and not isinstance(code, str):
        errors.append({"index": index, "field": "error_code", "error": "must be a string"})
    fatal = b.get("fatal", True)
    if not isinstance(fatal, bool):
        errors.append({"index": index, "field": "fatal", "error": "must be true or false"})
    if errors:
        return None, errors
    return RumBeacon(
        sid,
        region,
        pop or "",
        device,
        str(vid),
        event,
        ts if ts else now,  # type: ignore[arg-type]
        startup,
        rebuffer,
        played,
        bitrate,
        code,
        fatal,
    ), []


# -- aggregation -----------------------------------------------------------------------------
@dataclass(slots=True)
class QoeTotals:
    """Counters of one group (region/PoP/device, or one video)."""

    views: int = 0
    failures: int = 0
    ebvs: int = 0
    ended: int = 0
    rebuffer_s: float = 0.0
    watch_s: float = 0.0
    played_s: float = 0.0
    played_bits: float = 0.0
    upshifts: int = 0
    downshifts: int = 0
    startup_buckets: list[int] = field(default_factory=lambda: [0] * len(_BUCKETS))
    startup_sum_s: float = 0.0
    startup_count: int = 0
    startups: deque[float] = field(default_factory=lambda: deque(maxlen=_KEEP_STARTUPS))
    touched: float = 0.0

    def observe_startup(self, seconds: float) -> None:
        """One startup into the histogram and the exact-percentile window."""
        for i, le in enumerate(_BUCKETS):
            if seconds <= le:
                self.startup_buckets[i] += 1
                break
        self.startup_sum_s += seconds
        self.startup_count += 1
        self.startups.append(seconds)

    def summary(self) -> dict[str, Any]:
        """The QoE figures of this group (ratios None when there is no denominator)."""
        s = np.fromiter(self.startups, dtype=np.float64)
        p50, p95 = np.percentile(s, [50, 95], method="inverted_cdf") if len(s) else (None, None)
        return {
            "views": self.views,
            "ended_views": self.ended,
            "startup_p50_s": None if p50 is None else float(p50),
            "startup_p95_s": None if p95 is None else float(p95),
            "rebuffer_pct": 100 * self.rebuffer_s / self.watch_s if self.watch_s > 0 else None,
            "playback_failure_pct": 100 * self.failures / self.views if self.views else None,
            "ebvs_pct": 100 * self.ebvs / self.views if self.views else None,
            "avg_bitrate_bps": self.played_bits / self.played_s if self.played_s > 0 else None,
            "upshifts": self.upshifts,
            "downshifts": self.downshifts,
            "watch_s": self.watch_s,
            "rebuffer_s": self.rebuffer_s,
        }


@dataclass(slots=True)
class _View:
    groups: tuple[QoeTotals, QoeTotals]
    started: bool = False
    failed: bool = False
    rebuffer_s: float = 0.0
    played_s: float = 0.0
    bitrate: float = 0.0
    last_ts: float = 0.0


class RumAggregator:
    """Batches in, QoE counters out; idempotent per batch id."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: MetricStore | Callable[[], MetricStore] | None = None,
        flush_interval_s: float = 10.0,
        idle_view_s: float = 600.0,
        remember_batches: int = 200_000,
    ) -> None:
        self.clock = clock
        self._store = store
        self.flush_interval_s = flush_interval_s
        self.idle_view_s = idle_view_s
        self.remember_batches = remember_batches
        self.groups: dict[tuple[str, str, str], QoeTotals] = {}
        self.videos: dict[str, QoeTotals] = {}
        self.views: dict[str, _View] = {}
        self.batches: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self.beacons = {"accepted": 0, "rejected": 0, "duplicate": 0}
        self.batch_counts = {"accepted": 0, "duplicate": 0}
        self.last_flush = clock.now()

    @property
    def store(self) -> MetricStore | None:
        """The store, opened on first flush when a factory was given."""
        if callable(self._store) and not hasattr(self._store, "write"):
            self._store = self._store()
        return self._store  # type: ignore[return-value]

    # Idempotency: the id is hashed so an attacker-sized id does not sit in memory.
    @staticmethod
    def _batch_key(batch_id: str) -> str:
        return hashlib.blake2b(batch_id.encode(), digest_size=16).hexdigest()

    def ingest_batch(self, batch_id: str, beacons: Sequence[Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 202 all kept, 422 some rejected (the rest kept), replay for a repeat."""
        key = self._batch_key(batch_id)
        seen = self.batches.get(key)
        if seen is not None:
            self.batch_counts["duplicate"] += 1
            self.beacons["duplicate"] += len(beacons)
            status, body = seen
            return (200 if status == 202 else status), {**body, "duplicate": True}
        now = self.clock.now()
        errors: list[dict[str, Any]] = []
        accepted = 0
        for i, raw in enumerate(beacons):
            beacon, errs = validate_beacon(raw, i, now=now)
            if beacon is None:
                errors.extend(errs)
                continue
            self.add(beacon, now=now)
            accepted += 1
        rejected = len({e["index"] for e in errors})
        self.beacons["accepted"] += accepted
        self.beacons["rejected"] += rejected
        self.batch_counts["accepted"] += 1
        body: dict[str, Any] = {
            "batch_id": batch_id,
            "accepted": accepted,
            "rejected": rejected,
            "duplicate": False,
        }
        status = 202
        if errors:
            status = 422
            body["detail"] = [
                {
                    "loc": ["body", "beacons", e["index"], e["field"]],
                    "msg": e["error"],
                    "type": "value_error",
                    **e,
                }
                for e in errors
            ]
            body["message"] = (
                f"{rejected} of {len(beacons)} beacons rejected (see detail); the other "
                f"{accepted} were kept; do not resend them"
            )
        self.batches[key] = (status, body)
        if len(self.batches) > self.remember_batches:
            self.batches.popitem(last=False)
        if now - self.last_flush >= self.flush_interval_s:
            try:
                self.flush(at=now)
            except Exception:  # totals are cumulative: the next flush writes what this one missed
                log.exception("RUM flush to the metric store failed; will retry")
        return status, body

    def add(self, b: RumBeacon, *, now: float | None = None) -> None:
        """Fold one valid beacon into its view and its groups (`now`: arrival, for activity)."""
        arrived = b.ts if now is None else now
        view = self.views.get(b.session_id)
        if view is None:
            gkey = (b.region, b.pop, b.device)
            g = self.groups.get(gkey)
            if g is None:
                g = self.groups[gkey] = QoeTotals()
            v = self.videos.get(b.video_id)
            if v is None:
                v = self.videos[b.video_id] = QoeTotals()
            view = self.views[b.session_id] = _View((g, v), last_ts=b.ts)
            g.views += 1
            v.views += 1
        groups = view.groups
        dt_ts = max(0.0, b.ts - view.last_ts)
        view.last_ts = max(view.last_ts, b.ts)
        watch = 0.0
        stalled = 0.0
        if b.rebuffer_s is not None and b.rebuffer_s > view.rebuffer_s:
            stalled = b.rebuffer_s - view.rebuffer_s
            view.rebuffer_s = b.rebuffer_s
        if b.played_s is not None:
            played = max(0.0, b.played_s - view.played_s)
            view.played_s = max(view.played_s, b.played_s)
        else:  # no player clock: the time between beacons of a started view, less its stalls
            played = max(0.0, dt_ts - stalled) if view.started else 0.0
        bits = played * view.bitrate
        watch = played + stalled
        ev = b.event
        shift = 0
        if (
            b.bitrate_bps
            and view.started
            and view.bitrate
            and b.bitrate_bps != view.bitrate
            and ev != "start"
        ):
            shift = 1 if b.bitrate_bps > view.bitrate else -1
        if b.bitrate_bps:
            view.bitrate = b.bitrate_bps
        startup = None
        if ev == "start" and not view.started:
            view.started = True
            startup = (b.startup_ms or 0.0) / 1000.0
            watch += startup
        for g in groups:
            g.touched = arrived
            g.rebuffer_s += stalled
            g.played_s += played
            g.played_bits += bits
            g.watch_s += watch
            if shift > 0:
                g.upshifts += 1
            elif shift < 0:
                g.downshifts += 1
            if startup is not None:
                g.observe_startup(startup)
        if ev == "error" and b.fatal and not view.failed:
            view.failed = True
            self._end(b.session_id, view)
        elif ev == "end":
            self._end(b.session_id, view)

    def _end(self, sid: str, view: _View) -> None:
        for g in view.groups:
            g.ended += 1
            if view.failed:
                g.failures += 1
            elif not view.started:
                g.ebvs += 1
        self.views.pop(sid, None)

    def expire_idle(self, *, now: float) -> int:
        """Views silent for `idle_view_s` end now (an abandoned view before start is an EBVS)."""
        old = [(sid, v) for sid, v in self.views.items() if now - v.last_ts >= self.idle_view_s]
        for sid, v in old:
            self._end(sid, v)
        return len(old)

    # -- output -------------------------------------------------------------------------------
    def samples(self, *, at: float, active_s: float = 900.0) -> list[Sample]:
        """Every group's counters and histogram as samples stamped `at` (quiet groups skipped)."""
        out: list[Sample] = []
        for (region, pop, device), g in self.groups.items():
            if at - g.touched <= active_s:
                out.extend(
                    _group_samples(
                        "streamverse_rum_", {"region": region, "pop": pop, "device": device}, g, at
                    )
                )
        for video, g in self.videos.items():
            if at - g.touched <= active_s:
                out.extend(_group_samples("streamverse_rum_video_", {"video_id": video}, g, at))
        for result, n in self.beacons.items():
            out.append(Sample("streamverse_rum_beacons_total", {"result": result}, at, float(n)))
        for result, n in self.batch_counts.items():
            out.append(Sample("streamverse_rum_batches_total", {"result": result}, at, float(n)))
        out.append(Sample("streamverse_rum_open_views", {}, at, float(len(self.views))))
        return out

    def flush(self, *, at: float | None = None) -> int:
        """End idle views and write the series to the store; returns the samples written."""
        at = self.clock.now() if at is None else at
        self.last_flush = at
        self.expire_idle(now=at)
        if self.store is None:
            return 0
        return self.store.write(self.samples(at=at))

    def summary(self, *, by: str = "region") -> dict[str, dict[str, Any]]:
        """QoE per region, pop, device or video (the groups merged along the others)."""
        if by == "video":
            return {vid: g.summary() for vid, g in self.videos.items()}
        pos = DIMS.index(by)
        merged: dict[str, QoeTotals] = {}
        for key, g in self.groups.items():
            m = merged.setdefault(key[pos], QoeTotals())
            _merge(m, g)
        return {k: m.summary() for k, m in merged.items()}

    def exposition(self) -> str:
        """The series in Prometheus text format, for a real Prometheus to scrape."""
        lines: list[str] = []
        for s in self.samples(at=self.clock.now()):
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels.items())
            lines.append(f"{s.name}{{{labels}}} {s.value!r}" if labels else f"{s.name} {s.value!r}")
        return "\n".join(lines) + "\n"


def _merge(into: QoeTotals, g: QoeTotals) -> None:
    for name in (
        "views",
        "failures",
        "ebvs",
        "ended",
        "rebuffer_s",
        "watch_s",
        "played_s",
        "played_bits",
        "upshifts",
        "downshifts",
        "startup_sum_s",
        "startup_count",
    ):
        setattr(into, name, getattr(into, name) + getattr(g, name))
    into.startup_buckets = [a + b for a, b in zip(into.startup_buckets, g.startup_buckets, strict=True)]
    into.startups.extend(g.startups)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _group_samples(prefix: str, labels: dict[str, str], g: QoeTotals, at: float) -> Iterable[Sample]:
    for name, value in (
        ("views_total", g.views),
        ("views_ended_total", g.ended),
        ("playback_failures_total", g.failures),
        ("exits_before_video_start_total", g.ebvs),
        ("rebuffer_seconds_total", g.rebuffer_s),
        ("watch_seconds_total", g.watch_s),
        ("played_seconds_total", g.played_s),
        ("played_bits_total", g.played_bits),
        ("upshifts_total", g.upshifts),
        ("downshifts_total", g.downshifts),
    ):
        yield Sample(prefix + name, labels, at, float(value))
    cum = 0
    for bound, n in zip(_BUCKETS, g.startup_buckets, strict=True):
        cum += n
        yield Sample(prefix + "startup_seconds_bucket", {**labels, "le": _le(bound)}, at, float(cum))
    yield Sample(prefix + "startup_seconds_sum", labels, at, g.startup_sum_s)
    yield Sample(prefix + "startup_seconds_count", labels, at, float(g.startup_count))
