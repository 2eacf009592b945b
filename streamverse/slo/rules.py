"""Prometheus recording and alerting rules with Sloth's names and labels.

Dashboards and alert routes built for Sloth keep working: the same `slo:*` series, the
same `sloth_*` labels, page and ticket alerts from the SRE workbook's multiwindow
multi-burn-rate table. The period window is a direct ratio of rates over the period
(not Sloth's average of 5m ratios), so it equals the engine's event-weighted figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from streamverse.durations import format_duration
from streamverse.slo.engine import ALERT_CONDITIONS, WINDOWS
from streamverse.slo.models import SLO
from streamverse.slo.queries import window_ratio_expr

SLOTH_VERSION = "streamverse-sloth-compat/v0.11"


def period_window(slo: SLO) -> str:
    """The SLO period as a rule window (a calendar month is evaluated as 30d in Prometheus)."""
    seconds = 30 * 86400.0 if slo.calendar else slo.window_s
    return f"{int(seconds // 86400)}d" if seconds % 86400 == 0 else format_duration(seconds)


def windows(slo: SLO) -> list[str]:
    """Every window the rules record, shortest first, the period last."""
    out = list(WINDOWS)
    period = period_window(slo)
    if period not in out:
        out.append(period)
    return out


def _matchers(slo: SLO) -> str:
    return f'{{sloth_id="{slo.id}", sloth_service="{slo.service}", sloth_slo="{slo.name}"}}'


def _alert_name(slo: SLO, severity: str) -> str:
    given = slo.page_alert if severity == "page" else slo.ticket_alert
    if given:
        return given
    camel = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^a-zA-Z0-9]+", slo.id) if p)
    return f"{camel}ErrorBudgetBurn"


def _alert(slo: SLO, severity: str) -> dict[str, Any]:
    eb = float(f"{1.0 - slo.objective:.12g}")
    sel = _matchers(slo)
    parts = []
    for sev, factor, long_w, short_w in ALERT_CONDITIONS:
        if sev != severity:
            continue
        parts.append(
            f"(\n    max(slo:sli_error:ratio_rate{short_w}{sel} > ({factor:g} * {eb!r}))"
            " without (sloth_window)\n    and\n"
            f"    max(slo:sli_error:ratio_rate{long_w}{sel} > ({factor:g} * {eb!r}))"
            " without (sloth_window)\n)"
        )
    labels = {k: v for k, v in slo.alert_labels.items() if ":" not in k}
    labels.update(
        {k.split(":", 1)[1]: v for k, v in slo.alert_labels.items() if k.startswith(f"{severity}:")}
    )
    labels["sloth_severity"] = severity
    annotations = {
        "title": f"(severity: {severity}) SLO {slo.id} error budget burn rate is too fast.",
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget "
        "burn rate is over expected.",
        **slo.alert_annotations,
    }
    return {
        "alert": _alert_name(slo, severity),
        "expr": "\n or\n".join(parts) + "\n",
        "labels": labels,
        "annotations": annotations,
    }


def slo_groups(slo: SLO) -> list[dict[str, Any]]:
    """Sloth's three rule groups for one SLO: SLI recordings, meta recordings, alerts."""
    base = {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name, **slo.labels}
    sel = _matchers(slo)
    period = period_window(slo)
    sli_rules = [
        {
            "record": f"slo:sli_error:ratio_rate{w}",
            "expr": window_ratio_expr(slo, w) + "\n",
            "labels": {**base, "sloth_window": w},
        }
        for w in windows(slo)
    ]
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({slo.objective!r})", "labels": base},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1 - {slo.objective!r})", "labels": base},
        {
            "record": "slo:time_period:days",
            "expr": f"vector({(30 * 86400.0 if slo.calendar else slo.window_s) / 86400:g})",
            "labels": base,
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate5m{sel}\n/ {on}\nslo:error_budget:ratio{sel}\n",
            "labels": base,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"slo:sli_error:ratio_rate{period}{sel}\n/ {on}\nslo:error_budget:ratio{sel}\n",
            "labels": base,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{sel}",
            "labels": base,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {
                **base,
                "sloth_mode": "cli-gen-prom",
                "sloth_spec": "prometheus/v1",
                "sloth_version": SLOTH_VERSION,
                "sloth_objective": f"{100 * slo.objective:g}",
            },
        },
    ]
    groups = [
        {"name": f"sloth-slo-sli-recordings-{slo.id}", "rules": sli_rules},
        {"name": f"sloth-slo-meta-recordings-{slo.id}", "rules": meta},
    ]
    alerts = [_alert(slo, sev) for sev in ("page", "ticket") if sev not in slo.disabled_alerts]
    if alerts:
        groups.append({"name": f"sloth-slo-alerts-{slo.id}", "rules": alerts})
    return groups


class _Literal(str):
    """Multi-line strings written as YAML block scalars, so the rules stay readable."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def _blocks(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _blocks(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_blocks(v) for v in obj]
    if isinstance(obj, str) and "\n" in obj:
        return _Literal(obj)
    return obj


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def build_rules(slos: Sequence[SLO]) -> dict[str, Any]:
    """The rule file as a mapping (`groups: [...]`)."""
    return {"groups": [g for slo in slos for g in slo_groups(slo)]}


def render_rules(slos: Sequence[SLO]) -> str:
    """The rule file as YAML text, ready for Prometheus' rule_files."""
    header = "# Generated by `streamverse slo rules`: Sloth-compatible SLO recording and alerting rules.\n"
    return header + yaml.dump(
        _blocks(build_rules(slos)), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True
    )
