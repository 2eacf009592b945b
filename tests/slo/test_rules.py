"""Generated rules pass promtool; `promtool test rules` fires page/ticket exactly when the engine says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamverse.slo import engine
from streamverse.slo.loader import default_slo_file, load_files, load_text
from streamverse.slo.rules import build_rules, render_rules
from tests.slo.test_loader import OPENSLO, SLOTH

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
pytestmark = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")

NATIVE = """\
version: streamverse/v1
service: api
labels: {team: edge}
slos:
  - name: availability
    objective: 99.9%
    window: 30d
    indicator:
      ratio:
        bad: http_requests_total{code=~"5.."}
        total: http_requests_total
"""


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_default_and_foreign_rules_pass_promtool(tmp_path: Path) -> None:
    for name, text in (("sloth.yaml", SLOTH), ("openslo.yaml", OPENSLO)):
        (tmp_path / name).write_text(text)
    result = load_files([default_slo_file(), tmp_path / "sloth.yaml", tmp_path / "openslo.yaml"])
    (tmp_path / "rules.yml").write_text(render_rules(result.slos))
    done = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = build_rules(result.slos)
    records = {r.get("record") for g in rules["groups"] for r in g["rules"]}
    for name in (
        "slo:sli_error:ratio_rate5m",
        "slo:sli_error:ratio_rate30m",
        "slo:sli_error:ratio_rate1h",
        "slo:sli_error:ratio_rate2h",
        "slo:sli_error:ratio_rate6h",
        "slo:sli_error:ratio_rate1d",
        "slo:sli_error:ratio_rate3d",
        "slo:sli_error:ratio_rate30d",
        "slo:sli_error:ratio_rate4w",  # 28d, as Prometheus (and so Sloth) spells it
        "slo:objective:ratio",
        "slo:error_budget:ratio",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
    ):
        assert name in records
    sloth_alerts = [
        r
        for g in rules["groups"]
        if g["name"] == "sloth-slo-alerts-myservice-requests-availability"
        for r in g["rules"]
    ]
    assert [a["labels"]["severity"] for a in sloth_alerts] == ["pageteam", "slack"]
    assert [a["labels"]["sloth_severity"] for a in sloth_alerts] == ["page", "ticket"]
    assert all(a["alert"] == "MyServiceHighErrorRate" for a in sloth_alerts)


def _series(counts: np.ndarray) -> str:
    """promtool's expanding notation for a cumulative counter sampled every minute."""
    return " ".join(f"{v:g}" for v in np.concatenate([[0.0], np.cumsum(counts)]))


def _case(tmp_path: Path, bad: np.ndarray, total: np.ndarray, at_minutes: list[int]) -> dict:
    slo = load_text(NATIVE, "native.yaml").slos[0]
    rules = build_rules([slo])
    (tmp_path / "rules.yml").write_text(render_rules([slo]))
    alerts = {a["labels"]["sloth_severity"]: a for g in rules["groups"] for a in g["rules"] if "alert" in a}
    # Minute i's events land in the sample at minute i+1; the engine sees the same per-minute events.
    ratios = engine.window_ratios(bad, total, step_s=60)
    fire = engine.alert_series(ratios, slo.objective)
    # Sloth's `a or ignoring (sloth_window) b` keeps the first firing condition's short-window label.
    eb = 1 - slo.objective
    conds = engine.ALERT_CONDITIONS
    branch = {
        sev: [(ratios[lw] > f * eb) & (ratios[sw] > f * eb) for s, f, lw, sw in conds if s == sev]
        for sev in ("page", "ticket")
    }
    short = {sev: [sw for s, _, _, sw in conds if s == sev] for sev in ("page", "ticket")}
    tests = []
    # Rule groups run independently (in Prometheus and in promtool), so an alert may see the
    # recordings one evaluation late: only assert where the state was the same a minute before.
    # The same goes for which window pair fired (the `sloth_window` label): both must be steady.
    steady = [m for m in at_minutes if all(fire[s][m - 1] == fire[s][m - 2] for s in fire)
              and all(b[m - 1] == b[m - 2] for sev in branch for b in branch[sev])]
    assert len(steady) >= len(at_minutes) - 2
    for m in steady:
        by_name: dict[str, list] = {}
        for sev, alert in alerts.items():
            labels = {
                "sloth_id": slo.id,
                "sloth_service": "api",
                "sloth_slo": "availability",
                "team": "edge",
                "sloth_severity": sev,
            }
            if fire[sev][m - 1]:
                labels["sloth_window"] = short[sev][0] if branch[sev][0][m - 1] else short[sev][1]
            ann = {
                k: v.replace("{{$labels.sloth_service}}", "api").replace(
                    "{{$labels.sloth_slo}}", "availability"
                )
                for k, v in alert["annotations"].items()
            }
            expected = by_name.setdefault(alert["alert"], [])
            if fire[sev][m - 1]:
                expected.append({"exp_labels": labels, "exp_annotations": ann})
        tests.extend(
            {"eval_time": f"{m}m", "alertname": name, "exp_alerts": exp} for name, exp in by_name.items()
        )
    return {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'http_requests_total{code="500"}', "values": _series(bad)},
                    {"series": 'http_requests_total{code="200"}', "values": _series(total - bad)},
                ],
                "alert_rule_test": tests,
            }
        ],
        "_fire": fire,
    }


def _run(tmp_path: Path, case: dict) -> None:
    fire = case.pop("_fire")
    (tmp_path / "test.yml").write_text(yaml.safe_dump(case, sort_keys=False))
    done = _promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return fire


def test_page_and_ticket_fire_when_the_engine_says(tmp_path: Path) -> None:
    minutes = 180
    total = np.full(minutes, 1000.0)
    bad = np.zeros(minutes)
    bad[60:70] = 1000.0  # a 10-minute full outage after an hour of clean traffic
    case = _case(tmp_path, bad, total, [30, 60, 61, 62, 65, 70, 75, 90, 120, 170])
    fire = _run(tmp_path, case)
    assert not fire["page"][59] and fire["page"][60] and fire["ticket"][61]  # the engine agrees it pages


def test_quiet_under_budget(tmp_path: Path) -> None:
    minutes = 240
    total = np.full(minutes, 10000.0)
    bad = np.full(minutes, 5.0)  # 0.05% errors against a 0.1% budget: burn 0.5
    case = _case(tmp_path, bad, total, [10, 60, 120, 239])
    fire = _run(tmp_path, case)
    assert not fire["page"].any() and not fire["ticket"].any()
