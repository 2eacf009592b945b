"""OpenSLO v1 in the layouts its spec and SDK use; timeslices agree between `slo rules` and `slo status`.

Fixtures are copied from github.com/OpenSLO/OpenSLO (see tests/slo/data/README.md).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamverse.slo import engine
from streamverse.slo.loader import load_files, load_text
from streamverse.slo.periods import period_bounds
from streamverse.slo.rules import build_rules, render_rules

DATA = Path(__file__).parent / "data" / "openslo"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

SLI_AND_SLO = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-fast
spec:
  ratioMetric:
    counter: true
    good:
      metricSource:
        type: Prometheus
        spec:
          query: sum(checkout_total{code!~"5.."})
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum(checkout_total)
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-latency
  displayName: Checkout latency (p99)
spec:
  service: shop
  indicatorRef: checkout-fast
  timeWindow:
    - duration: 1w
      isRolling: false
      calendar:
        startTime: 2024-01-01 00:00:00
        timeZone: Europe/Paris
  budgetingMethod: {method}
  objectives:
    - displayName: Checkout latency (p99)
      target: 0.99
      timeSliceTarget: 0.9
      timeSliceWindow: 5m
    - displayName: Checkout latency (p99)
      targetPercent: 95
      timeSliceTarget: 0.9
      timeSliceWindow: 5m
"""


def test_sdk_list_file_loads() -> None:
    result = load_files([DATA / "v1_slos.yaml", DATA / "two_documents.yaml"])
    assert result.ok, result.errors
    (slo,) = result.slos
    assert slo.id == "foo-foo-slo" and slo.description == "Foo SLO"
    assert slo.indicator.good == 'http_requests_total{status_code="200"}' and slo.window_s == 30 * 86400
    (warning,) = result.errors  # the SDK example omits budgetingMethod
    assert warning.severity == "warning" and warning.field == "[0].spec.budgetingMethod" and warning.line == 6


def test_spec_examples_with_other_sources_are_refused_clearly() -> None:
    result = load_files([DATA / "ratio-timeslices.yaml", DATA / "timeslices-slo.yaml"])
    errors = {(Path(e.file).name, e.field): e.message for e in result.errors}
    assert (
        "only counter: true" in errors[("ratio-timeslices.yaml", "spec.indicator.spec.ratioMetric.counter")]
    )
    one_minute = errors[("timeslices-slo.yaml", "spec.timeWindow[0].duration")]
    assert "1m is one minute; a month is 1M" in one_minute


@pytest.mark.parametrize("method", ["Timeslices", "RatioTimeslices"])
def test_indicator_ref_free_text_names_and_calendar_week(method: str) -> None:
    result = load_text(SLI_AND_SLO.replace("{method}", method), "shop.yaml")
    assert result.ok, result.errors
    a, b = result.slos
    assert (a.name, b.name) == (
        "checkout-latency-checkout-latency-p99",
        "checkout-latency-checkout-latency-p99-1",
    )
    assert a.calendar == "week" and a.calendar_tz == "Europe/Paris" and a.window_s == 7 * 86400
    assert a.budgeting == ("timeslices" if method == "Timeslices" else "ratio_timeslices")
    assert a.timeslice_window_s == 300 and b.objective == pytest.approx(0.95)
    # 2024-01-10 12:00 UTC is in the week that began Monday 2024-01-08 00:00 Paris (= 07 23:00 UTC).
    now = datetime(2024, 1, 10, 12, tzinfo=UTC).timestamp()
    start, length = period_bounds(a, now)
    assert start == datetime(2024, 1, 7, 23, tzinfo=UTC).timestamp() and length == now - start


@pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
@pytest.mark.parametrize("method", ["Timeslices", "RatioTimeslices"])
def test_timeslice_rule_equals_the_status_engine(tmp_path: Path, method: str) -> None:
    """The recorded 1h error ratio of a timeslice SLO is what `slo status` computes from the same events."""
    slo = load_text(SLI_AND_SLO.replace("{method}", method), "shop.yaml").slos[0]
    (tmp_path / "rules.yml").write_text(render_rules([slo]))
    done = subprocess.run(
        [PROMTOOL, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rng = np.random.default_rng(7)
    minutes = 120
    total = np.full(minutes, 100.0)
    bad = np.where(rng.random(minutes) < 0.3, rng.integers(5, 40, minutes), 0).astype(float)
    b, t = engine.timeslices(bad, total, slice_target=0.9, slice_steps=5, ratio=method == "RatioTimeslices")
    expected = b[-60:].sum() / t[-60:].sum()
    cum = lambda x: " ".join(f"{v:g}" for v in np.concatenate([[0.0], np.cumsum(x)]))  # noqa: E731
    case = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'checkout_total{code="500"}', "values": cum(bad)},
                    {"series": 'checkout_total{code="200"}', "values": cum(total - bad)},
                ],
                "promql_expr_test": [
                    {
                        # Sums in another order differ in the last bit; 1e-9 is far below any budget question.
                        "expr": f'round(slo:sli_error:ratio_rate1h{{sloth_id="{slo.id}"}} * 1e9)',
                        "eval_time": f"{minutes}m",
                        "exp_samples": [{"labels": _labels(slo), "value": float(round(expected * 1e9))}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(case, sort_keys=False))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _labels(slo: object) -> str:
    rule = build_rules([slo])["groups"][0]["rules"][2]  # the 1h recording
    assert rule["record"] == "slo:sli_error:ratio_rate1h"
    inner = ", ".join(f'{k}="{v}"' for k, v in rule["labels"].items())
    return f"{{{inner}}}"
