"""What a Prometheus scrape of the platform would see at one instant, and who receives it.

The fast-forward driver has no exporter to scrape, so it publishes these snapshots to a
sink its caller supplies instead. The platform owns the type and the sink's shape; what
becomes of a snapshot (a metric store, a file, a test's list) is the receiver's business,
so the platform never depends on the control center that stores and reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

MetricType = Literal["counter", "gauge", "histogram"]


class ScrapeSample(NamedTuple):
    """One exposition line: a series' value, and the type of the family it belongs to."""

    name: str
    labels: Mapping[str, str]
    value: float
    metric_type: MetricType
    # An explicit exposition timestamp; None means the scrape's. Anchor samples of a series that
    # (re)appears carry the previous interval's time, as an exporter with timestamps would.
    timestamp: float | None = None


@dataclass(frozen=True)
class ScrapeSnapshot:
    """Everything one scrape at `ts` (UTC epoch seconds) returns, in exposition order."""

    ts: float
    samples: Sequence[ScrapeSample]


class SnapshotSink(Protocol):
    """Receives the snapshots of a run, in time order."""

    def publish(self, snapshot: ScrapeSnapshot) -> None:
        """Take one scrape; a receiver may hold it until `flush`."""
        ...

    def flush(self) -> None:
        """Make every snapshot published so far visible to readers (end of run, before an evaluation)."""
        ...
