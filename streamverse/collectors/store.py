"""The metric store interface: every backend (embedded, Prometheus) answers the same calls.

Series are addressed by Prometheus-style selectors (`name{label="value",...}`), so the
code asking (SLO engine, dashboard, simulate) does not care which backend answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import pandas as pd


class Sample(NamedTuple):
    """One observation of one series; timestamps are UTC epoch seconds."""

    name: str
    labels: Mapping[str, str]
    timestamp: float
    value: float


class MetricStore(Protocol):
    """What every metric backend offers."""

    def write(self, samples: Sequence[Sample]) -> int:
        """Store samples; returns how many were stored."""
        ...

    def range_query(self, selector: str, start: float, end: float, step: float) -> pd.DataFrame:
        """Values at each step in [start, end]: columns timestamp, value, plus one per label."""
        ...

    def instant_query(self, selector: str, at: float) -> pd.DataFrame:
        """The latest value at or before `at` of each matching series."""
        ...

    def series(self, selector: str) -> list[dict[str, str]]:
        """Label sets (with `__name__`) of the series matching a selector."""
        ...
