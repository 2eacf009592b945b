"""`streamverse metrics ...`: read series from the configured metric store."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from streamverse.clock import Clock, RealClock, utc_iso
from streamverse.durations import format_duration, parse_duration
from streamverse.errors import StreamVerseError, UsageError
from streamverse.metricstore import MetricStore
from streamverse.output import console, emit_json, fail

metrics_app = typer.Typer(no_args_is_help=True, help="Read and load series of the metric store.")



@metrics_app.callback()
def _group() -> None:
    """Read series from the metric store (embedded or Prometheus, per settings)."""


_RELATIVE = re.compile(r"^(now)?\s*([+-])\s*(\S+)$")
MAX_POINTS = 11_000  # Prometheus refuses more points per series; the embedded store follows


def parse_time(text: str, *, now: float) -> float:
    """`now`, `-1h`, `now-30m`, ISO-8601 (UTC unless it says otherwise) or epoch seconds."""
    raw = text.strip()
    if raw in ("", "now"):
        return now
    m = _RELATIVE.match(raw)
    if m:
        delta = parse_duration(m.group(3))
        return now - delta if m.group(2) == "-" else now + delta
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read time {text!r}: write it like now, -1h, 2025-01-31T12:00:00Z "
                         "or epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def auto_step(start: float, end: float) -> float:
    """About 250 points across the window, never finer than one second."""
    return max(1.0, math.ceil((end - start) / 250))


def run_query(
    store: MetricStore, expr: str, *, start: float, end: float, step: float, now: float,
) -> dict[str, Any]:
    """The JSON answer of `metrics query`: series with [ts, value] pairs and freshness."""
    if end < start:
        raise UsageError(f"--end ({utc_iso(end)}) is before --start ({utc_iso(start)})")
    if step <= 0:
        raise UsageError("--step must be positive")
    if (end - start) / step + 1 > MAX_POINTS:
        raise UsageError(f"{(end - start) / step + 1:.0f} points per series is too many (at most "
                         f"{MAX_POINTS}); use a larger --step, e.g. {format_duration(auto_step(start, end))}")
    df: pd.DataFrame = store.query_range(expr, start, end, step)
    label_cols = [c for c in df.columns if c not in ("timestamp", "value")]
    series = []
    if not df.empty:
        groups = df.groupby(label_cols, sort=True, dropna=False) if label_cols else [((), df)]
        for key, part in groups:
            keys = key if isinstance(key, tuple) else (key,)
            labels = {c: v for c, v in zip(label_cols, keys, strict=True) if isinstance(v, str)}
            values = [[float(t), float(v)] for t, v in zip(part["timestamp"], part["value"], strict=True)]
            series.append({"labels": labels, "values": values})
    newest = float(df["timestamp"].max()) if not df.empty else None
    attrs = df.attrs
    age = attrs.get("age_s") if "age_s" in attrs else (
        None if newest is None else max(0.0, min(end, now) - newest))
    reachable = bool(attrs.get("reachable", True))
    stale = bool(attrs.get("stale", False)) or not reachable
    out: dict[str, Any] = {"query": expr, "backend": getattr(store, "backend", type(store).__name__),
                           "start": utc_iso(start), "end": utc_iso(end), "step": step, "series": series,
                           "stale": stale, "reachable": reachable, "age_s": age}
    if attrs.get("error"):
        out["error"] = attrs["error"]
    return out


def _print_table(answer: dict[str, Any]) -> None:
    from rich.table import Table

    from streamverse.output import console

    table = Table("series", "points", "first", "last", "last value", "min", "max",
                  title=f"{answer['query']}  [{answer['backend']}]  {answer['start']} .. {answer['end']} "
                        f"step {format_duration(answer['step'])}", title_justify="left")
    for s in answer["series"]:
        vals = [v for _, v in s["values"]]
        name = s["labels"].get("__name__", "")
        rest = ",".join(f'{k}="{v}"' for k, v in s["labels"].items() if k != "__name__")
        table.add_row(f"{name}{{{rest}}}" if rest or not name else name, str(len(vals)),
                      utc_iso(s["values"][0][0]), utc_iso(s["values"][-1][0]), f"{vals[-1]:.6g}",
                      f"{min(vals):.6g}", f"{max(vals):.6g}")
    console.print(table)
    if not answer["series"]:
        console.print("no data for this query in this window")
    if not answer["reachable"]:
        console.print(f"[bold red]metric store unreachable[/]: {answer.get('error', '')}")
    elif answer["stale"]:
        console.print(f"[yellow]stale[/]: newest sample is {answer['age_s']:.0f}s old")


@metrics_app.command("query")
def query(
    expr: Annotated[str, typer.Argument(metavar="SELECTOR_OR_EXPR",
                                        help='a selector like name{a="x"} or a PromQL expression')],
    start: Annotated[str, typer.Option(help="ISO-8601 UTC, epoch seconds, or relative like -1h")] = "-1h",
    end: Annotated[str, typer.Option(help="ISO-8601 UTC, epoch seconds, or now")] = "now",
    step: Annotated[str | None, typer.Option(help="resolution, e.g. 60s (default: about 250 points)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")] = False,
) -> None:
    """Read a series (or a PromQL expression) from the configured metric store."""
    from streamverse.collectors.service import make_store
    from streamverse.settings import get_settings

    clock: Clock = RealClock()
    try:
        now = clock.now()
        t0, t1 = parse_time(start, now=now), parse_time(end, now=now)
        step_s = parse_duration(step) if step else auto_step(t0, t1)
        store = make_store(get_settings())
        answer = run_query(store, expr, start=t0, end=t1, step=step_s, now=now)
    except (StreamVerseError, ValueError) as exc:
        fail(str(exc))
        return
    if json_out:
        emit_json(answer)
    else:
        _print_table(answer)
    if not answer["reachable"]:
        raise typer.Exit(1)


@metrics_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="OpenMetrics text, as promtool tsdb create-blocks-from "
                                              "openmetrics reads it (timestamps on every sample, # EOF)")],
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")] = False,
) -> None:
    """Load history into the configured metric store; a bad line imports nothing and is named."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from streamverse.collectors.openmetrics_import import import_file
    from streamverse.collectors.service import make_store
    from streamverse.output import err_console
    from streamverse.settings import get_settings

    if not file.is_file():
        fail(f"{file}: no such file")
        return
    size = file.stat().st_size
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        store = make_store(get_settings())
        with Progress(*columns, console=err_console, transient=True, disable=json_out) as bar:
            reading = bar.add_task(f"reading {file.name}", total=size)
            writing = bar.add_task("writing", total=None, visible=False)

            def wrote(n: int) -> None:
                bar.update(writing, visible=True, advance=n)

            result = import_file(store, file, progress=lambda n: bar.advance(reading, n), on_write=wrote)
    except StreamVerseError as exc:
        fail(str(exc))
        return
    out = result.as_dict()
    if json_out:
        emit_json(out)
        return
    span = f"{utc_iso(out['start'])} .. {utc_iso(out['end'])}" if out["start"] is not None else "no samples"
    console.print(f"imported {out['samples']:,} samples of {out['series']:,} series "
                  f"({len(out['metrics'])} metrics) from {file}: {span}")


