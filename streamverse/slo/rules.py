"""Prometheus recording and alerting rules written as Sloth writes them.

Dashboards and alert routes built for Sloth keep working: the same `slo:*` series and
expressions, the same `sloth_*` labels, the same alert annotations, and burn factors derived
from the period as Sloth derives them (see `windows.py`). One deliberate difference, on by
default: the period window (`slo:sli_error:ratio_rate30d`) is bad/total events over the period,
which equals `slo status`; Sloth averages the 5m ratios instead (every 5 minutes weighs the
same, however much traffic it had). `period_ratio: sloth` (CLI `--sloth-compat`) writes
Sloth's rule exactly. See docs/slo-files.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from streamverse.durations import parse_duration
from streamverse.slo.models import SLO
from streamverse.slo.queries import window_ratio_expr
from streamverse.slo.windows import alert_conditions, alert_window_seconds, go_float, period_s, prom_duration

SLOTH_VERSION = "streamverse-sloth-compat/v0.11"
WINDOW_LABEL = "sloth_window"


def period_window(slo: SLO) -> str:
    """The SLO period as a rule window, spelt as Sloth spells it (28d is 4w)."""
    return prom_duration(period_s(slo))


def windows(slo: SLO) -> list[str]:
    """Every window the rules record: the alert windows shortest first, then the period."""
    out = list(alert_window_seconds())
    period = period_window(slo)
    if period not in out:
        out.append(period)
    return out


def _id_labels(slo: SLO) -> dict[str, str]:
    return {"sloth_id": slo.id, "sloth_service": slo.service, "sloth_slo": slo.name}


def _filter(slo: SLO) -> str:
    """Sloth's labelsToPromFilter: the id labels sorted, `, ` between them."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(_id_labels(slo).items())) + "}"


def _merge(*maps: dict[str, str]) -> dict[str, str]:
    """Later maps win, keys sorted (Go marshals maps sorted, so Sloth's files are)."""
    out: dict[str, str] = {}
    for m in maps:
        out.update(m)
    return dict(sorted(out.items()))


def _objective_percent(slo: SLO) -> float:
    """The objective as Sloth's files write it (99.9), undoing the /100 without float noise."""
    return round(slo.objective * 100, 10)


def _alert_name(slo: SLO, severity: str) -> str:
    given = slo.page_alert if severity == "page" else slo.ticket_alert
    if given:
        return given
    camel = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^a-zA-Z0-9]+", slo.id) if p)
    return f"{camel}ErrorBudgetBurn"


def _condition(slo: SLO, short_w: str, long_w: str, factor: float, eb: float) -> str:
    f, b, flt = go_float(factor), go_float(eb), _filter(slo)
    return (
        f"(\n    (slo:sli_error:ratio_rate{short_w}{flt} > ({f} * {b}))\n    and ignoring ({WINDOW_LABEL})\n"
        f"    (slo:sli_error:ratio_rate{long_w}{flt} > ({f} * {b}))\n)"
    )


def _alert(slo: SLO, severity: str) -> dict[str, Any]:
    eb = (100 - _objective_percent(slo)) / 100  # Sloth: ErrorBudget (100 - objective%) / 100
    parts = [
        _condition(slo, short_w, long_w, factor, eb)
        for sev, factor, long_w, short_w in alert_conditions(slo)
        if sev == severity
    ]
    own = {k.split(":", 1)[1]: v for k, v in slo.alert_labels.items() if k.startswith(f"{severity}:")}
    shared = {k: v for k, v in slo.alert_labels.items() if ":" not in k}
    own_ann = {
        k.split(":", 1)[1]: v for k, v in slo.alert_annotations.items() if k.startswith(f"{severity}:")
    }
    shared_ann = {k: v for k, v in slo.alert_annotations.items() if ":" not in k}
    defaults = {
        "title": f"({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget "
        "burn rate is too fast.",
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate "
        "is over expected.",
    }
    return {
        "alert": _alert_name(slo, severity),
        "expr": f"\nor ignoring ({WINDOW_LABEL})\n".join(parts) + "\n",
        "labels": _merge({"sloth_severity": severity}, shared, own),
        "annotations": _merge(defaults, shared_ann, own_ann),
    }


