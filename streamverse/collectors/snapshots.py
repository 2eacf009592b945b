"""Collects the platform's scrape snapshots (fast-forward runs) into a metric store.

The platform publishes what a scrape would see and knows nothing of stores; this is the
collector side of that hand-off. Samples are written in batches because a backend's write
can be expensive per call (the Prometheus backend runs promtool for each), and `flush`
writes the rest when a reader is about to look (end of run, an alert evaluation).
"""

from __future__ import annotations

from streamverse.metricstore import MetricStore, Sample
from streamverse.platform.scrape_snapshot import ScrapeSnapshot

BATCH = 20_000  # samples handed to the store at once


class SnapshotCollector:
    """A `SnapshotSink` that turns each snapshot's samples into store samples at their scrape time."""

    def __init__(self, store: MetricStore, *, batch: int = BATCH) -> None:
        self.store, self.batch = store, int(batch)
        self.pending: list[Sample] = []
        self.written = 0

    def publish(self, snapshot: ScrapeSnapshot) -> None:
        """Queue a snapshot's samples; write once a batch has gathered."""
        ts = snapshot.ts
        # The label mappings are the platform's own objects, reused across scrapes: the store
        # resolves series once per distinct mapping, so they are passed on, not copied.
        self.pending += [Sample(name, labels, ts if own is None else own, value)
                         for name, labels, value, _, own in snapshot.samples]
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write every queued sample to the store."""
        if self.pending:
            self.written += self.store.write(self.pending)
            self.pending = []
