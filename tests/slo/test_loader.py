"""Loading the three SLO forms; bad files name file, line and field and do not stop the good ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamverse.slo.loader import default_slo_file, load_files

SLOTH = """\
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        errorQuery: sum(rate(http_request_duration_seconds_count{job="svc",code=~"(5..|429)"}[{{.window}}]))
        totalQuery: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
      ticket_alert:
        labels:
          severity: "slack"
  - name: "broken-template"
    objective: 99
    sli:
      events:
        errorQuery: sum(rate(x_total{code="500"}[{{.windw}}]))
        totalQuery: sum(rate(x_total[{{.window}}]))
"""

OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-availability
  displayName: Web availability
spec:
  service: web
  indicator:
    metadata:
      name: web-success
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{code!~"5.."})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total)
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: 2024-01-01 00:00:00
        timeZone: UTC
  budgetingMethod: Occurrences
  objectives:
    - displayName: good
      target: 0.995
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: latency-slices
spec:
  service: web
  indicator:
    metadata: {name: p95}
    spec:
      thresholdMetric:
        metricSource:
          type: Prometheus
          spec:
            query: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - target: 0.99
      op: lte
      value: 0.25
      timeSliceTarget: 0.95
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: bad-objective
spec:
  service: web
  indicator:
    metadata: {name: x}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: good_total}}}
        total: {metricSource: {type: Prometheus, spec: {query: all_total}}}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives:
    - target: 1.5
"""

NATIVE = """\
version: streamverse/v1
service: shop
slos:
  - name: checkout
    objective: 99.9%
    window: 7d
    slice_by: [region]
    indicator:
      ratio:
        bad: checkout_total{result="error"}
        total: checkout_total
  - name: bad-window
    objective: 0.99
    window: 7 days
    indicator:
      ratio: {bad: a_total, total: b_total}
  - name: bad-selector
    objective: 0.99
    indicator:
      latency: {histogram: 'lat_seconds{le=}', threshold: 250ms}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_defaults_load() -> None:
    result = load_files([default_slo_file()])
    assert result.ok, result.errors
    names = {s.name for s in result.slos}
    assert {
        "gateway-availability",
        "api-latency",
        "video-startup",
        "rebuffer",
        "cdn-cache-hit",
        "upload-to-playable",
        "synthetic-journey",
    } <= names
    gw = next(s for s in result.slos if s.name == "gateway-availability")
    assert gw.objective == pytest.approx(0.9999)


def test_three_forms_good_and_bad_in_one_run(tmp_path: Path) -> None:
    files = [
        _write(tmp_path, "sloth.yaml", SLOTH),
        _write(tmp_path, "openslo.yaml", OPENSLO),
        _write(tmp_path, "native.yaml", NATIVE),
    ]
    result = load_files(files)
    ids = {s.id for s in result.slos}
    assert ids == {
        "myservice-requests-availability",
        "web-web-availability",
        "web-latency-slices",
        "shop-checkout",
    }
    errors = {
        (e.file.rsplit("/", 1)[-1], e.line, e.field): e.message
        for e in result.errors
        if e.severity == "error"
    }
    assert ("sloth.yaml", 29, "slos[1].sli.events.errorQuery") in errors
    assert "{{.windw}}" in errors[("sloth.yaml", 29, "slos[1].sli.events.errorQuery")]
    assert ("openslo.yaml", 76, "spec.objectives[0].target") in errors
    assert ("native.yaml", 14, "slos[1].window") in errors
    assert ("native.yaml", 20, "slos[2].indicator.latency.histogram") in errors
    sloth = next(s for s in result.slos if s.service == "myservice")
    assert sloth.objective == pytest.approx(0.999) and sloth.labels == {"owner": "myteam"}
    web = next(s for s in result.slos if s.name == "web-availability")
    assert web.calendar == "month" and web.indicator.good == 'http_requests_total{code!~"5.."}'
    slices = next(s for s in result.slos if s.name == "latency-slices")
    assert slices.budgeting == "timeslices" and slices.indicator.op == "<=" and slices.window_s == 28 * 86400
    assert slices.timeslice_target == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            "version: streamverse/v1\nservice: a\nslos:\n  - name: x\n    objective: [1\n",
            6,
            None,
            "invalid YAML",
        ),
        (
            "version: streamverse/v1\nservice: a\nslos:\n  - name: x\n    objective: 0\n"
            "    indicator: {ratio: {bad: a_total, total: b_total}}\n",
            5,
            "slos[0].objective",
            "between 0 and 1",
        ),
        (
            "version: streamverse/v1\nservice: a\nslos:\n  - name: x\n    objective: 0.9\n"
            "    indicator: {}\n",
            6,
            "slos[0].indicator",
            "exactly one of",
        ),
        (
            "version: prometheus/v1\nservice: a\nslos:\n  - name: x\n    objective: 120\n"
            "    sli: {raw: {errorRatioQuery: 'x'}}\n",
            5,
            "slos[0].objective",
            "between 0 and 100",
        ),
        (
            "version: prometheus/v1\nservice: a\nslos:\n  - name: x\n    objective: 99\n"
            "    sli: {raw: {errorRatioQuery: 'rate(x[{{.window}]'}}\n",
            6,
            "slos[0].sli.raw.errorRatioQuery",
            "template",
        ),
    ],
)
def test_bad_files_name_line_and_field(
    tmp_path: Path, text: str, line: int, field: str | None, words: str
) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    result = load_files([path])
    assert not result.ok
    err = next(e for e in result.errors if e.severity == "error")
    assert err.file == str(path) and err.line == line and err.field == field
    assert words in err.message
    assert str(path) in str(err)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.yaml", NATIVE)
    b = _write(tmp_path, "b.yaml", NATIVE)
    result = load_files([a, b])
    assert any("already defined" in e.message for e in result.errors)
    assert sum(s.id == "shop-checkout" for s in result.slos) == 1