def store_stats(store: MetricStore, *, compaction_interval_s: float) -> dict[str, Any]:
    """The `metrics stats` answer: the embedded store's own figures, or what Prometheus reports."""
    from streamverse.collectors.embedded import EmbeddedStore
    from streamverse.collectors.prometheus_stats import prometheus_stats
    from streamverse.collectors.prometheus_store import PrometheusStore

    if isinstance(store, EmbeddedStore):
        return {**store.stats(), "compaction_interval_s": compaction_interval_s}
    if isinstance(store, PrometheusStore):
        out = prometheus_stats(store.url, timeout_s=store.timeout_s)
        path = store.tsdb_path
        out["disk"] = {"kind": "prometheus tsdb directory", "path": str(path) if path else None,
                       "total_bytes": sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                       if path and path.is_dir() else None}
        return out
    raise UsageError(f"metrics stats does not know the {type(store).__name__} backend")


def _minute(iso: str | None) -> str:
    return "-" if iso is None else iso[:16].replace("T", " ")


def _print_stats(out: dict[str, Any]) -> None:
    from rich.table import Table

    def size(n: int | None) -> str:
        return "?" if n is None else f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} B"

    disk = out.get("disk") or {}
    if out["backend"] == "embedded":
        table = Table("tier", "samples", "chunks", "encoded", "oldest (UTC)", "newest (UTC)", "kept for",
                      title=f"embedded metric store: {out['series']:,} series, {out['samples']:,} samples, "
                            f"{size(disk.get('total_bytes'))} on disk", title_justify="left")
        keep = out["retention"]
        for tier in out["tiers"]:
            kept = keep.get(f"{tier['tier']}_s")
            table.add_row(tier["tier"], f"{tier['samples']:,}", f"{tier['chunks']:,}",
                          size(tier["encoded_bytes"]), _minute(tier["oldest"]), _minute(tier["newest"]),
                          format_duration(kept) if kept else "-")
        console.print(table)
        console.print(f"disk: {disk.get('path')}  database {size(disk.get('database_bytes'))}, "
                      f"WAL {size(disk.get('wal_bytes'))}", highlight=False)
        last = out.get("last_compaction")
        every = out.get("compaction_interval_s")
        sched = f"every {format_duration(every)} while `up` runs" if every else "off (interval 0)"
        if last is None:
            console.print(f"compaction: never ran on this store; scheduled {sched}", highlight=False)
        else:
            console.print(f"compaction: last at {last['at']} ({last['took_s']:.2f}s): "
                          f"{last['raw_to_5m']} raw chunks -> 5m, {last['5m_to_1h']} 5m chunks -> 1h, "
                          f"{last['expired_chunks']} expired, {last['merged_chunks']} merged; "
                          f"samples {sum(last['samples_before'].values()):,} -> "
                          f"{sum(last['samples_after'].values()):,}; scheduled {sched}", highlight=False)
        return
    console.print(f"[bold]Prometheus[/] at {out['url']} — figures {out['source']}", highlight=False)
    if not out["reachable"]:
        console.print(f"[bold red]unreachable[/]: {out['error']}")
        return
    head = out["head"]
    table = Table("reported by Prometheus", "value", title_justify="left")
    for name, value in (("head series", head["series"]), ("head chunks", head["chunks"]),
                        ("head oldest (UTC)", head["oldest"]), ("head newest (UTC)", head["newest"]),
                        ("retention time flag", out["retention"]["flags"].get("storage.tsdb.retention.time")),
                        ("retention size flag", out["retention"]["flags"].get("storage.tsdb.retention.size")),
                        ("storage retention", out["retention"]["storage_retention"]),
                        ("tsdb directory size",
                         size(disk.get("total_bytes")) if disk.get("path") else "unknown")):
        table.add_row(name, "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


@metrics_app.command("stats")
def stats(
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object as the last line")] = False,
) -> None:
    """The metric store's series, samples per tier, retention, disk use and last compaction."""
    from streamverse.collectors.service import make_store
    from streamverse.settings import get_settings

    try:
        settings = get_settings()
        out = store_stats(make_store(settings), compaction_interval_s=settings.metrics_compaction_interval)
    except (StreamVerseError, ValueError) as exc:
        fail(str(exc))
        return
    if json_out:
        emit_json(out)
    else:
        _print_stats(out)
    if not out.get("reachable", True):
        raise typer.Exit(1)
