"""OpenSLO v1 (https://github.com/OpenSLO/OpenSLO): kind SLO with an inline `indicator` or an
`indicatorRef` to a kind SLI, in single documents, multi-document files or a YAML list of objects.

Names come from metadata.name (RFC 1123); displayName is free text and only ever a description.
Other kinds (Service, DataSource, AlertPolicy, ...) are accepted and not evaluated, except that a
DataSource gives the metric source type a `metricSourceRef` points at.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streamverse.errors import StreamVerseError
from streamverse.slo.forms.common import (
    Built,
    Doc,
    FieldError,
    LoadOptions,
    LoadResult,
    PathKey,
    build_each,
    check_promql,
    duration,
    get,
    mapping,
    name,
    objective,
)
from streamverse.slo.models import SLO, Indicator

API_VERSION = "openslo/v1"
KINDS = ("SLO", "SLI", "Service", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")
_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_SHORTHAND = re.compile(r"(\d+)([mhdwMQY])")
_UNIT_S = {
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "M": 30 * 86400.0,
    "Q": 90 * 86400.0,
    "Y": 365 * 86400.0,
}
_CALENDAR_UNIT = {"d": "day", "w": "week", "M": "month", "Q": "quarter", "Y": "year"}
_BUDGETING = {"occurrences": "occurrences", "timeslices": "timeslices", "ratiotimeslices": "ratio_timeslices"}
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


class _Refs:
    """SLIs and DataSources by metadata.name, across every file of the run."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.slis: dict[str, tuple[Doc, Any]] = {}
        self.sources: dict[str, str] = {}
        for doc in docs:
            meta = doc.data.get("metadata")
            ref = str(meta.get("name")) if isinstance(meta, dict) else ""
            spec = doc.data.get("spec")
            if doc.data.get("kind") == "SLI":
                self.slis[ref] = (doc, spec)
            elif doc.data.get("kind") == "DataSource" and isinstance(spec, dict):
                self.sources[ref] = str(spec.get("type", ""))


def parse(docs: Sequence[Doc], result: LoadResult, options: LoadOptions) -> None:
    """Every kind: SLO of the run's OpenSLO documents into `result`."""
    good = []
    for doc in docs:
        version, kind = str(doc.data.get("apiVersion")), doc.data.get("kind")
        if version != API_VERSION:
            result.errors.append(
                doc.error(("apiVersion",), f"unsupported apiVersion {version!r} (supported: {API_VERSION})")
            )
        elif kind not in KINDS:
            result.errors.append(
                doc.error(("kind",), f"unknown OpenSLO kind {kind!r} (one of {', '.join(KINDS)})")
            )
        else:
            good.append(doc)
    refs = _Refs(good)
    for doc in good:
        if doc.data.get("kind") == "SLO":
            build_each(doc, result, (), lambda p, d=doc: _slos(d.data, refs, options))


def _query(src: Any, path: PathKey, refs: _Refs) -> str:
    ms = get(src, path, "metricSource", kind=dict)
    mp = (*path, "metricSource")
    kind = ms.get("type")
    if kind is None and ms.get("metricSourceRef") is not None:
        kind = refs.sources.get(str(ms["metricSourceRef"]))
        if kind is None:
            raise FieldError(
                (*mp, "metricSourceRef"),
                f"no kind: DataSource named {ms['metricSourceRef']!r} in the files given, and no type",
            )
    if kind is None:
        raise FieldError((*mp, "type"), "is required (Prometheus) when metricSourceRef names no DataSource")
    if str(kind).lower() != "prometheus":
        raise FieldError((*mp, "type"), f"metric source {kind!r} is not supported; use Prometheus")
    spec = get(ms, mp, "spec", kind=dict)
    return get(spec, (*mp, "spec"), "query", kind=str).strip()


