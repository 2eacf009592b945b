"""Native SLO files (`version: streamverse/v1`): selectors, histograms and thresholds, not raw PromQL."""

from __future__ import annotations

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
    check_selector,
    duration,
    get,
    mapping,
    name,
    objective,
    str_map,
)
from streamverse.slo.models import SLO, Indicator

_CALENDAR_WORDS = ("calendar-month", "month", "calendar")


def parse(doc: Doc, result: LoadResult, options: LoadOptions) -> None:
    """Every SLO of one native document into `result`."""
    data = doc.data
    try:
        version = str(data.get("version", "streamverse/v1"))
        if version != "streamverse/v1":
            raise FieldError(("version",), f"unsupported version {version!r} (supported: streamverse/v1)")
        service = name(get(data, (), "service"), ("service",))
        file_labels = str_map(data.get("labels"), ("labels",))
        items = get(data, (), "slos", kind=list)
    except FieldError as exc:
        result.errors.append(doc.error(exc.path, exc.message))
        return
    for i, item in enumerate(items):
        build_each(doc, result, ("slos", i), lambda p, it=item: _slo(it, p, service, file_labels, options))


def _indicator(item: dict[str, Any], p: PathKey, warnings: list[FieldError]) -> Indicator:
    ind_p = (*p, "indicator")
    ind = get(item, p, "indicator", kind=dict)
    kinds = [k for k in ("ratio", "latency", "threshold") if k in ind]
    if len(kinds) != 1:
        raise FieldError(ind_p, "needs exactly one of ratio, latency or threshold")
    kind = kinds[0]
    body = get(ind, ind_p, kind, kind=dict)
    kp = (*ind_p, kind)
    if kind == "ratio":
        good, bad = body.get("good"), body.get("bad")
        if (good is None) == (bad is None):
            raise FieldError(kp, "needs either good or bad (and total)")
        which = "good" if good is not None else "bad"
        sel = check_selector(good if good is not None else bad, (*kp, which))
        total = check_selector(get(body, kp, "total"), (*kp, "total"))
        return Indicator(kind="ratio", total=total, **{which: sel})
    if kind == "latency":
        hist = check_selector(get(body, kp, "histogram"), (*kp, "histogram"))
        thr = body.get("threshold")
        if thr is None or isinstance(thr, bool):
            raise FieldError((*kp, "threshold"), "is required (seconds, or a duration like 100ms)")
        threshold = float(thr) if isinstance(thr, int | float) else duration(thr, (*kp, "threshold"))
        return Indicator(kind="latency", histogram=hist, threshold=threshold)
    query = get(body, kp, "query", kind=str)
    check_promql(query, (*kp, "query"), warnings)
    op = str(get(body, kp, "op"))
    if op not in ("<", "<=", ">", ">="):
        raise FieldError((*kp, "op"), f"op {op!r} must be one of <, <=, >, >=")
    value = get(body, kp, "value", kind=(int, float))
    return Indicator(kind="threshold", query=query, op=op, threshold=float(value))


def _slo(item: Any, p: PathKey, service: str, file_labels: dict[str, str], options: LoadOptions) -> Built:
    warnings: list[FieldError] = []
    if not isinstance(item, dict):
        raise FieldError(p, "each SLO must be a mapping with name, objective and indicator")
    slo_name = name(get(item, p, "name"), (*p, "name"))
    target = objective(get(item, p, "objective"), (*p, "objective"), percent=False)
    window = item.get("window")
    calendar = None
    if window is None:
        window_s = options.default_period_s
    elif str(window) in _CALENDAR_WORDS:
        calendar, window_s = "month", 30 * 86400.0
    else:
        window_s = duration(window, (*p, "window"))
    indicator = _indicator(item, p, warnings)
    kind = indicator.kind
    budgeting = str(item.get("budgeting", "timeslices" if kind == "threshold" else "occurrences")).lower()
    if budgeting not in ("occurrences", "timeslices", "ratio_timeslices"):
        raise FieldError((*p, "budgeting"), "must be occurrences, timeslices or ratio_timeslices")
    slice_by = item.get("slice_by") or []
    if not isinstance(slice_by, list) or not all(isinstance(s, str) for s in slice_by):
        raise FieldError((*p, "slice_by"), "must be a list of label names")
    period_ratio = str(item.get("period_ratio", options.period_ratio))
    if period_ratio not in ("events", "sloth"):
        raise FieldError((*p, "period_ratio"), "must be events (bad/total over the period) or sloth")
    alerting = mapping(item.get("alerting"), (*p, "alerting"))
    slo = SLO(
        service=service,
        name=slo_name,
        description=str(item.get("description", "")),
        objective=target,
        window_s=window_s,
        calendar=calendar,
        budgeting=budgeting,
        timeslice_window_s=duration(item.get("timeslice_window", "1m"), (*p, "timeslice_window")),
        slice_by=slice_by,
        labels={**file_labels, **str_map(item.get("labels"), (*p, "labels"))},
        indicator=indicator,
        page_alert=str(alerting.get("page_alert", "")),
        ticket_alert=str(alerting.get("ticket_alert", "")),
        disabled_alerts=_disabled(alerting, p),
        period_ratio=period_ratio,
        spec="streamverse/v1",
    )
    return slo, warnings


def _disabled(alerting: dict[str, Any], p: PathKey) -> list[str]:
    """`alerting: {page: false}` keeps an SLO from paging (efficiency objectives ticket only)."""
    out = []
    for kind in ("page", "ticket"):
        value = alerting.get(kind, True)
        if not isinstance(value, bool):
            raise FieldError((*p, "alerting", kind), "must be true or false")
        if value is False:
            out.append(kind)
    return out
