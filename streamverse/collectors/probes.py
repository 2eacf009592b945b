"""Synthetic monitoring: scripted user journeys from each region's vantage, timed step by step.

Each region's run resolves the stream host through that region's GeoDNS answer, connects
to that edge, logs in at the gateway, loads home (the catalog), searches, starts playback
and fetches the master playlist, a media playlist and the first segment from the answered
PoP, then sends a small upload (tus: create, half the bytes, offset check, terminate, so
nothing is left to transcode). The playback path is compared with the seed's startup
budget; loopback has no TLS, so the `tls` phase measures the TCP connect to the edge.
Steps after a failed one are not run (a dead edge does not also count as a slow one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from streamverse.clock import Clock
from streamverse.metricstore import MetricStore, Sample

log = logging.getLogger(__name__)

# The seed's time-to-first-frame budget in seconds, by phase; 300 ms in all.
BUDGET_S = {
    "dns": 0.020,
    "tls": 0.080,
    "auth": 0.030,
    "discovery": 0.050,
    "manifest": 0.020,
    "first_segment": 0.100,
}
TOTAL_BUDGET_S = 0.300
# step -> (journey, budget phase or None)
STEPS: dict[str, tuple[str, str | None]] = {
    "dns": ("playback", "dns"),
    "connect": ("playback", "tls"),
    "login": ("playback", "auth"),
    "home": ("browse", None),
    "search": ("browse", None),
    "playback_session": ("playback", "discovery"),
    "master_playlist": ("playback", "manifest"),
    "media_playlist": ("playback", "manifest"),
    "first_segment": ("playback", "first_segment"),
    "upload": ("upload", None),
}
UPLOAD_BYTES = 64 * 1024


class StepFailed(Exception):
    """A step that did not succeed; the message says what was seen."""


class StepSkipped(Exception):
    """A step that cannot run here (e.g. uploads not deployed); neither pass nor fail."""


@dataclass
class StepResult:
    """One step of one run."""

    step: str
    journey: str
    status: str  # ok | failed | skipped | not_run
    duration_s: float | None = None
    detail: str = ""


@dataclass
class ProbeResult:
    """One run from one region: every step, every journey's verdict and the budget breakdown."""

    region: str
    at: float
    steps: list[StepResult] = field(default_factory=list)
    pop: str | None = None

    def journeys(self) -> dict[str, str]:
        """journey -> ok | failed | skipped."""
        out: dict[str, str] = {}
        for s in self.steps:
            cur = out.get(s.journey)
            if s.status in ("failed", "not_run"):
                out[s.journey] = "failed"
            elif s.status == "skipped" and cur is None:
                out[s.journey] = "skipped"
            elif s.status == "ok" and cur in (None, "skipped"):
                out[s.journey] = "ok" if cur is None else cur
        return out

    def budget(self) -> dict[str, Any]:
        """Measured vs budget per phase of the playback path, and in all."""
        phases: dict[str, dict[str, Any]] = {}
        for s in self.steps:
            phase = STEPS[s.step][1]
            if phase is None or s.duration_s is None or s.status != "ok":
                continue
            p = phases.setdefault(phase, {"measured_s": 0.0, "budget_s": BUDGET_S[phase]})
            p["measured_s"] += s.duration_s
        for p in phases.values():
            p["over_budget"] = p["measured_s"] > p["budget_s"]
        total = sum(p["measured_s"] for p in phases.values())
        complete = set(phases) == set(BUDGET_S)
        return {
            "phases": phases,
            "total_s": total,
            "total_budget_s": TOTAL_BUDGET_S,
            "complete": complete,
            "over_budget": complete and total > TOTAL_BUDGET_S,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "region": self.region,
            "at": self.at,
            "pop": self.pop,
            "journeys": self.journeys(),
            "steps": [vars(s) for s in self.steps],
            "budget": self.budget(),
        }


@dataclass
class ProbeTarget:
    """Where the probes go: the gateway, the GeoDNS resolver, and each PoP's edge URL."""

    gateway_url: str
    resolve: Callable[[str], str | None]
    edge_url_for: Callable[[str], str]
    username: str
    password: str
    search_term: str = "the"