def _counter_selector(query: str, path: PathKey) -> str:
    """A cumulative counter query: a selector or sum(selector); anything else cannot be re-windowed."""
    from streamverse.collectors import promql

    try:
        node = promql.parse(query)
    except (StreamVerseError, ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
        raise FieldError(path, str(exc).splitlines()[0] if str(exc) else "cannot read the query") from None
    if (
        isinstance(node, promql.Agg)
        and node.op == "sum"
        and isinstance(node.expr, promql.Sel)
        and node.labels is None
    ):
        node = node.expr
    if not isinstance(node, promql.Sel) or node.range_s is not None:
        raise FieldError(
            path,
            'a counter query must be a selector or sum(selector), e.g. sum(http_requests_total{code!~"5.."})',
        )
    return node.selector


def _shorthand(text: Any, path: PathKey) -> tuple[int, str]:
    raw = str(text).strip()
    m = _SHORTHAND.fullmatch(raw)
    if not m or int(m.group(1)) <= 0:
        raise FieldError(path, f"cannot read duration {raw!r}: OpenSLO writes it like 28d, 4w, 1M, 1Q or 1Y")
    return int(m.group(1)), m.group(2)


def _start(value: Any, path: PathKey) -> str:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat()
    try:
        return datetime.fromisoformat(str(value).strip()).replace(tzinfo=None).isoformat()
    except ValueError:
        raise FieldError(
            path, f"startTime {value!r} must be a date and time like 2022-01-01 12:00:00"
        ) from None


def _window(spec: dict[str, Any], sp: PathKey, options: LoadOptions) -> dict[str, Any]:
    """The SLO model's period fields from timeWindow; none given is the run's default, rolling."""
    if spec.get("timeWindow") is None:
        return {"window_s": options.default_period_s}
    tw = get(spec, sp, "timeWindow", kind=list)
    tp = (*sp, "timeWindow", 0)
    if len(tw) != 1 or not isinstance(tw[0], dict):
        raise FieldError((*sp, "timeWindow"), "must hold exactly one window")
    count, unit = _shorthand(get(tw[0], tp, "duration"), (*tp, "duration"))
    calendar = mapping(tw[0].get("calendar"), (*tp, "calendar"))
    rolling = tw[0].get("isRolling", "calendar" not in tw[0])
    if not isinstance(rolling, bool):
        raise FieldError((*tp, "isRolling"), "must be true or false")
    if rolling:
        return {"window_s": count * _UNIT_S[unit]}
    if unit not in _CALENDAR_UNIT:
        hint = " (1m is one minute; a month is 1M)" if unit == "m" else ""
        raise FieldError(
            (*tp, "duration"), f"a calendar window must be days or longer, got {count}{unit}{hint}"
        )
    out: dict[str, Any] = {
        "window_s": count * _UNIT_S[unit],
        "calendar": _CALENDAR_UNIT[unit],
        "calendar_count": count,
    }
    if "startTime" in calendar:
        out["calendar_start"] = _start(calendar["startTime"], (*tp, "calendar", "startTime"))
    if calendar.get("timeZone") is not None:
        tz = str(calendar["timeZone"])
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise FieldError(
                (*tp, "calendar", "timeZone"),
                f"unknown time zone {tz!r} (IANA names such as Europe/Paris or UTC)",
            ) from None
        out["calendar_tz"] = tz
    return out


def _slice_window(obj: dict[str, Any], path: PathKey) -> float:
    value = obj.get("timeSliceWindow")
    if value is None:
        raise FieldError(
            (*path, "timeSliceWindow"), "is required with Timeslices or RatioTimeslices budgeting"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise FieldError((*path, "timeSliceWindow"), "must be longer than zero")
        return float(value) * 60.0  # a bare number is minutes (OpenSLO)
    count, unit = _shorthand(value, (*path, "timeSliceWindow"))
    return duration(f"{count * _UNIT_S[unit]:g}s", (*path, "timeSliceWindow"))


def _target(obj: dict[str, Any], path: PathKey) -> float:
    if "target" in obj and "targetPercent" in obj:
        raise FieldError(path, "has both target and targetPercent; keep one")
    if obj.get("targetPercent") is not None:
        return objective(obj["targetPercent"], (*path, "targetPercent"), percent=True)
    return objective(get(obj, path, "target"), (*path, "target"), percent=False)


def _labels(meta: dict[str, Any]) -> dict[str, str]:
    """metadata.labels as Prometheus labels: list values joined, names made valid label names."""
    raw = mapping(meta.get("labels"), ("metadata", "labels"))
    out = {}
    for k, v in raw.items():
        key = _LABEL_BAD.sub("_", str(k))
        key = f"_{key}" if key[:1].isdigit() else key
        out[key] = ",".join(str(x) for x in v) if isinstance(v, list) else ("" if v is None else str(v))
    return out


def _slug(text: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def _indicator_spec(spec: dict[str, Any], sp: PathKey, refs: _Refs) -> tuple[PathKey, dict[str, Any]]:
    if spec.get("indicator") is not None and spec.get("indicatorRef") is not None:
        raise FieldError(sp, "has both indicator and indicatorRef; keep one")
    if spec.get("indicator") is not None:
        ip: PathKey = (*sp, "indicator")
        return (*ip, "spec"), get(get(spec, sp, "indicator", kind=dict), ip, "spec", kind=dict)
    if spec.get("indicatorRef") is not None:
        ref = str(spec["indicatorRef"])
        if ref not in refs.slis:
            raise FieldError((*sp, "indicatorRef"), f"no kind: SLI named {ref!r} in the files given")
        sli = refs.slis[ref][1]
        if not isinstance(sli, dict):
            raise FieldError((*sp, "indicatorRef"), f"SLI {ref!r} has no spec")
        return (*sp, "indicatorRef"), sli
    raise FieldError(sp, "needs indicator or indicatorRef")


def _ratio(rm: Any, rp: PathKey, refs: _Refs) -> Indicator:
    if not isinstance(rm, dict):
        raise FieldError(rp, "must be a mapping")
    if rm.get("raw") is not None:
        raw_type = str(rm.get("rawType", ""))
        if raw_type not in ("success", "failure"):
            raise FieldError((*rp, "rawType"), "must be success or failure with raw")
        q = _query(rm["raw"], (*rp, "raw"), refs)
        err = f"1 - ({q})" if raw_type == "success" else f"({q})"
        # A stored ratio cannot be re-weighted by events: its windows are time averages.
        return Indicator(kind="query", error_query=f"avg_over_time(({err})[{{{{.window}}}}:1m])")
    if not rm.get("counter", False):
        raise FieldError(
            (*rp, "counter"), "only counter: true ratio metrics (or raw with rawType) are supported"
        )
    which = "good" if rm.get("good") is not None else "bad" if rm.get("bad") is not None else None
    if which is None or (rm.get("good") is not None and rm.get("bad") is not None):
        raise FieldError(rp, "needs good or bad (not both), and total")
    sel = _counter_selector(_query(rm[which], (*rp, which), refs), (*rp, which))
    total = _counter_selector(_query(get(rm, rp, "total"), (*rp, "total"), refs), (*rp, "total"))
    return Indicator(kind="ratio", total=total, **{which: sel})


def _slos(data: dict[str, Any], refs: _Refs, options: LoadOptions) -> Built:
    warnings: list[FieldError] = []
    meta = get(data, (), "metadata", kind=dict)
    slo_name = name(get(meta, ("metadata",), "name"), ("metadata", "name"))
    sp: PathKey = ("spec",)
    spec = get(data, (), "spec", kind=dict)
    service = name(get(spec, sp, "service"), (*sp, "service"))
    ip, ind = _indicator_spec(spec, sp, refs)
    window = _window(spec, sp, options)
    method_raw = spec.get("budgetingMethod")
    if method_raw is None:
        warnings.append(FieldError((*sp, "budgetingMethod"), "is missing; Occurrences assumed", "warning"))
        method_raw = "Occurrences"
    budgeting = _BUDGETING.get(str(method_raw).lower())
    if budgeting is None:
        raise FieldError(
            (*sp, "budgetingMethod"), f"{method_raw!r} must be Occurrences, Timeslices or RatioTimeslices"
        )
    objectives = get(spec, sp, "objectives", kind=list)
    if not objectives:
        raise FieldError((*sp, "objectives"), "needs at least one objective")
    if "thresholdMetric" in ind and len(objectives) > 1:
        raise FieldError((*sp, "objectives"), "a thresholdMetric SLI takes exactly one objective")
    out: list[SLO] = []
    seen: set[str] = set()
    for j, obj in enumerate(objectives):
        op_: PathKey = (*sp, "objectives", j)
        if not isinstance(obj, dict):
            raise FieldError(op_, "must be a mapping with target")
        target = _target(obj, op_)
        if "ratioMetric" in ind:
            indicator = _ratio(ind["ratioMetric"], (*ip, "ratioMetric"), refs)
        elif "thresholdMetric" in ind:
            query = _query(ind["thresholdMetric"], (*ip, "thresholdMetric"), refs)
            check_promql(query, (*ip, "thresholdMetric"), warnings)
            op = _OPS.get(str(obj.get("op", "")))
            if op is None:
                raise FieldError((*op_, "op"), "a threshold objective needs op: lt, lte, gt or gte")
            value = get(obj, op_, "value", kind=(int, float))
            indicator = Indicator(kind="threshold", query=query, op=op, threshold=float(value))
        else:
            raise FieldError(ip, "needs ratioMetric or thresholdMetric")
        slice_target = None
        slice_s = 60.0
        if budgeting != "occurrences":
            slice_s = _slice_window(obj, op_)
            if budgeting == "timeslices" and (indicator.kind != "threshold" or "timeSliceTarget" in obj):
                raw_t = get(obj, op_, "timeSliceTarget", kind=(int, float))
                if not 0 < raw_t <= 1:
                    raise FieldError((*op_, "timeSliceTarget"), "must be in (0, 1]")
                slice_target = float(raw_t)
        suffix = ""
        if len(objectives) > 1:
            suffix = _slug(obj.get("displayName")) or str(j)
            suffix = suffix if suffix not in seen else f"{suffix}-{j}"
            seen.add(suffix)
        display = str(meta.get("displayName") or "")
        description = str(spec.get("description") or display)
        if indicator.kind == "query" and budgeting != "occurrences":
            raise FieldError(
                (*sp, "budgetingMethod"),
                "Timeslices budgeting of a raw (stored ratio) metric is not supported; use Occurrences",
            )
        out.append(
            SLO(
                service=service,
                name=f"{slo_name}-{suffix}" if suffix else slo_name,
                description=description,
                objective=target,
                budgeting=budgeting,
                indicator=indicator,
                timeslice_target=slice_target,
                timeslice_window_s=slice_s,
                labels=_labels(meta),
                period_ratio=options.period_ratio,
                spec=API_VERSION,
                **window,
            )
        )
    return out, warnings