def timeslice_ratio_expr(slo: SLO, window: str) -> str:
    """Bad slices / slices over a window (Timeslices), or the mean slice error ratio (RatioTimeslices).

    Each slice is the error ratio over `timeslice_window`, sampled once per slice by a subquery;
    a slice without events is NaN and the `>= 0` filter leaves it out, as `slo status` does.
    """
    size = prom_duration(slo.timeslice_window_s)
    er = " ".join(window_ratio_expr(slo, size).split())
    # One second short of the window: exactly window/size slices whether the range is closed (Prometheus 2)
    # or left-open (Prometheus 3) at its start.
    span = prom_duration(parse_duration(window) - 1)
    count = f"count_over_time(((({er})) >= 0)[{span}:{size}])"
    if slo.budgeting == "ratio_timeslices":
        return f"sum_over_time(((({er})) >= 0)[{span}:{size}])\n/\n{count}"
    target = go_float(slo.timeslice_target or slo.objective)
    return f"sum_over_time(((1 - ({er})) < bool {target})[{span}:{size}])\n/\n{count}"


def _sli_rule(slo: SLO, window: str) -> dict[str, Any]:
    period = period_window(slo)
    if window == period and slo.period_ratio == "sloth" and window != "5m":
        metric = f"slo:sli_error:ratio_rate5m{_filter(slo)}"
        expr = (
            f"sum_over_time({metric}[{window}])\n/ ignoring ({WINDOW_LABEL})\n"
            f"count_over_time({metric}[{window}])\n"
        )
        return {"record": f"slo:sli_error:ratio_rate{window}", "expr": expr, "labels": {WINDOW_LABEL: window}}
    if slo.budgeting != "occurrences" and slo.indicator.kind != "threshold":
        expr = timeslice_ratio_expr(slo, window) + "\n"
    elif slo.indicator.kind == "query" and slo.indicator.total_query is None:
        expr = f"({window_ratio_expr(slo, window)})"  # Sloth writes raw SLIs as `(query)`, no newline
    else:
        expr = window_ratio_expr(slo, window) + "\n"
    return {
        "record": f"slo:sli_error:ratio_rate{window}",
        "expr": expr,
        "labels": _merge(_id_labels(slo), {WINDOW_LABEL: window}, slo.labels),
    }


def _meta_rules(slo: SLO) -> list[dict[str, Any]]:
    labels = _merge(_id_labels(slo), slo.labels)
    flt = _filter(slo)
    obj = go_float(slo.objective)
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left"

    def burn(metric: str) -> str:
        return f"{metric}{flt}\n{on}\nslo:error_budget:ratio{flt}\n"

    return [
        {"record": "slo:objective:ratio", "expr": f"vector({obj})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{obj})", "labels": labels},
        {
            "record": "slo:time_period:days",
            "expr": f"vector({go_float(period_s(slo) / 3600 / 24)})",
            "labels": labels,
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": burn("slo:sli_error:ratio_rate5m"),
            "labels": labels,
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": burn(f"slo:sli_error:ratio_rate{period_window(slo)}"),
            "labels": labels,
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{flt}",
            "labels": labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": _merge(
                labels,
                {
                    "sloth_mode": "cli-gen-prom",
                    "sloth_objective": repr(_objective_percent(slo)).removesuffix(".0"),
                    "sloth_spec": slo.spec,
                    "sloth_version": SLOTH_VERSION,
                },
            ),
        },
    ]


def slo_groups(slo: SLO) -> list[dict[str, Any]]:
    """Sloth's three rule groups for one SLO: SLI recordings, meta recordings, alerts."""
    groups = [
        {"name": f"sloth-slo-sli-recordings-{slo.id}", "rules": [_sli_rule(slo, w) for w in windows(slo)]},
        {"name": f"sloth-slo-meta-recordings-{slo.id}", "rules": _meta_rules(slo)},
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
