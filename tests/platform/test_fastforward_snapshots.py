"""What fast-forward publishes: one scrape snapshot per telemetry step, typed as Prometheus would see it."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from streamverse.platform import metrics as m
from streamverse.platform.fastforward import run_simulation
from streamverse.platform.fastforward_usage import VIDEO_EGRESS
from streamverse.platform.scrape_snapshot import ScrapeSample, ScrapeSnapshot
from streamverse.platform.topology import load_topology

START = 1_750_000_000.0


class ListSink:
    """A receiver that keeps what it is given, as any SnapshotSink may."""

    def __init__(self) -> None:
        self.snapshots: list[ScrapeSnapshot] = []
        self.flushes = 0

    def publish(self, snapshot: ScrapeSnapshot) -> None:
        self.snapshots.append(snapshot)

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture(scope="module")
def viral() -> tuple[ListSink, dict]:
    sink = ListSink()
    res = run_simulation(topology=load_topology(), scenario="viral-video", duration_s=3600, viewers=800,
                         start_ts=START, sink=sink, seed=11)
    return sink, res.stats


def test_one_snapshot_per_telemetry_step_then_one_flush(viral):
    sink, stats = viral
    times = [s.ts for s in sink.snapshots]
    assert times == [START + 30.0 * (i + 1) for i in range(120)]  # 1 h at the 30-s telemetry step
    assert sink.flushes == 1
    assert stats["samples_written"] == sum(len(s.samples) for s in sink.snapshots)
    assert stats["series_written"] == len({(x.name, tuple(x.labels.items()))
                                           for s in sink.snapshots for x in s.samples})


def test_counters_only_grow_and_only_anchors_carry_their_own_time(viral):
    sink, _ = viral
    last: dict[tuple, float] = {}
    for snap in sink.snapshots:
        for x in snap.samples:
            if x.timestamp is not None:  # a title's egress series (re)appearing: anchored an interval back
                assert x.name == VIDEO_EGRESS and x.timestamp == snap.ts - 30.0
            if x.metric_type == "counter":
                key = (x.name, tuple(x.labels.items()))
                assert x.value >= last.get(key, 0.0) - 1e-6, key
                last[key] = x.value
    assert any(x.timestamp is not None for s in sink.snapshots for x in s.samples)


def _openmetrics(samples: list[ScrapeSample]) -> str:
    """The snapshot in the OpenMetrics text format, one family block per metric."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    families: dict[tuple[str, str], list[str]] = defaultdict(list)
    for x in samples:
        family = x.name
        for suffix in suffixes.get(x.metric_type, ()):
            family = family.removesuffix(suffix)
        labels = ",".join(f'{k}="{v}"' for k, v in x.labels.items())
        families[(family, x.metric_type)].append(f"{x.name}{{{labels}}} {x.value!r}")
    out = []
    for (family, kind), lines in families.items():
        out += [f"# TYPE {family} {kind}", *lines]
    return "\n".join([*out, "# EOF", ""])


def test_a_snapshot_parses_as_openmetrics_with_the_types_it_claims(viral):
    sink, _ = viral
    snap = sink.snapshots[-1]
    parsed = {f.name: f for f in text_string_to_metric_families(_openmetrics(list(snap.samples)))}
    assert parsed[m.STARTUP].type == "histogram"
    assert parsed[m.EDGE_REQUESTS.removesuffix("_total")].type == "counter"
    assert parsed[m.POP_HEALTHY].type == "gauge"
    startup = [s for s in parsed[m.STARTUP].samples if s.labels.get("region") == "us-east"]
    count = next(s.value for s in startup if s.name.endswith("_count"))
    assert next(s.value for s in startup if s.labels.get("le") == "+Inf") == count > 0
    assert sum(len(f.samples) for f in parsed.values()) == len(snap.samples)


def test_without_a_sink_nothing_is_scraped():
    res = run_simulation(topology=load_topology(), duration_s=600, viewers=200, start_ts=START)
    assert res.stats["samples_written"] == 0 and res.stats["series_written"] == 0
