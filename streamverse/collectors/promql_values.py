"""The values PromQL evaluation passes around: stored samples in, instant vectors between operators.

Stores hand the evaluator `FlatData` (many series' samples in shared arrays) or `RollupData`
(hourly summaries); operators pass `Vec` (series x steps, with an explicit presence mask so
that NaN stays an answer, as in Prometheus, rather than meaning "no sample").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

STALE_BITS = np.uint64(0x7FF0000000000002)  # Prometheus' staleness marker, a NaN with this payload
STALE_NAN = float(np.array([STALE_BITS], dtype=np.uint64).view(np.float64)[0])


def is_stale(values: np.ndarray) -> np.ndarray:
    """Which values are staleness markers (not just any NaN)."""
    return np.asarray(values, dtype=np.float64).view(np.uint64) == STALE_BITS


class SeriesData(NamedTuple):
    """One series' samples in a window: ms timestamps, values, and stored increments.

    `inc` is None for raw data (increments follow from the reset rule); downsampled data
    carries the exact reset-adjusted increment of each bucket.
    """

    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray
    inc: np.ndarray | None


class FlatData(NamedTuple):
    """Many series in shared arrays (series k is the slice start[k]:stop[k]), so windows vectorise."""

    labels: list[dict[str, str]]
    ts: np.ndarray
    values: np.ndarray
    inc: np.ndarray | None
    start: np.ndarray
    stop: np.ndarray

    def series(self) -> list[SeriesData]:
        """The same data as one SeriesData per series (views, no copies)."""
        inc = self.inc
        return [SeriesData(lab, self.ts[a:b], self.values[a:b], None if inc is None else inc[a:b])
                for lab, a, b in zip(self.labels, self.start.tolist(), self.stop.tolist(), strict=True)]

    @classmethod
    def of(cls, series: list[SeriesData]) -> FlatData:
        """Concatenate per-series data (for sources without a flat loader)."""
        sizes = np.array([len(sd.ts) for sd in series], dtype=np.int64)
        stop = np.cumsum(sizes)
        cat = (lambda parts: np.concatenate(parts) if parts else np.empty(0))  # noqa: E731
        inc = None
        if any(sd.inc is not None for sd in series):
            inc = cat([reset_increments(sd.values) if sd.inc is None else sd.inc for sd in series])
        return cls([sd.labels for sd in series], cat([sd.ts for sd in series]).astype(np.int64),
                   cat([sd.values for sd in series]).astype(np.float64), inc, stop - sizes, stop)


class RollupData(NamedTuple):
    """Per-bucket summaries of many series (series k is rows start[k]:stop[k]), oldest first.

    Each row: first/last sample time and value, sample count, and the reset-adjusted increase
    from its first to its last sample. Rows of one bucket may be split (at chunk edges).
    """

    labels: list[dict[str, str]]
    bucket_ms: int
    first_ts: np.ndarray
    last_ts: np.ndarray
    first_v: np.ndarray
    last_v: np.ndarray
    count: np.ndarray
    inc: np.ndarray
    start: np.ndarray
    stop: np.ndarray


class SeriesSource(Protocol):
    """What the evaluator needs from a store: samples of matching series in a window.

    Optional, used when present: `iter_flat` (FlatData in groups of series) and `rollup_s` +
    `iter_rollup` (RollupData of that bucket, for rate/increase/delta over whole buckets).
    """

    def load(self, selector: str, start: float, end: float) -> list[SeriesData]:
        """SeriesData (labels, ts ms, values, stored increments or None) per matching series."""
        ...


def reset_increments(values: np.ndarray) -> np.ndarray:
    """Per-sample increase with Prometheus' counter-reset rule (a drop means it restarted from 0)."""
    inc = np.empty_like(values)
    if len(values):
        inc[0] = values[0]
        d = np.diff(values)
        inc[1:] = np.where(d >= 0, d, values[1:])
    return inc


def flat_batches(source: SeriesSource, selector: str, start: float, end: float) -> Iterator[FlatData]:
    """The source's data in groups of series (bounded memory) when it can, else all at once."""
    batches = getattr(source, "iter_flat", None)
    if batches is not None:
        yield from batches(selector, start, end)
        return
    loader = getattr(source, "load_flat", None)
    yield loader(selector, start, end) if loader is not None else FlatData.of(
        source.load(selector, start, end))


def drop_stale(flat: FlatData) -> FlatData:
    """The samples without staleness markers (a range selector ignores them)."""
    if not len(flat.values) or not np.isnan(flat.values).any():
        return flat
    keep = ~is_stale(flat.values)
    if keep.all():
        return flat
    before = np.concatenate(([0], np.cumsum(~keep)))
    inc = None if flat.inc is None else flat.inc[keep]
    return FlatData(flat.labels, flat.ts[keep], flat.values[keep], inc, flat.start - before[flat.start],
                    flat.stop - before[flat.stop])


@dataclass
class Vec:
    """An instant vector over the evaluation steps: one row per series, `present` where it has a sample."""

    labels: list[dict[str, str]]
    values: np.ndarray  # (series, steps) float64
    present: np.ndarray  # (series, steps) bool

    @classmethod
    def empty(cls, steps: int) -> Vec:
        """No series at all."""
        return cls([], np.empty((0, steps)), np.zeros((0, steps), dtype=bool))

    @classmethod
    def of(cls, rows: list[tuple[dict[str, str], np.ndarray, np.ndarray]], steps: int) -> Vec:
        """A vector from (labels, values, present) rows."""
        if not rows:
            return cls.empty(steps)
        return cls([r[0] for r in rows], np.vstack([r[1] for r in rows]), np.vstack([r[2] for r in rows]))

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: list[int] | np.ndarray) -> Vec:
        """The vector of the given rows only."""
        idx = np.asarray(rows, dtype=np.int64)
        return Vec([self.labels[i] for i in idx.tolist()], self.values[idx], self.present[idx])


def drop_name(labels: dict[str, str]) -> dict[str, str]:
    """The label set without `__name__` (what most operators return)."""
    return {k: v for k, v in labels.items() if k != "__name__"}


def label_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable, order-free form of a label set."""
    return tuple(sorted(labels.items()))