class Prober:
    """Runs journeys per region and records them as series; `start()` schedules one job per region."""

    def __init__(
        self,
        *,
        target: ProbeTarget,
        regions: list[str],
        clock: Clock,
        store: MetricStore | None = None,
        interval_s: float = 15.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.target = target
        self.regions = regions
        self.clock = clock
        self.store = store
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.last: dict[str, ProbeResult] = {}
        self.totals: dict[tuple[str, str, str], int] = {}  # (region, journey, result) -> runs
        self._scheduler: Any = None
        self._jobs: list[str] = []

    async def run(self, region: str) -> ProbeResult:
        """One run of every journey from `region`; recorded, never raised."""
        result = ProbeResult(region=region, at=self.clock.now())
        t = self.target
        ctx: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            headers = {"X-Client-Region": region}

            async def dns() -> None:
                pop = t.resolve(region)
                if not pop:
                    raise StepFailed(f"GeoDNS has no answer for {region}")
                ctx["pop"] = result.pop = pop
                ctx["edge"] = t.edge_url_for(pop)

            async def connect() -> None:
                u = urlsplit(ctx["edge"])
                try:
                    _r, w = await asyncio.wait_for(
                        asyncio.open_connection(u.hostname, u.port), self.timeout_s
                    )
                except (OSError, TimeoutError) as exc:
                    raise StepFailed(f"connect to {u.netloc}: {exc!r}") from None
                w.close()
                await w.wait_closed()

            async def login() -> None:
                r = await http.post(
                    f"{t.gateway_url}/v1/auth/login",
                    headers=headers,
                    json={"username": t.username, "password": t.password},
                )
                _ok(r, "login")
                headers["Authorization"] = f"Bearer {r.json()['access_token']}"

            async def home() -> None:
                r = await http.get(f"{t.gateway_url}/v1/catalog?limit=20", headers=headers)
                _ok(r, "catalog")
                items = r.json().get("items") or []
                if not items:
                    raise StepFailed("catalog is empty")
                ctx["video_id"] = int(items[0]["id"])

            async def search() -> None:
                r = await http.get(
                    f"{t.gateway_url}/v1/catalog/search", params={"q": t.search_term}, headers=headers
                )
                _ok(r, "search")

            async def playback_session() -> None:
                r = await http.post(f"{t.gateway_url}/v1/playback/{ctx.get('video_id', 1)}", headers=headers)
                _ok(r, "playback")
                # Fetch through the PoP this vantage's GeoDNS answered (the signed path is host-free).
                path = urlsplit(r.json()["master_url"])
                ctx["master"] = f"{ctx['edge']}{path.path}" + (f"?{path.query}" if path.query else "")

            async def master_playlist() -> None:
                r = await http.get(ctx["master"], headers=headers)
                _ok(r, "master playlist")
                uri = next(
                    (ln.strip() for ln in r.text.splitlines() if ln.strip() and not ln.startswith("#")), None
                )
                if uri is None:
                    raise StepFailed("master playlist lists no variants")
                ctx["media"] = urljoin(ctx["master"], uri)

            async def media_playlist() -> None:
                r = await http.get(ctx["media"], headers=headers)
                _ok(r, "media playlist")
                uri = next(
                    (ln.strip() for ln in r.text.splitlines() if ln.strip() and not ln.startswith("#")), None
                )
                if uri is None:
                    raise StepFailed("media playlist lists no segments")
                ctx["segment"] = urljoin(ctx["media"], uri)

            async def first_segment() -> None:
                r = await http.get(ctx["segment"], headers=headers)
                _ok(r, "first segment")
                if not r.content:
                    raise StepFailed("first segment is empty")

            async def upload() -> None:
                await self._upload(http, headers)

            chains = [
                ("playback", [dns, connect, login]),
                ("browse", [home, search]),
                ("playback", [playback_session, master_playlist, media_playlist, first_segment]),
                ("upload", [upload]),
            ]
            broken: set[str] = set()
            for journey, fns in chains:
                for fn in fns:
                    name = fn.__name__
                    needs_login = name not in ("dns", "connect", "login") and "Authorization" not in headers
                    if journey in broken or needs_login or (name == "playback_session" and "edge" not in ctx):
                        result.steps.append(
                            StepResult(name, STEPS[name][0], "not_run", None, "an earlier step failed")
                        )
                        broken.add(journey)
                        continue
                    result.steps.append(await self._timed(name, fn))
                    if result.steps[-1].status == "failed":
                        broken.add(journey)
        self.last[region] = result
        self._record(result)
        return result

    async def _timed(self, name: str, fn: Callable[[], Any]) -> StepResult:
        journey = STEPS[name][0]
        t0 = time.perf_counter()  # a duration, not a timestamp: the monotonic clock is right here
        try:
            await fn()
        except StepSkipped as exc:
            return StepResult(name, journey, "skipped", None, str(exc))
        except StepFailed as exc:
            return StepResult(name, journey, "failed", time.perf_counter() - t0, str(exc))
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return StepResult(
                name, journey, "failed", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"
            )
        return StepResult(name, journey, "ok", time.perf_counter() - t0)

    async def _upload(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        gw = self.target.gateway_url
        tus = {**headers, "Tus-Resumable": "1.0.0"}
        r = await http.post(
            f"{gw}/v1/uploads",
            headers={**tus, "Upload-Length": str(UPLOAD_BYTES), "Upload-Metadata": "filename cHJvYmUubXA0"},
        )
        if r.status_code in (404, 405):
            raise StepSkipped("uploads are not deployed on this gateway")
        _ok(r, "upload create", (201,))
        location = urljoin(f"{gw}/", r.headers.get("location", ""))
        try:
            half = UPLOAD_BYTES // 2
            r = await http.patch(
                location,
                content=b"\0" * half,
                headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            )
            _ok(r, "upload patch", (204,))
            r = await http.head(location, headers=tus)
            _ok(r, "upload head")
            if r.headers.get("upload-offset") != str(half):
                raise StepFailed(f"upload offset {r.headers.get('upload-offset')}, expected {half}")
        finally:
            await http.delete(location, headers=tus)

    def _record(self, r: ProbeResult) -> None:
        at = r.at
        samples: list[Sample] = []
        for s in r.steps:
            if s.status in ("ok", "failed"):
                labels = {"region": r.region, "journey": s.journey, "step": s.step}
                samples.append(
                    Sample("streamverse_probe_step_success", labels, at, 1.0 if s.status == "ok" else 0.0)
                )
                if s.duration_s is not None:
                    samples.append(
                        Sample("streamverse_probe_step_duration_seconds", labels, at, s.duration_s)
                    )
        for journey, verdict in r.journeys().items():
            if verdict == "skipped":
                continue
            for result in ("success", "failure"):
                self.totals.setdefault((r.region, journey, result), 0)
            self.totals[(r.region, journey, "success" if verdict == "ok" else "failure")] += 1
        for (region, journey, result), n in self.totals.items():
            if region == r.region:
                name = "streamverse_probe_journey_success_total" if result == "success" else None
                labels = {"region": region, "journey": journey}
                if name:
                    samples.append(Sample(name, labels, at, float(n)))
        for region, journey in {(k[0], k[1]) for k in self.totals if k[0] == r.region}:
            runs = self.totals[(region, journey, "success")] + self.totals[(region, journey, "failure")]
            samples.append(
                Sample(
                    "streamverse_probe_journey_total", {"region": region, "journey": journey}, at, float(runs)
                )
            )
        budget = r.budget()
        for phase, p in budget["phases"].items():
            labels = {"region": r.region, "phase": phase}
            samples.append(Sample("streamverse_probe_phase_seconds", labels, at, p["measured_s"]))
            samples.append(Sample("streamverse_probe_phase_budget_seconds", labels, at, p["budget_s"]))
        if budget["complete"]:
            samples.append(
                Sample("streamverse_probe_startup_path_seconds", {"region": r.region}, at, budget["total_s"])
            )
        if self.store is not None and samples:
            try:
                self.store.write(samples)
            except Exception:  # a store hiccup must not stop the probes
                log.exception("could not write probe results")

    def start(self, scheduler: Any = None) -> Any:
        """One APScheduler interval job per region (a new AsyncIOScheduler when none is given)."""
        from datetime import UTC, datetime

        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        if scheduler is None:
            scheduler = AsyncIOScheduler(timezone="UTC")
            scheduler.start()
        self._scheduler = scheduler
        for region in self.regions:
            job_id = f"probe-{region}-{id(self)}"
            scheduler.add_job(
                self.run,
                "interval",
                args=[region],
                seconds=self.interval_s,
                id=job_id,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
            self._jobs.append(job_id)
        return scheduler

    def stop(self) -> None:
        """Remove this prober's jobs."""
        for job_id in self._jobs:
            try:
                self._scheduler.remove_job(job_id)
            except Exception:  # noqa: BLE001 - already gone with its scheduler
                pass
        self._jobs.clear()


def _ok(r: httpx.Response, what: str, codes: tuple[int, ...] = (200,)) -> None:
    if r.status_code not in codes:
        raise StepFailed(f"{what}: HTTP {r.status_code} {r.text[:120]!r}")
