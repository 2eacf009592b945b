"""`streamverse metrics import FILE`: history in the OpenMetrics text format promtool backfills from.

`promtool tsdb create-blocks-from openmetrics FILE` is how Prometheus users move history
around; the same file loads here. Every sample needs a timestamp (promtool's importer
requires them too) and the file ends with `# EOF`. The whole file is parsed and checked
before anything is written, so a bad line leaves the store untouched, and the error names
the line. Sample lines are read as promtool's OpenMetrics parser reads them (a `# TYPE
foo_total counter` line is accepted, which prometheus-client's stricter parser refuses).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streamverse.errors import UsageError
from streamverse.metricstore import MetricStore, Sample

BATCH = 50_000
Progress = Callable[[int], None]


class OpenMetricsError(UsageError):
    """The file cannot be imported as it is; the message names the line."""


@dataclass
class ImportResult:
    """What an import wrote."""

    file: str
    series: int = 0
    samples: int = 0
    families: int = 0
    start: float | None = None
    end: float | None = None
    names: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        """For `--json` and the API."""
        return {"file": self.file, "series": self.series, "samples": self.samples, "families": self.families,
                "metrics": sorted(self.names), "start": self.start, "end": self.end}


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def parse_sample(line: str) -> tuple[str, dict[str, str], float, float | None]:
    """`name{a="x"} value [timestamp] [# exemplar]` as OpenMetrics reads it; ValueError says why."""
    m = _NAME.match(line)
    if not m:
        raise ValueError("expected a metric name")
    name, pos, labels = m.group(), m.end(), {}
    if line.startswith("{", pos):
        pos += 1
        while not line.startswith("}", pos):
            lm = _LABEL.match(line, pos)
            if not lm or not line.startswith('="', lm.end()):
                raise ValueError(f"expected label=\"value\" at column {pos + 1}")
            pos, chars = lm.end() + 2, []
            while True:
                if pos >= len(line):
                    raise ValueError("unterminated label value")
                c = line[pos]
                if c == '"':
                    pos += 1
                    break
                if c == "\\":
                    esc = line[pos + 1:pos + 2]
                    if esc not in _ESCAPES:
                        raise ValueError(f"unknown escape \\{esc} at column {pos + 1}")
                    chars.append(_ESCAPES[esc])
                    pos += 2
                    continue
                chars.append(c)
                pos += 1
            if lm.group() in labels:
                raise ValueError(f"label {lm.group()} given twice")
            labels[lm.group()] = "".join(chars)
            if line.startswith(",", pos):
                pos += 1
            elif not line.startswith("}", pos):
                raise ValueError(f"expected ',' or '}}' at column {pos + 1}")
        pos += 1
    fields = line[pos:].split("#", 1)[0].split()
    if not fields or len(fields) > 2 or not line[pos:pos + 1].isspace():
        raise ValueError("expected a value and an optional timestamp after the series")
    value = float(fields[0])
    ts = float(fields[1]) if len(fields) == 2 else None
    return name, labels, value, ts


def parse_file(path: Path, *, progress: Progress | None = None) -> tuple[list[Sample], ImportResult]:
    """Every sample of the file, checked; the error names the line of anything promtool would refuse."""
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError as exc:
        raise OpenMetricsError(f"{path}: cannot read the file ({exc.strerror})") from None
    result = ImportResult(file=str(path))
    samples: list[Sample] = []
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    eof_at = None
    with handle:
        try:
            for no, raw in enumerate(handle, 1):
                if progress is not None:
                    progress(len(raw.encode()))
                line = raw.rstrip("\n")
                if eof_at is not None:
                    if line.strip():
                        raise OpenMetricsError(
                            f"{path}:{no}: content after '# EOF'; the file was not imported")
                    continue
                if line.startswith("#"):
                    if line.startswith("# EOF"):
                        eof_at = no
                    elif line.startswith("# TYPE "):
                        result.families += 1
                    continue
                if not line.strip():
                    raise OpenMetricsError(f"{path}:{no}: empty line (OpenMetrics allows none before "
                                           "'# EOF'); the file was not imported")
                try:
                    name, labels, value, ts = parse_sample(line)
                except ValueError as exc:
                    raise OpenMetricsError(f"{path}:{no}: {exc}: {line[:120]!r}; the file was not imported"
                                           ) from None
                if ts is None or not math.isfinite(ts):
                    raise OpenMetricsError(f"{path}:{no}: sample {name} has no timestamp; every sample needs "
                                           "one (promtool requires them too); the file was not imported")
                samples.append(Sample(name, labels, ts, value))
                series.add((name, tuple(sorted(labels.items()))))
                result.names.add(name)
                result.start = ts if result.start is None else min(result.start, ts)
                result.end = ts if result.end is None else max(result.end, ts)
        except UnicodeDecodeError:
            raise OpenMetricsError(f"{path}: not UTF-8 text; the file was not imported") from None
    if eof_at is None:
        raise OpenMetricsError(f"{path}: the file must end with '# EOF' (OpenMetrics, as promtool tsdb "
                               "create-blocks-from openmetrics reads it); the file was not imported")
    result.samples, result.series = len(samples), len(series)
    return samples, result


def import_file(store: MetricStore, path: Path, *, progress: Progress | None = None,
                on_write: Progress | None = None) -> ImportResult:
    """Parse and check the whole file, then write it in batches and flush; nothing is written on error."""
    samples, result = parse_file(path, progress=progress)
    for i in range(0, len(samples), BATCH):
        batch = samples[i:i + BATCH]
        store.write(batch)
        if on_write is not None:
            on_write(len(batch))
    store.flush()
    return result
