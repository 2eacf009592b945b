"""History into a real Prometheus: OpenMetrics text, then `promtool tsdb create-blocks-from openmetrics`.

promtool (2.42) re-reads the whole input once per 2-hour block, so 30 days in one file
would be parsed 360 times. We write one file per 2-hour window instead and run promtool
on each (two at a time): every sample is parsed once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from streamverse.errors import StreamVerseError
from streamverse.metricstore import Sample

BLOCK_S = 7200  # promtool's block duration
PROMTOOL = "/usr/bin/promtool"


class SeriesArrays(NamedTuple):
    """One series as arrays: epoch-second timestamps and values."""

    name: str
    labels: Mapping[str, str]
    timestamps: np.ndarray
    values: np.ndarray


class BackfillError(StreamVerseError):
    """promtool is missing or refused the input."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def series_prefix(name: str, labels: Mapping[str, str]) -> str:
    """`name{a="x",b="y"} ` as OpenMetrics writes it."""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}} " if inner else f"{name} "


def group_samples(samples: Sequence[Sample]) -> list[SeriesArrays]:
    """Samples regrouped as one time-sorted array pair per series."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[float], list[float]]] = {}
    for s in samples:
        ts, vals = groups.setdefault((s.name, tuple(sorted(s.labels.items()))), ([], []))
        ts.append(s.timestamp)
        vals.append(s.value)
    out = []
    for (name, labels), (ts, vals) in groups.items():
        t, v = np.asarray(ts, dtype=np.float64), np.asarray(vals, dtype=np.float64)
        order = np.argsort(t, kind="stable")
        out.append(SeriesArrays(name, dict(labels), t[order], v[order]))
    return out


def _fmt(values: np.ndarray) -> list[str]:
    """Integral values without a trailing .0 (smaller files), others exactly (repr)."""
    if np.isfinite(values).all() and (values == np.round(values)).all() and (np.abs(values) < 2**53).all():
        return list(map(str, values.astype(np.int64).tolist()))
    return [repr(v) if np.isfinite(v) else ("NaN" if np.isnan(v) else ("+Inf" if v > 0 else "-Inf"))
            for v in values.tolist()]


def write_openmetrics(series: Iterable[SeriesArrays], out_dir: Path) -> list[Path]:
    """One OpenMetrics file per 2-hour window (each ends with `# EOF`); returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handles: dict[int, object] = {}
    paths: dict[int, Path] = {}
    try:
        for sa in series:
            if len(sa.timestamps) == 0:
                continue
            prefix = series_prefix(sa.name, sa.labels)
            window = (sa.timestamps // BLOCK_S).astype(np.int64)
            cuts = np.flatnonzero(np.diff(window)) + 1
            ts_txt = _fmt(np.round(sa.timestamps, 3))
            val_txt = _fmt(sa.values)
            for lo, hi in zip(np.append(0, cuts), np.append(cuts, len(window)), strict=True):
                w = int(window[lo])
                fh = handles.get(w)
                if fh is None:
                    paths[w] = out_dir / f"block-{w}.om"
                    fh = handles[w] = paths[w].open("w", encoding="utf-8")
                fh.write("".join(f"{prefix}{v} {t}\n" for v, t in  # type: ignore[attr-defined]
                                 zip(val_txt[lo:hi], ts_txt[lo:hi], strict=True)))
    finally:
        for fh in handles.values():
            fh.write("# EOF\n")  # type: ignore[attr-defined]
            fh.close()  # type: ignore[attr-defined]
    return [paths[w] for w in sorted(paths)]


def create_blocks(files: Sequence[Path], tsdb_path: Path, *, promtool: str | None = None,
                  parallel: int = 2) -> int:
    """Run promtool on each OpenMetrics file into a Prometheus data dir; returns blocks made."""
    binary = promtool or shutil.which("promtool") or PROMTOOL
    if not Path(binary).exists():
        raise BackfillError(f"promtool not found at {binary}; install it with apt-get install prometheus")
    tsdb_path.mkdir(parents=True, exist_ok=True)

    def run(path: Path) -> None:
        done = subprocess.run([binary, "tsdb", "create-blocks-from", "openmetrics", "-q", str(path),
                               str(tsdb_path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackfillError(f"promtool failed on {path}: {done.stderr.strip()[-500:]}")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(run, files))
    return len(files)


def backfill_series(series: Iterable[SeriesArrays], tsdb_path: Path, *, promtool: str | None = None) -> int:
    """Write series as Prometheus blocks into tsdb_path (a running Prometheus loads them within a minute)."""
    with tempfile.TemporaryDirectory(prefix="sv-backfill-") as tmp:
        return create_blocks(write_openmetrics(series, Path(tmp)), tsdb_path, promtool=promtool)


def backfill_samples(samples: Sequence[Sample], tsdb_path: Path, *, promtool: str | None = None) -> int:
    """The write path of the Prometheus backend: samples as blocks in its data dir."""
    return backfill_series(group_samples(samples), tsdb_path, promtool=promtool)
