"""Sloth's two spellings of one spec: `version: prometheus/v1` files (snake_case fields) and the
Kubernetes `PrometheusServiceLevel` CRD (apiVersion sloth.slok.dev/v1, camelCase fields).

Field names follow Sloth's own Go types (pkg/prometheus/api/v1 and pkg/kubernetes/api/sloth/v1).
Neither names a period: it comes from the run's default (Sloth's --default-slo-period, 30d).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamverse.slo.forms.common import (
    Built,
    Doc,
    FieldError,
    LoadOptions,
    LoadResult,
    PathKey,
    build_each,
    check_promql,
    check_template,
    get,
    mapping,
    name,
    objective,
    render_window,
    str_map,
)
from streamverse.slo.models import SLO, Indicator

PROMETHEUS_V1 = "prometheus/v1"
CRD_API_VERSION = "sloth.slok.dev/v1"
CRD_KIND = "PrometheusServiceLevel"


@dataclass(frozen=True)
class Spelling:
    """How one of the two forms spells the fields that differ."""

    spec: str
    error_query: str
    total_query: str
    error_ratio_query: str
    page_alert: str
    ticket_alert: str
    other: Spelling | None = None  # the other form's spelling, to name a mix-up


_CRD = Spelling(CRD_API_VERSION, "errorQuery", "totalQuery", "errorRatioQuery", "pageAlert", "ticketAlert")
_PROM = Spelling(
    PROMETHEUS_V1, "error_query", "total_query", "error_ratio_query", "page_alert", "ticket_alert", other=_CRD
)
_CRD = Spelling(**{**_CRD.__dict__, "other": _PROM})


def parse_prometheus_v1(doc: Doc, result: LoadResult, options: LoadOptions) -> None:
    """A `version: prometheus/v1` document (Sloth's own CLI format)."""
    version = str(doc.data.get("version"))
    if version != PROMETHEUS_V1:
        result.errors.append(
            doc.error(("version",), f"unsupported version {version!r} (supported: prometheus/v1)")
        )
        return
    _group(doc, result, (), doc.data, _PROM, options)


def parse_crd(doc: Doc, result: LoadResult, options: LoadOptions) -> None:
    """A `kind: PrometheusServiceLevel` Kubernetes object: the same spec under `spec:`, camelCase."""
    data = doc.data
    if str(data.get("apiVersion")) != CRD_API_VERSION:
        result.errors.append(
            doc.error(
                ("apiVersion",),
                f"unsupported apiVersion {data.get('apiVersion')!r} for "
                f"{CRD_KIND} (supported: {CRD_API_VERSION})",
            )
        )
        return
    if "spec" not in data or not isinstance(data["spec"], dict):
        result.errors.append(doc.error(("spec",), "is required: a mapping with service and slos"))
        return
    _group(doc, result, ("spec",), data["spec"], _CRD, options)


def _group(
    doc: Doc, result: LoadResult, base: PathKey, data: dict[str, Any], sp: Spelling, options: LoadOptions
) -> None:
    try:
        service = name(get(data, base, "service"), (*base, "service"))
        labels = str_map(data.get("labels"), (*base, "labels"))
        items = get(data, base, "slos", kind=list)
        if not items:
            raise FieldError((*base, "slos"), "at least one SLO is required")
    except FieldError as exc:
        result.errors.append(doc.error(exc.path, exc.message))
        return
    for key in ("slo_plugins", "sloPlugins"):
        if key in data:
            result.errors.append(doc.error((*base, key), _plugins_ignored(data[key]), "warning"))
    for i, item in enumerate(items):
        build_each(
            doc, result, (*base, "slos", i), lambda p, it=item: _slo(it, p, service, labels, sp, options)
        )


def _plugins_ignored(value: Any) -> str:
    chain = value.get("chain") if isinstance(value, dict) else None
    ids = [str(c.get("id")) for c in chain if isinstance(c, dict)] if isinstance(chain, list) else []
    return f"SLO plugins are not supported and are ignored: {', '.join(ids) or value!r}"


def _query(body: dict[str, Any], path: PathKey, key: str, sp: Spelling, warnings: list[FieldError]) -> str:
    """A query field in this form's spelling; the other form's spelling is read with a warning."""
    other = sp.other
    alt = getattr(other, _field_attr(sp, key)) if other else key
    if key not in body and alt in body:
        warnings.append(
            FieldError(
                (*path, alt),
                f"Sloth's {sp.spec} spells this field {key!r} ({alt!r} is the "
                f"{other.spec if other else ''} spelling); Sloth itself would "
                "not read it",
                "warning",
            )
        )
        key = alt
    text = check_template(get(body, path, key), (*path, key))
    check_promql(render_window(text, "5m"), (*path, key), warnings)
    return text


def _field_attr(sp: Spelling, key: str) -> str:
    return next(k for k, v in sp.__dict__.items() if v == key)


def _indicator(item: dict[str, Any], p: PathKey, sp: Spelling, warnings: list[FieldError]) -> Indicator:
    sli_p = (*p, "sli")
    sli = get(item, p, "sli", kind=dict)
    kinds = [k for k in ("events", "raw", "plugin") if sli.get(k) is not None]
    if len(kinds) != 1:
        raise FieldError(
            sli_p,
            f"needs exactly one of events ({sp.error_query}, {sp.total_query}), "
            f"raw ({sp.error_ratio_query}) or plugin",
        )
    kind = kinds[0]
    body_p = (*sli_p, kind)
    body = get(sli, sli_p, kind, kind=dict)
    if kind == "plugin":
        plugin_id = body.get("id")
        raise FieldError(
            (*body_p, "id"),
            f"SLI plugins are not supported: {plugin_id}; "
            f"write the plugin's queries as sli.events or sli.raw",
        )
    if kind == "raw":
        return Indicator(kind="query", error_query=_query(body, body_p, sp.error_ratio_query, sp, warnings))
    err = _query(body, body_p, sp.error_query, sp, warnings)
    tot = _query(body, body_p, sp.total_query, sp, warnings)
    if err == tot:
        raise FieldError(
            body_p, f"{sp.error_query} and {sp.total_query} are the same query (Sloth refuses this)"
        )
    return Indicator(kind="query", error_query=err, total_query=tot)


def _alert(alerting: dict[str, Any], p: PathKey, key: str) -> dict[str, Any]:
    return mapping(alerting.get(key), (*p, key))


def _slo(
    item: Any, p: PathKey, service: str, labels: dict[str, str], sp: Spelling, options: LoadOptions
) -> Built:
    warnings: list[FieldError] = []
    if not isinstance(item, dict):
        raise FieldError(p, "each SLO must be a mapping with name, objective and sli")
    slo_name = name(get(item, p, "name"), (*p, "name"))
    target = objective(get(item, p, "objective"), (*p, "objective"), percent=True)
    indicator = _indicator(item, p, sp, warnings)
    ap = (*p, "alerting")
    alerting = mapping(item.get("alerting"), ap)
    page, ticket = _alert(alerting, ap, sp.page_alert), _alert(alerting, ap, sp.ticket_alert)
    disabled = []
    for kind, alert, key in (("page", page, sp.page_alert), ("ticket", ticket, sp.ticket_alert)):
        flag = alert.get("disable", False)
        if not isinstance(flag, bool):
            raise FieldError((*ap, key, "disable"), "must be true or false")
        if flag:
            disabled.append(kind)
    alert_name = str(alerting.get("name") or "")
    slo = SLO(
        service=service,
        name=slo_name,
        description=str(item.get("description") or ""),
        objective=target,
        window_s=options.default_period_s,
        labels={**labels, **str_map(item.get("labels"), (*p, "labels"))},
        indicator=indicator,
        page_alert=alert_name,
        ticket_alert=alert_name,
        disabled_alerts=disabled,
        alert_labels=str_map(alerting.get("labels"), (*ap, "labels")),
        alert_annotations=str_map(alerting.get("annotations"), (*ap, "annotations")),
        period_ratio=options.period_ratio,
        spec=sp.spec,
    )
    for kind, alert, key in (("page", page, sp.page_alert), ("ticket", ticket, sp.ticket_alert)):
        slo.alert_labels.update(
            {f"{kind}:{k}": v for k, v in str_map(alert.get("labels"), (*ap, key, "labels")).items()}
        )
        slo.alert_annotations.update(
            {
                f"{kind}:{k}": v
                for k, v in str_map(alert.get("annotations"), (*ap, key, "annotations")).items()
            }
        )
    return slo, warnings
