"""Sloth's own example files load, and the rules we write for them are the rules Sloth writes.

Fixtures are copied from github.com/slok/sloth (see tests/slo/data/README.md);
`_gen/getting-started.yml` is Sloth's own output for the first SLO of `multifile.yml`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streamverse.slo.loader import LoadOptions, load_files, load_text
from streamverse.slo.rules import build_rules, render_rules
from streamverse.slo.windows import alert_conditions, go_float, prom_duration

DATA = Path(__file__).parent / "data" / "sloth"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")
SLOTH_MODE = LoadOptions(period_ratio="sloth")


def _groups(slo_id: str, options: LoadOptions = SLOTH_MODE) -> dict[str, list[dict]]:
    result = load_files([DATA / "multifile.yml"], options)
    assert result.ok and not result.errors, result.errors
    rules = build_rules([s for s in result.slos if s.id == slo_id])
    return {g["name"].split("-", 3)[2]: g["rules"] for g in rules["groups"]}


def _sloth_groups() -> dict[str, list[dict]]:
    docs = [d for d in yaml.safe_load_all((DATA / "_gen" / "getting-started.yml").read_text()) if d]
    return {g["name"].split("-", 3)[2]: g["rules"] for g in docs[0]["groups"]}


def test_sli_recordings_are_sloths_byte_for_byte() -> None:
    ours, theirs = _groups("myservice-requests-availability"), _sloth_groups()
    assert ours["sli"] == theirs["sli"]


def test_meta_recordings_are_sloths() -> None:
    ours, theirs = _groups("myservice-requests-availability"), _sloth_groups()
    assert ours["meta"][:-1] == theirs["meta"][:-1]
    info, sloth_info = ours["meta"][-1], theirs["meta"][-1]
    assert info["expr"] == sloth_info["expr"] == "vector(1)"
    ignore = ("sloth_version", "sloth_objective")  # ours names itself; the example predates sloth_objective
    assert {k: v for k, v in info["labels"].items() if k not in ignore} == {
        k: v for k, v in sloth_info["labels"].items() if k not in ignore
    }
    assert info["labels"]["sloth_objective"] == "99.9"


def test_alerts_are_sloths_but_for_the_name() -> None:
    ours, theirs = _groups("myservice-requests-availability"), _sloth_groups()
    assert [a["alert"] for a in ours["alerts"]] == ["MyServiceHighErrorRate"] * 2  # multifile's name
    for a, b in zip(ours["alerts"], theirs["alerts"], strict=True):
        assert (a["expr"], a["labels"], a["annotations"]) == (b["expr"], b["labels"], b["annotations"])


def test_default_period_ratio_is_events_weighted_and_only_that_rule_differs() -> None:
    ours, theirs = _groups("myservice-requests-availability", LoadOptions()), _sloth_groups()
    assert ours["sli"][:-1] == theirs["sli"][:-1] and ours["meta"][:-1] == theirs["meta"][:-1]
    period = ours["sli"][-1]
    assert period["record"] == "slo:sli_error:ratio_rate30d"
    assert "[30d]" in period["expr"] and "sum_over_time" not in period["expr"]


@pytest.mark.parametrize(
    ("days", "spelt", "factors"),
    [
        (30, "30d", ["14.4", "6", "3", "1"]),
        (28, "4w", ["13.44", "5.6000000000000005", "2.8000000000000003", "0.9333333333333333"]),
    ],
)
def test_period_option_derives_windows_and_factors_as_sloth(
    days: int, spelt: str, factors: list[str]
) -> None:
    options = LoadOptions(default_period_s=days * 86400.0)
    slo = load_files([DATA / "multifile.yml"], options).slos[0]
    conds = alert_conditions(slo)
    assert [go_float(f) for _, f, _, _ in conds] == factors
    assert [(lw, sw) for _, _, lw, sw in conds] == [("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")]
    groups = {g["name"].split("-", 3)[2]: g["rules"] for g in build_rules([slo])["groups"]}
    assert groups["sli"][-1]["record"] == f"slo:sli_error:ratio_rate{spelt}"
    meta = {r["record"]: r["expr"] for r in groups["meta"]}
    assert meta["slo:time_period:days"] == f"vector({days})"
    assert f"slo:sli_error:ratio_rate{spelt}{{" in meta["slo:period_burn_rate:ratio"]
    assert f"({factors[0]} * 0.0009999999999999432)" in groups["alerts"][0]["expr"]


def test_prometheus_durations_spelt_as_prometheus() -> None:
    assert [prom_duration(d * 86400) for d in (1, 3, 7, 14, 28, 30, 90, 365)] == [
        "1d",
        "3d",
        "1w",
        "2w",
        "4w",
        "30d",
        "90d",
        "1y",
    ]


def test_kubernetes_crd_is_the_same_slo() -> None:
    crd = load_files([DATA / "k8s-getting-started.yml"])
    plain = load_files([DATA / "multifile.yml"])
    assert crd.ok and not crd.errors, crd.errors
    a, b = crd.slos[0], plain.slos[0]
    skip = {"source_file", "source_line", "spec"}
    assert a.model_dump(exclude=skip) == b.model_dump(exclude=skip)
    assert a.spec == "sloth.slok.dev/v1" and b.spec == "prometheus/v1"


def test_raw_and_multi_slo_examples_load() -> None:
    result = load_files([DATA / "raw-home-wifi.yml", DATA / "kubernetes-apiserver.yml"])
    assert result.ok, result.errors
    assert {s.id for s in result.slos} == {
        "home-wifi-wifi-client-satisfaction",
        "k8s-apiserver-requests-availability",
        "k8s-apiserver-requests-latency",
    }
    raw = next(s for s in result.slos if s.service == "home-wifi")
    rule = build_rules([raw])["groups"][0]["rules"][0]
    assert rule["expr"].startswith("(1 - (\n") and "[5m]" in rule["expr"]


SLO_HEAD = 'version: "prometheus/v1"\nservice: "svc"\nslos:\n  - name: "a"\n    objective: 99\n'


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (
            SLO_HEAD
            + "    sli:\n      plugin:\n        id: sloth-common/kubernetes/apiserver/availability\n",
            "slos[0].sli.plugin.id",
            "SLI plugins are not supported: sloth-common/kubernetes/apiserver/availability",
        ),
        (
            'version: "prometheus/v2"\nservice: svc\nslos: []\n',
            "version",
            "unsupported version 'prometheus/v2' (supported: prometheus/v1)",
        ),
        (
            'version: "sloth/v9"\nservice: svc\nslos: [{name: a}]\n',
            "version",
            "unsupported version 'sloth/v9'",
        ),
        (
            SLO_HEAD + "    sli:\n      events:\n        error_query: x{}\n",
            "slos[0].sli.events.total_query",
            "is required",
        ),
        (SLO_HEAD + "    sli: {}\n", "slos[0].sli", "needs exactly one of events (error_query, total_query)"),
    ],
)
def test_refusals_are_named(text: str, field: str, words: str) -> None:
    result = load_text(text, "bad.yml")
    errors = [e for e in result.errors if e.severity == "error"]
    assert errors and errors[0].field == field and words in errors[0].message, result.errors


def test_crd_spelling_in_prometheus_v1_loads_with_a_warning() -> None:
    text = SLO_HEAD + "    sli:\n      raw:\n        errorRatioQuery: rate(x[{{.window}}])\n"
    result = load_text(text, "camel.yml")
    assert result.ok and len(result.slos) == 1
    (warning,) = result.errors
    assert warning.severity == "warning" and warning.field == "slos[0].sli.raw.errorRatioQuery"
    assert "error_ratio_query" in warning.message


@needs_promtool
def test_rules_for_every_example_pass_promtool(tmp_path: Path) -> None:
    files = [DATA / n for n in ("multifile.yml", "raw-home-wifi.yml", "kubernetes-apiserver.yml")]
    runs = [(files, o) for o in (LoadOptions(), SLOTH_MODE, LoadOptions(default_period_s=28 * 86400.0))]
    for files, options in [*runs, ([DATA / "k8s-getting-started.yml"], LoadOptions())]:
        result = load_files(files, options)
        assert result.ok, result.errors
        (tmp_path / "rules.yml").write_text(render_rules(result.slos))
        done = subprocess.run(
            [PROMTOOL, "check", "rules", "rules.yml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
@pytest.mark.parametrize("options", [LoadOptions(), SLOTH_MODE], ids=["events", "sloth-compat"])
def test_page_alert_fires_on_an_outage(tmp_path: Path, options: LoadOptions) -> None:
    """An hour of clean traffic, then 20 minutes of 50% errors: Sloth's page alert fires within minutes."""
    result = load_files([DATA / "multifile.yml"], options)
    slo = next(s for s in result.slos if s.service == "myservice")
    (tmp_path / "rules.yml").write_text(render_rules([slo]))
    ok = "0+600x60 36000+300x30"  # 10 req/s, then 5 req/s good
    bad = "0+0x60 0+300x30"  # then 5 req/s 5xx
    labels = {
        "category": "availability",
        "owner": "myteam",
        "repo": "myorg/myservice",
        "routing_key": "myteam",
        "severity": "pageteam",
        "sloth_id": slo.id,
        "sloth_service": "myservice",
        "sloth_slo": "requests-availability",
        "sloth_severity": "page",
        "sloth_window": "5m",
        "tier": "2",
    }
    annotations = {
        "summary": "High error rate on 'myservice' requests responses",
        "title": "(page) myservice requests-availability SLO error budget burn rate is too fast.",
    }
    ticket = {
        **labels,
        "severity": "slack",
        "slack_channel": "#alerts-myteam",
        "sloth_severity": "ticket",
        "sloth_window": "2h",
    }
    del ticket["routing_key"]
    ticket_ann = {**annotations, "title": annotations["title"].replace("(page)", "(ticket)")}
    case = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_request_duration_seconds_count{job="myservice",code="200"}',
                        "values": ok,
                    },
                    {
                        "series": 'http_request_duration_seconds_count{job="myservice",code="500"}',
                        "values": bad,
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "55m", "alertname": "MyServiceHighErrorRate", "exp_alerts": []},
                    {
                        "eval_time": "75m",
                        "alertname": "MyServiceHighErrorRate",
                        "exp_alerts": [
                            {"exp_labels": labels, "exp_annotations": annotations},
                            {"exp_labels": ticket, "exp_annotations": ticket_ann},
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(case, sort_keys=False))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
