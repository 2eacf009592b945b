"""The metric store interface: every backend (embedded, Prometheus) answers the same calls.

It lives below every area because it is the seam between them: the collectors area
implements it (`collectors.embedded`, `collectors.prometheus_store`) and writes into it,
while the SLO engine, alerts, costs, remediation's verification and the control API read
through it, typed against this Protocol, never against a backend class.

Series are addressed by PromQL (`query`, `query_range`) or plain selectors
(`name{label="value",...}`), so the code asking does not care which backend answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import pandas as pd


class Sample(NamedTuple):
    """One observation of one series; timestamps are UTC epoch seconds."""

    name: str
    labels: Mapping[str, str]
    timestamp: float
    value: float


@runtime_checkable
class MetricStore(Protocol):
    """What every metric backend offers; the calls its consumers actually make."""

    def write(self, samples: Sequence[Sample]) -> int:
        """Store samples; returns how many were stored."""
        ...

    def flush(self) -> int:
        """Make everything written so far visible to readers; returns what was persisted."""
        ...

    def query(self, expr: str, at: float) -> pd.DataFrame:
        """A PromQL instant query: columns timestamp, value, plus one per label."""
        ...

    def query_range(self, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
        """A PromQL range query: one row per series and step."""
        ...

    def series(self, selector: str) -> list[dict[str, str]]:
        """Label sets (with `__name__`) of the series matching a selector."""
        ...

    def latest_timestamp(self, selector: str) -> float | None:
        """Newest sample time of any matching series; None when there is none."""
        ...

    def healthy(self) -> bool:
        """Whether the backend answers queries now (a remote server may be down)."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


@runtime_checkable
class CompactingStore(MetricStore, Protocol):
    """A store that downsamples and applies retention itself (the embedded one); Prometheus does its own."""

    def compact(self, *, now: float) -> dict[str, int]:
        """Fold old raw samples into summaries and drop what retention no longer keeps."""
        ...
