"""No input crashes the loader: anything it cannot read becomes a LoadError naming the file."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamverse.slo.loader import load_text
from streamverse.slo.models import LoadError

_KEYS = st.sampled_from(
    [
        "version",
        "apiVersion",
        "kind",
        "service",
        "slos",
        "name",
        "objective",
        "sli",
        "events",
        "raw",
        "plugin",
        "error_query",
        "total_query",
        "errorQuery",
        "error_ratio_query",
        "alerting",
        "page_alert",
        "labels",
        "spec",
        "metadata",
        "indicator",
        "indicatorRef",
        "ratioMetric",
        "good",
        "bad",
        "total",
        "metricSource",
        "query",
        "timeWindow",
        "duration",
        "isRolling",
        "calendar",
        "budgetingMethod",
        "objectives",
        "target",
        "window",
        "timeSliceWindow",
        "timeSliceTarget",
        "ratio",
        "latency",
        "threshold",
        "histogram",
        "op",
        "value",
        "id",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "prometheus/v1",
            "openslo/v1",
            "streamverse/v1",
            "sloth.slok.dev/v1",
            "SLO",
            "SLI",
            "PrometheusServiceLevel",
            "30d",
            "1M",
            "2w",
            "Timeslices",
            "RatioTimeslices",
            "99.9",
            "rate(x[{{.window}}])",
            "x_total",
            "sum(x_total)",
            "{{.windw}}",
            "lte",
            "1m",
        ]
    ),
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=6)),
    max_leaves=40,
)
_HEADS = st.sampled_from(
    [
        {"version": "prometheus/v1"},
        {"version": "streamverse/v1"},
        {"apiVersion": "openslo/v1", "kind": "SLO"},
        {"apiVersion": "openslo/v1", "kind": "SLI"},
        {"apiVersion": "sloth.slok.dev/v1", "kind": "PrometheusServiceLevel"},
        {},
    ]
)


def _check(text: str) -> None:
    result = load_text(text, "fuzz.yaml")
    for e in result.errors:
        assert isinstance(e, LoadError) and e.file == "fuzz.yaml" and e.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_HEADS, body=st.dictionaries(_KEYS, _TREES, max_size=6))
def test_random_structures_never_crash(head: dict, body: dict) -> None:
    _check(yaml.safe_dump({**body, **head}, sort_keys=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TREES, max_size=3))
def test_random_documents_and_lists_never_crash(docs: list) -> None:
    _check(yaml.safe_dump_all(docs) + "\n---\n" + yaml.safe_dump(docs))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    _check(text)
