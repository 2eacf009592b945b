"""The embedded store's PromQL against the real Prometheus 2.42, on the same generated data.

The same seeded samples (counters with resets and gaps, gauges whose series come and
go, NaN samples, classic histograms) go into an EmbeddedStore and, as TSDB blocks made
by promtool, into a Prometheus started here. Every query the project issues (alert
rules, SLO rules and status queries, costs, remediation probe, dashboard) and a broad
hand-written list are evaluated on both, at instants (data edges, gaps, past the end)
and over ranges (15 s and 60 s steps); any difference fails, naming query, time and both
answers. Neither side sees staleness markers (backfilled blocks carry none), so the
lookback alone decides presence on both.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from streamverse.collectors.backfill import SeriesArrays, backfill_series
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.prometheus_process import NotInstalledError, find_binary, start_prometheus
from streamverse.collectors.prometheus_store import PrometheusStore
from tests.collectors.promql_diff_compare import Case, compare_all, difference, normalize, run
from tests.collectors.promql_diff_data import FAMILIES, SPAN_S, generate, recorded_family
from tests.collectors.promql_diff_queries import (
    hand_written,
    metric_names,
    project_queries,
    recorded_series,
)

pytestmark = pytest.mark.slow

# (expression, evaluation) -> why the embedded answer still differs. Asserted to differ, so a fix
# removes the entry.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def _prometheus_missing() -> str | None:
    try:
        find_binary(["prometheus"], "/usr/bin/prometheus")
        find_binary(["promtool"], "/usr/bin/promtool")
    except NotInstalledError as exc:
        return str(exc)
    return None


@dataclass
class World:
    """Both stores over the same data, and what the test needs to know about that data."""

    embedded: EmbeddedStore
    prometheus: PrometheusStore
    start: float
    end: float
    series: list[SeriesArrays]
    queries: dict[str, list[str]]


def _gap_middles(series: list[SeriesArrays], n: int) -> list[float]:
    """Instants in the middle of the longest missed-scrape runs (some longer than the lookback)."""
    gaps = []
    for sa in series:
        if len(sa.timestamps) > 1:
            d = np.diff(sa.timestamps)
            i = int(np.argmax(d))
            gaps.append((float(d[i]), float(sa.timestamps[i] + d[i] / 2)))
    gaps.sort(reverse=True)
    return [round(t, 3) for _, t in gaps[: n * 4: 4]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    missing = _prometheus_missing()
    if missing:
        pytest.skip(missing)
    tmp: Path = tmp_path_factory.mktemp("promql-diff")
    start = (time.time() // 7200) * 7200 - 10 * 3600  # whole 2 h blocks, hours in the past
    embedded = EmbeddedStore.at_path(tmp / "m.db", flush_after_s=0)
    queries = project_queries(embedded)
    rule_exprs = [q for group in queries.values() for q in group]
    extra = [recorded_family(name, sets) for name, sets in sorted(recorded_series(rule_exprs).items())]
    series = generate(start, extra=extra)
    for sa in series:
        embedded.write_arrays(sa.name, sa.labels, sa.timestamps, sa.values)
    embedded.flush()
    backfill_series(series, tmp / "prom" / "tsdb")
    # scrape_interval 60 s sets evaluation_interval 1m, the default subquery step (as the embedded engine)
    prom = start_prometheus(data_dir=tmp / "prom", scrape_interval_s=60)
    try:
        yield World(embedded, PrometheusStore(prom.url, retries=1, timeout_s=60), start, start + SPAN_S,
                    series, queries)
    finally:
        prom.stop()
        embedded.close()


def test_generated_data_covers_every_metric_the_project_queries(world: World):
    generated = {sa.name for sa in world.series}
    wanted = {name for group in world.queries.values() for q in group for name in metric_names(q)}
    assert not wanted - generated, f"no generated data for {sorted(wanted - generated)}"
    assert 200 <= len(world.series) <= 1000
    assert sum(len(sa.timestamps) for sa in world.series) > 100_000
    assert {"alerts", "slo-rules", "slo-status", "costs", "remediation", "dashboard"} <= set(world.queries)
    assert all(world.queries.values()), {k: len(v) for k, v in world.queries.items()}
    kinds = {f.kind for f in FAMILIES}
    assert {"counter", "gauge", "histogram", "sparse_gauge"} <= kinds
    assert any(np.isnan(sa.values).any() for sa in world.series)


def test_both_stores_hold_the_same_raw_samples(world: World):
    """The loading itself: a few series read back raw from both sides are identical."""
    for sel in ('streamverse_edge_requests_total{pop="fra",code="500",cache="miss"}',
                'streamverse_video_start_surge{video_id="v2"}'):
        expr = f"{sel}[{int(SPAN_S) + 600}s]"
        mine = run(lambda e=expr: world.embedded.query(f"count_over_time({e})", world.end + 300))
        theirs = run(lambda e=expr: world.prometheus.query(f"count_over_time({e})", world.end + 300))
        assert difference(mine, theirs) is None and mine.series
        assert normalize(world.prometheus.query(sel, world.end)).keys()


# Every query: instants near the data's start, inside, in a missed-scrape gap and just past the
# lookback after the end, and a 60 s range over all of it (edges included). The hand-written
# list and the queries users watch as charts get instants at the exact edges, a second gap,
# and a 15 s range over the last two hours (the end of the data, where the lookback matters).
WIDE = ("hand-written", "dashboard", "remediation")


def _cases(world: World) -> list[Case]:
    s, e = world.start, world.end
    gaps = _gap_middles(world.series, 2)
    instants = [s + 7.5, s + 8123.457, gaps[0], e + 301]
    more = [s, e, e + 299, gaps[1]]
    groups = {"hand-written": hand_written(s, e), **world.queries}
    cases = []
    for source, exprs in groups.items():
        wide = source in WIDE
        for expr in exprs:
            cases.extend(Case(source, expr, "instant", t) for t in (instants + more if wide else instants))
            cases.append(Case(source, expr, "range", s - 300, e + 600, 60.0))
            if wide:
                cases.append(Case(source, expr, "range", e - 7199.5, e + 600, 15.0))
    return cases


def test_embedded_promql_answers_like_prometheus(world: World):
    cases = _cases(world)
    t0 = time.monotonic()
    diffs = compare_all(cases, world.embedded, world.prometheus.url)
    elapsed = time.monotonic() - t0
    known = {(c.expr, c.where()) for c, *_ in diffs if (c.expr, c.where()) in KNOWN_DIFFERENCES}
    unknown = [x for x in diffs if (x[0].expr, x[0].where()) not in KNOWN_DIFFERENCES]
    per = Counter((c.source, c.kind) for c in cases)
    bad = Counter((c.source, c.kind) for c, *_ in diffs)
    exprs = Counter(c.source for c in cases if c.kind == "range" and c.step == 60.0)
    print(f"\n{'source':<14}{'queries':>8}{'instant':>9}{'range':>7}{'mismatch':>10}   ({elapsed:.1f}s)")
    for source in dict.fromkeys(c.source for c in cases):
        print(f"{source:<14}{exprs[source]:>8}{per[(source, 'instant')]:>9}{per[(source, 'range')]:>7}"
              f"{bad[(source, 'instant')] + bad[(source, 'range')]:>10}")
    print(f"{'total':<14}{len({c.expr for c in cases}):>8}{sum(c.kind == 'instant' for c in cases):>9}"
          f"{sum(c.kind == 'range' for c in cases):>7}{len(diffs):>10}")
    stale = sorted(set(KNOWN_DIFFERENCES) - set(known))
    assert not stale, f"known differences that no longer differ (remove them): {stale}"
    lines = [f"[{c.source}] {c.expr!r} {c.where()}: {d}\n    embedded:   {m.describe()}\n"
             f"    prometheus: {t.describe()}" for c, d, m, t in unknown[:40]]
    assert not unknown, f"{len(unknown)} evaluations differ from Prometheus:\n" + "\n".join(lines)
