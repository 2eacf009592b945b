"""The telemetry side of a live run: scraper, probes, log shipper, beacon shipper, usage meter.

`start_telemetry(system, settings)` is called by the live runner once every server is up;
it only reaches the platform through its URLs (and the GeoDNS resolver for the probes'
vantage), so the same pieces work against a deployed platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from streamverse.clock import Clock, RealClock
from streamverse.collectors.store import MetricStore
from streamverse.settings import Settings

log = logging.getLogger(__name__)

BEACON_BATCH = 500


class BeaconShipper:
    """Collects live players' beacons and POSTs them in batches to the control API, with retries."""

    def __init__(
        self, *, api_url: str, ingest_key: str, flush_s: float = 2.0, max_queue: int = 100_000
    ) -> None:
        self.url = f"{api_url}/api/v1/rum/beacons"
        self.key = ingest_key
        self.flush_s = flush_s
        self.max_queue = max_queue
        self.queue: list[dict[str, Any]] = []
        self.sent = self.rejected = self.dropped = 0

    def offer(self, beacon: Any) -> None:
        """The player's beacon sink: keep it for the next batch (oldest dropped when full)."""
        body = beacon.to_dict() if hasattr(beacon, "to_dict") else dict(beacon)
        extra = body.get("extra") or {}
        body["ts"] = extra.get("ts", body.get("ts"))
        if "played_s" in extra:
            body["played_s"] = extra["played_s"]
        body.pop("extra", None)
        if len(self.queue) >= self.max_queue:
            self.queue.pop(0)
            self.dropped += 1
        self.queue.append(body)

    async def flush(self, http: httpx.AsyncClient) -> int:
        """Send what is queued; a batch keeps its id across retries so it counts once."""
        sent = 0
        while self.queue:
            batch, self.queue = self.queue[:BEACON_BATCH], self.queue[BEACON_BATCH:]
            payload = {"batch_id": uuid.uuid4().hex, "beacons": batch}
            for attempt in range(3):
                try:
                    r = await http.post(self.url, json=payload, headers={"X-RUM-Key": self.key})
                except httpx.HTTPError:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if r.status_code in (200, 202, 422):
                    body = r.json()
                    self.sent += int(body.get("accepted", 0))
                    self.rejected += int(body.get("rejected", 0))
                    sent += len(batch)
                    break
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                self.queue[:0] = batch  # keep for the next round
                break
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every `flush_s` until stopped, then once more."""
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.flush_s)
                try:
                    await self.flush(http)
                except Exception:
                    log.exception("beacon shipping failed")


@dataclass
class Telemetry:
    """Everything started by `start_telemetry`; `await stop()` ends it."""

    store: MetricStore | None
    scheduler: Any
    scraper: Any = None
    prober: Any = None
    shipper: Any = None
    beacons: BeaconShipper | None = None
    meter: Any = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    closers: list[Callable[[], Any]] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop jobs and tasks, ship what is left, flush the store."""
        self.stop_event.set()
        if self.prober is not None:
            self.prober.stop()
        if self.scraper is not None:
            await self.scraper.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)
        for closer in self.closers:
            with contextlib.suppress(Exception):
                closer()
        if self.store is not None and hasattr(self.store, "flush"):
            with contextlib.suppress(Exception):
                self.store.flush()


def scrape_targets(system: Any, *, rum: bool = True) -> list[tuple[str, str]]:
    """(job, url) of every /metrics endpoint of the live system, plus the RUM series when `rum`.

    The embedded store gets the RUM series written directly by the API's aggregator, so its
    scraper leaves them out (scraping too would count every view twice); Prometheus scrapes them.
    """
    from streamverse.platform.live.runner import metrics_targets

    out = [(job, url) for job, urls in metrics_targets(system).items() for url in urls]
    if rum:
        out.append(("rum", f"{system.urls['api']}/api/v1/rum/metrics"))
    return out


async def _every(interval_s: float, stop: asyncio.Event, fn: Callable[[], Any], what: str) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        try:
            result = fn()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("%s failed", what)


async def start_telemetry(
    system: Any,
    settings: Settings,
    *,
    clock: Clock | None = None,
    scrape_interval_s: float = 5.0,
    probe_interval_s: float = 15.0,
    log_interval_s: float = 5.0,
    beacon_flush_s: float = 2.0,
    probes: bool = True,
) -> Telemetry:
    """Scraper (embedded store), probes per region, log shipper and beacon shipper, all running."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from streamverse.collectors.logs import LogShipper, make_log_store
    from streamverse.collectors.metering import UsageMeter
    from streamverse.collectors.probes import Prober, ProbeTarget
    from streamverse.collectors.rum import resolved_ingest_key
    from streamverse.collectors.scraper import Scraper
    from streamverse.collectors.service import make_store

    clock = clock or RealClock()
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    embedded = settings.metric_store == "embedded"
    store = make_store(settings) if embedded else None
    tel = Telemetry(store=store, scheduler=scheduler)
    try:
        if embedded:
            tel.scraper = Scraper(
                store=store,
                targets=scrape_targets(system, rum=False),
                clock=clock,
                interval_s=scrape_interval_s,
            )
            tel.scraper.start(scheduler)
            tel.meter = UsageMeter(store=store, clock=clock)
            tel.tasks.append(
                asyncio.create_task(
                    _every(
                        max(scrape_interval_s, 5.0),
                        tel.stop_event,
                        lambda: tel.meter.collect(),
                        "usage metering",
                    ),
                    name="usage-meter",
                )
            )
        if probes and getattr(system, "platform", None) is not None:
            from streamverse.platform.live.runner import DEMO_PASSWORD

            regions = [r.name for r in system.platform.topology.regions]
            target = ProbeTarget(
                gateway_url=system.urls["gateway"],
                resolve=system.platform.dns.resolve,
                edge_url_for=lambda pop: system.edges[pop],
                username="viewer0001",
                password=DEMO_PASSWORD,
            )
            tel.prober = Prober(
                target=target, regions=regions, clock=clock, store=store, interval_s=probe_interval_s
            )
            tel.prober.start(scheduler)
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_store = make_log_store(settings)
        tel.shipper = LogShipper(store=log_store, log_dir=log_dir, clock=clock, metrics=store)
        if hasattr(log_store, "close"):
            tel.closers.append(log_store.close)
        tel.tasks.append(
            asyncio.create_task(
                _every(
                    log_interval_s,
                    tel.stop_event,
                    lambda: asyncio.to_thread(tel.shipper.ship_once),
                    "log shipping",
                ),
                name="log-shipper",
            )
        )
        tel.beacons = BeaconShipper(
            api_url=system.urls["api"],
            ingest_key=resolved_ingest_key(settings.data_dir),
            flush_s=beacon_flush_s,
        )
        for viewer in getattr(system, "viewers", []):
            viewer.beacon_sink = tel.beacons.offer
        tel.tasks.append(asyncio.create_task(tel.beacons.run(tel.stop_event), name="beacon-shipper"))
    except BaseException:
        await tel.stop()
        raise
    return tel
