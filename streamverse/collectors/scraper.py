"""The embedded scraper: every target's /metrics on an interval, into the metric store.

Like Prometheus: each scrape writes every sample at the scrape's start time with the
target's `job` and `instance` labels (a scraped label of the same name becomes
`exported_<name>`), plus `up`, `scrape_duration_seconds` and `scrape_samples_scraped`.
A target that is down gets `up 0` and the others carry on. Counter resets after a target
restart need no work here: the store's rate/increase handle them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streamverse.clock import Clock
from streamverse.collectors.prometheus_config import ScrapeTarget, as_targets
from streamverse.metricstore import MetricStore, Sample

log = logging.getLogger(__name__)


@dataclass
class ScrapeResult:
    """What one scrape of one target gave."""

    job: str
    instance: str
    up: bool
    samples: int
    duration_s: float
    error: str | None = None


def parse_metrics(text: str, *, at: float, target_labels: dict[str, str]) -> list[Sample]:
    """Samples of a Prometheus text exposition, stamped `at`, with the target's labels on top."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = dict(s.labels)
            for k, v in target_labels.items():
                if k in labels:
                    labels[f"exported_{k}"] = labels[k]
                labels[k] = v
            out.append(Sample(s.name, labels, at, float(s.value)))
    return out


class Scraper:
    """Scrapes a list of targets into a store; run it with `start()` (APScheduler) or `scrape_once()`."""

    def __init__(self, *, store: MetricStore, targets: Iterable[ScrapeTarget | Sequence[Any]], clock: Clock,
                 interval_s: float = 15.0, timeout_s: float | None = None) -> None:
        self.store = store
        self.targets = as_targets(targets)
        self.clock = clock
        self.interval_s = interval_s
        self.timeout_s = timeout_s if timeout_s is not None else min(10.0, interval_s)
        self.last: dict[tuple[str, str], ScrapeResult] = {}
        self._scheduler: Any = None
        self._client: httpx.AsyncClient | None = None

    @staticmethod
    def _instance(url: str) -> str:
        return urlsplit(url).netloc

    async def _scrape(self, client: httpx.AsyncClient,
                      target: ScrapeTarget) -> tuple[ScrapeResult, list[Sample]]:
        at = self.clock.now()
        instance = self._instance(target.url)
        labels = {"job": target.job, "instance": instance, **{k: str(v) for k, v in target.labels.items()}}
        loop = asyncio.get_running_loop()
        started = loop.time()
        samples: list[Sample] = []
        error = None
        try:
            resp = await client.get(target.url, timeout=self.timeout_s)
            resp.raise_for_status()
            samples = parse_metrics(resp.text, at=at, target_labels=labels)
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            samples = []
        took = loop.time() - started
        up = error is None
        meta = {"job": target.job, "instance": instance, **{k: str(v) for k, v in target.labels.items()}}
        samples += [Sample("up", meta, at, 1.0 if up else 0.0),
                    Sample("scrape_duration_seconds", meta, at, took),
                    Sample("scrape_samples_scraped", meta, at, float(len(samples)))]
        return ScrapeResult(target.job, instance, up, len(samples) - 3, took, error), samples

    async def scrape_once(self) -> list[ScrapeResult]:
        """Scrape every target concurrently and write all samples in one batch."""
        client = self._client or httpx.AsyncClient()
        try:
            done = await asyncio.gather(*(self._scrape(client, t) for t in self.targets))
        finally:
            if client is not self._client:
                await client.aclose()
        batch = [s for _, samples in done for s in samples]
        self.store.write(batch)
        results = [r for r, _ in done]
        for r in results:
            if not r.up and self.last.get((r.job, r.instance), r).up:
                log.warning("scrape target %s/%s is down: %s", r.job, r.instance, r.error)
            self.last[(r.job, r.instance)] = r
        return results

    def start(self, scheduler: Any = None) -> Any:
        """Add the interval job to an APScheduler AsyncIOScheduler (a new one, started, if none)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        if scheduler is None:
            scheduler = AsyncIOScheduler(timezone="UTC")
            scheduler.start()
        self._client = httpx.AsyncClient()
        self._scheduler = scheduler
        return scheduler.add_job(self.scrape_once, "interval", seconds=self.interval_s,
                                 id=f"scrape-{id(self)}", max_instances=1, coalesce=True,
                                 next_run_time=_now_dt())

    async def stop(self) -> None:
        """Remove the job and close the HTTP client."""
        if self._scheduler is not None:
            try:
                self._scheduler.remove_job(f"scrape-{id(self)}")
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._scheduler = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _now_dt() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)  # APScheduler's first run: immediately (wall time, scheduling only)
