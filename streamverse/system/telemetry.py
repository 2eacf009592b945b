"""The telemetry side of a live run: scraper, probes, log shipper, beacon shipper, usage meter.

`start_telemetry(system, settings)` is called by the live runner once every server is up;
it only reaches the platform through its URLs (and the GeoDNS resolver for the probes'
vantage), so the same pieces work against a deployed platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from streamverse.clock import Clock, RealClock
from streamverse.collectors.beacons import BeaconShipper
from streamverse.collectors.logs import LogShipper, make_log_store
from streamverse.collectors.metering import UsageMeter
from streamverse.collectors.probes import Prober, ProbeTarget
from streamverse.collectors.rum import resolved_ingest_key
from streamverse.collectors.scraper import Scraper
from streamverse.collectors.service import make_store
from streamverse.metricstore import MetricStore
from streamverse.settings import Settings
from streamverse.system.live_system import DEMO_PASSWORD, metrics_targets

if TYPE_CHECKING:
    from streamverse.system.live_system import LiveSystem

log = logging.getLogger(__name__)


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


def scrape_targets(system: LiveSystem, *, rum: bool = True) -> list[tuple[str, str]]:
    """(job, url) of every /metrics endpoint of the live system, plus the RUM series when `rum`.

    The embedded store gets the RUM series written directly by the API's aggregator, so its
    scraper leaves them out (scraping too would count every view twice); Prometheus scrapes them.
    """
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
    system: LiveSystem,
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
