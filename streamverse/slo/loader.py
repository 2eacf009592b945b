"""Read SLO files in three forms (native, OpenSLO v1, Sloth prometheus/v1) into `SLO` models.

Every problem is reported with its file, line and field; one bad SLO does not stop the
others in the same file or run from loading, so a typo never hides the whole fleet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamverse.durations import parse_duration
from streamverse.errors import StreamVerseError
from streamverse.slo.models import SLO, Indicator, LoadError

PathKey = tuple[str | int, ...]
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
_WINDOW_VAR = re.compile(r"^\s*\.window\s*$")
_OPENSLO_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_NAME_OK = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class _FieldError(Exception):
    def __init__(self, path: PathKey, message: str, severity: str = "error") -> None:
        super().__init__(message)
        self.path, self.message, self.severity = path, message, severity


@dataclass
class LoadResult:
    """The SLOs that loaded and the problems found, across every file of one run."""

    slos: list[SLO] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not any(e.severity == "error" for e in self.errors)


@dataclass
class _Doc:
    data: Any
    lines: dict[PathKey, int]
    file: str
    base: PathKey = ()

    def line(self, path: PathKey) -> int | None:
        """The line of the deepest part of `path` that exists in the file."""
        for i in range(len(path), -1, -1):
            if path[:i] in self.lines:
                return self.lines[path[:i]]
        return None

    def error(self, path: PathKey, message: str, severity: str = "error") -> LoadError:
        return LoadError(
            file=self.file,
            line=self.line(path),
            field=_dotted(path) or None,
            message=message,
            severity=severity,
        )  # type: ignore[arg-type]


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_map(node: yaml.Node, path: PathKey, out: dict[PathKey, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            _line_map(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)


def read_documents(text: str, file: str) -> list[_Doc]:
    """YAML documents with a line for every key; a syntax error becomes a LoadError-ready exception."""
    loader = yaml.SafeLoader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[PathKey, int] = {}
            _line_map(node, (), lines)
            docs.append(_Doc(loader.construct_document(node), lines, file))
    finally:
        loader.dispose()
    return docs


# -- small field readers ----------------------------------------------------------------------
def _get(
    data: Any,
    path: PathKey,
    key: str,
    *,
    required: bool = True,
    kind: type | tuple[type, ...] = object,
    default: Any = None,
) -> Any:
    if not isinstance(data, dict):
        raise _FieldError(path, "expected a mapping here")
    if key not in data or data[key] is None:
        if required:
            raise _FieldError((*path, key), "is required")
        return default
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _FieldError((*path, key), f"must be a {names}, got {type(value).__name__}")
    return value


def _duration(value: Any, path: PathKey) -> float:
    try:
        seconds = parse_duration(str(value))
    except StreamVerseError as exc:
        raise _FieldError(path, str(exc)) from None
    if seconds <= 0:
        raise _FieldError(path, "window must be longer than zero")
    return seconds


def _objective(value: Any, path: PathKey, *, percent: bool) -> float:
    """A ratio in (0, 1); `percent` files (Sloth) write 99.9, native files may write '99.9%'."""
    text = str(value).strip()
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        raise _FieldError(
            path, f"objective {value!r} is not a number; write it like 0.999 or 99.9%"
        ) from None
    if percent or text.endswith("%"):
        if not 0 < number < 100:
            raise _FieldError(path, f"objective {text} must be strictly between 0 and 100 percent")
        return number / 100.0
    if not 0 < number < 1:
        raise _FieldError(path, f"objective {text} must be strictly between 0 and 1 (write 0.999, or 99.9%)")
    return number


def _check_selector(expr: Any, path: PathKey) -> str:
    from streamverse.collectors.selector import SelectorError, parse_selector

    if not isinstance(expr, str) or not expr.strip():
        raise _FieldError(path, 'must be a series selector such as name{label="value"}')
    try:
        parse_selector(expr.strip())
    except SelectorError as exc:
        raise _FieldError(path, str(exc)) from None
    return expr.strip()


def _check_promql(expr: str, path: PathKey, warnings: list[_FieldError]) -> None:
    """Raw queries may use PromQL beyond the embedded subset: that is a warning, not an error."""
    from streamverse.collectors.promql import parse

    try:
        parse(expr)
    except StreamVerseError as exc:
        warnings.append(
            _FieldError(
                path,
                "outside the embedded store's PromQL subset (rules still work on "
                f"Prometheus): {str(exc).splitlines()[0]}",
                "warning",
            )
        )


def render_window(template: str, window: str) -> str:
    """Sloth's `{{.window}}` replaced by a window such as 5m."""
    return _TEMPLATE.sub(window, template)


def _check_template(text: Any, path: PathKey) -> str:
    if not isinstance(text, str) or not text.strip():
        raise _FieldError(path, "must be a PromQL query")
    if text.count("{{") != text.count("}}"):
        raise _FieldError(path, "template error: unbalanced '{{' / '}}'")
    for m in _TEMPLATE.finditer(text):
        if not _WINDOW_VAR.match(m.group(1)):
            raise _FieldError(
                path,
                f"template error: unknown variable {{{{{m.group(1)}}}}}; only {{{{.window}}}} is defined",
            )
    return text.strip()


def _str_map(value: Any, path: PathKey) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _FieldError(path, "must be a mapping of label names to values")
    return {str(k): str(v) for k, v in value.items()}


def _name(value: Any, path: PathKey) -> str:
    text = str(value)
    if not _NAME_OK.match(text):
        raise _FieldError(path, f"name {text!r} may hold only letters, digits, '_', '-' and '.'")
    return text


# -- the three forms ----------------------------------------------------------------------------
def _native(doc: _Doc, result: LoadResult) -> None:
    data = doc.data
    try:
        service = _name(_get(data, (), "service"), ("service",))
        file_labels = _str_map(data.get("labels"), ("labels",))
        items = _get(data, (), "slos", kind=list)
    except _FieldError as exc:
        result.errors.append(doc.error(exc.path, exc.message))
        return
    for i, item in enumerate(items):
        _one(doc, result, ("slos", i), lambda p, it=item: _native_slo(it, p, service, file_labels))


def _native_slo(item: Any, p: PathKey, service: str, file_labels: dict[str, str]) -> tuple[SLO, list]:
    warnings: list[_FieldError] = []
    name = _name(_get(item, p, "name"), (*p, "name"))
    objective = _objective(_get(item, p, "objective"), (*p, "objective"), percent=False)
    window = str(item.get("window", "30d"))
    calendar = None
    if window in ("calendar-month", "month", "calendar"):
        calendar, window_s = "month", 30 * 86400.0
    else:
        window_s = _duration(window, (*p, "window"))
    ind_p = (*p, "indicator")
    ind = _get(item, p, "indicator", kind=dict)
    kinds = [k for k in ("ratio", "latency", "threshold") if k in ind]
    if len(kinds) != 1:
        raise _FieldError(ind_p, "needs exactly one of ratio, latency or threshold")
    kind = kinds[0]
    body = _get(ind, ind_p, kind, kind=dict)
    kp = (*ind_p, kind)
    if kind == "ratio":
        good, bad = body.get("good"), body.get("bad")
        if (good is None) == (bad is None):
            raise _FieldError(kp, "needs either good or bad (and total)")
        which = "good" if good is not None else "bad"
        sel = _check_selector(good if good is not None else bad, (*kp, which))
        total = _check_selector(_get(body, kp, "total"), (*kp, "total"))
        indicator = Indicator(kind="ratio", total=total, **{which: sel})
    elif kind == "latency":
        hist = _check_selector(_get(body, kp, "histogram"), (*kp, "histogram"))
        thr = body.get("threshold")
        if thr is None:
            raise _FieldError((*kp, "threshold"), "is required (seconds, or a duration like 100ms)")
        threshold = float(thr) if isinstance(thr, int | float) else _duration(thr, (*kp, "threshold"))
        indicator = Indicator(kind="latency", histogram=hist, threshold=threshold)
    else:
        query = _get(body, kp, "query", kind=str)
        _check_promql(query, (*kp, "query"), warnings)
        op = str(_get(body, kp, "op"))
        if op not in ("<", "<=", ">", ">="):
            raise _FieldError((*kp, "op"), f"op {op!r} must be one of <, <=, >, >=")
        value = _get(body, kp, "value", kind=(int, float))
        indicator = Indicator(kind="threshold", query=query, op=op, threshold=float(value))
    budgeting = str(item.get("budgeting", "timeslices" if kind == "threshold" else "occurrences")).lower()
    if budgeting not in ("occurrences", "timeslices"):
        raise _FieldError((*p, "budgeting"), "must be occurrences or timeslices")
    slice_by = item.get("slice_by") or []
    if not isinstance(slice_by, list) or not all(isinstance(s, str) for s in slice_by):
        raise _FieldError((*p, "slice_by"), "must be a list of label names")
    alerting = item.get("alerting") or {}
    slo = SLO(
        service=service,
        name=name,
        description=str(item.get("description", "")),
        objective=objective,
        window_s=window_s,
        calendar=calendar,
        budgeting=budgeting,
        slice_by=slice_by,
        labels={**file_labels, **_str_map(item.get("labels"), (*p, "labels"))},
        indicator=indicator,
        page_alert=str(alerting.get("page_alert", "")),
        ticket_alert=str(alerting.get("ticket_alert", "")),
        disabled_alerts=_disabled(alerting, p),
    )
    return slo, warnings


def _disabled(alerting: Any, p: tuple[Any, ...]) -> list[str]:
    """`alerting: {page: false}` keeps an SLO from paging (efficiency objectives ticket only)."""
    if not isinstance(alerting, dict):
        raise _FieldError((*p, "alerting"), "must be a mapping")
    out = []
    for kind in ("page", "ticket"):
        value = alerting.get(kind, True)
        if not isinstance(value, bool):
            raise _FieldError((*p, "alerting", kind), "must be true or false")
        if value is False:
            out.append(kind)
    return out


def _sloth(doc: _Doc, result: LoadResult) -> None:
    data = doc.data
    try:
        service = _name(_get(data, (), "service"), ("service",))
        file_labels = _str_map(data.get("labels"), ("labels",))
        items = _get(data, (), "slos", kind=list)
    except _FieldError as exc:
        result.errors.append(doc.error(exc.path, exc.message))
        return
    for i, item in enumerate(items):
        _one(doc, result, ("slos", i), lambda p, it=item: _sloth_slo(it, p, service, file_labels))


def _sloth_slo(item: Any, p: PathKey, service: str, file_labels: dict[str, str]) -> tuple[SLO, list]:
    warnings: list[_FieldError] = []
    name = _name(_get(item, p, "name"), (*p, "name"))
    objective = _objective(_get(item, p, "objective"), (*p, "objective"), percent=True)
    sp = (*p, "sli")
    sli = _get(item, p, "sli", kind=dict)
    if "events" in sli:
        ep = (*sp, "events")
        events = _get(sli, sp, "events", kind=dict)
        err = _check_template(_get(events, ep, "errorQuery"), (*ep, "errorQuery"))
        tot = _check_template(_get(events, ep, "totalQuery"), (*ep, "totalQuery"))
        _check_promql(render_window(err, "5m"), (*ep, "errorQuery"), warnings)
        _check_promql(render_window(tot, "5m"), (*ep, "totalQuery"), warnings)
        indicator = Indicator(kind="query", error_query=err, total_query=tot)
    elif "raw" in sli:
        rp = (*sp, "raw")
        raw = _get(sli, sp, "raw", kind=dict)
        q = _check_template(_get(raw, rp, "errorRatioQuery"), (*rp, "errorRatioQuery"))
        _check_promql(render_window(q, "5m"), (*rp, "errorRatioQuery"), warnings)
        indicator = Indicator(kind="query", error_query=q)
    elif "plugin" in sli:
        raise _FieldError((*sp, "plugin"), "Sloth SLI plugins are not supported; write events or raw queries")
    else:
        raise _FieldError(sp, "needs events (errorQuery, totalQuery) or raw (errorRatioQuery)")
    alerting = item.get("alerting") or {}
    if not isinstance(alerting, dict):
        raise _FieldError((*p, "alerting"), "must be a mapping")
    alert_name = str(alerting.get("name") or "")
    page = alerting.get("page_alert") or alerting.get("pageAlert") or {}
    ticket = alerting.get("ticket_alert") or alerting.get("ticketAlert") or {}
    slo = SLO(
        service=service,
        name=name,
        description=str(item.get("description", "")),
        objective=objective,
        labels={**file_labels, **_str_map(item.get("labels"), (*p, "labels"))},
        indicator=indicator,
        page_alert=alert_name,
        ticket_alert=alert_name,
        disabled_alerts=[k for k, a in (("page", page), ("ticket", ticket)) if a.get("disable")],
        alert_labels=_str_map(alerting.get("labels"), (*p, "alerting", "labels")),
        alert_annotations=_str_map(alerting.get("annotations"), (*p, "alerting", "annotations")),
    )
    slo.alert_labels.update({f"page:{k}": v for k, v in _str_map(page.get("labels"), ()).items()})
    slo.alert_labels.update({f"ticket:{k}": v for k, v in _str_map(ticket.get("labels"), ()).items()})
    return slo, warnings


def _openslo_query(src: Any, path: PathKey) -> str:
    ms = _get(src, path, "metricSource", kind=dict)
    mp = (*path, "metricSource")
    kind = str(ms.get("type", "Prometheus"))
    if kind.lower() != "prometheus":
        raise _FieldError((*mp, "type"), f"metric source {kind!r} is not supported; use Prometheus")
    spec = _get(ms, mp, "spec", kind=dict)
    return _get(spec, (*mp, "spec"), "query", kind=str).strip()


def _counter_selector(query: str, path: PathKey) -> str:
    """A cumulative counter query: a selector or sum(selector); anything else cannot be re-windowed."""
    from streamverse.collectors import promql

    try:
        node = promql.parse(query)
    except StreamVerseError as exc:
        raise _FieldError(path, str(exc).splitlines()[0]) from None
    if isinstance(node, promql.Agg) and node.op == "sum" and isinstance(node.expr, promql.Sel):
        node = node.expr
    if not isinstance(node, promql.Sel) or node.range_s is not None:
        raise _FieldError(
            path,
            'a counter query must be a selector or sum(selector), e.g. sum(http_requests_total{code!~"5.."})',
        )
    return node.selector


def _openslo_duration(text: Any, path: PathKey) -> tuple[float, bool]:
    raw = str(text).strip()
    m = re.fullmatch(r"(\d+)([mhdwMQY])", raw)
    if not m:
        raise _FieldError(path, f"cannot read duration {raw!r}: write it like 28d, 4w or 1M")
    n, unit = int(m.group(1)), m.group(2)
    if unit in "MQY":
        months = n * {"M": 1, "Q": 3, "Y": 12}[unit]
        return months * 30 * 86400.0, True
    return _duration(raw, path), False


def _openslo(docs: Sequence[_Doc], result: LoadResult) -> None:
    slis: dict[str, tuple[_Doc, PathKey, Any]] = {}
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "SLI":
            name = str((doc.data.get("metadata") or {}).get("name", ""))
            slis[name] = (doc, ("spec",), doc.data.get("spec") or {})
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "SLO":
            _one(doc, result, (), lambda p, d=doc: _openslo_slos(d.data, slis))


def _openslo_slos(data: dict[str, Any], slis: dict[str, Any]) -> tuple[list[SLO], list]:
    meta = _get(data, (), "metadata", kind=dict)
    name = _name(_get(meta, ("metadata",), "name"), ("metadata", "name"))
    sp: PathKey = ("spec",)
    spec = _get(data, (), "spec", kind=dict)
    service = _name(_get(spec, sp, "service"), (*sp, "service"))
    if "indicator" in spec:
        ip: PathKey = (*sp, "indicator", "spec")
        ind = _get(_get(spec, sp, "indicator", kind=dict), (*sp, "indicator"), "spec", kind=dict)
    elif "indicatorRef" in spec:
        ref = str(spec["indicatorRef"])
        if ref not in slis:
            raise _FieldError((*sp, "indicatorRef"), f"no kind: SLI named {ref!r} in the files given")
        ip, ind = ("spec",), slis[ref][2]
    else:
        raise _FieldError(sp, "needs indicator or indicatorRef")
    tw = _get(spec, sp, "timeWindow", kind=list)
    if len(tw) != 1 or not isinstance(tw[0], dict):
        raise _FieldError((*sp, "timeWindow"), "must hold exactly one window")
    window_s, months = _openslo_duration(
        _get(tw[0], (*sp, "timeWindow", 0), "duration"), (*sp, "timeWindow", 0, "duration")
    )
    rolling = bool(tw[0].get("isRolling", True))
    calendar = "month" if (not rolling or ("calendar" in tw[0])) and months else None
    method = str(_get(spec, sp, "budgetingMethod")).lower()
    if method not in ("occurrences", "timeslices", "ratiotimeslices"):
        raise _FieldError((*sp, "budgetingMethod"), f"{method!r} must be Occurrences or Timeslices")
    budgeting = "occurrences" if method == "occurrences" else "timeslices"
    objectives = _get(spec, sp, "objectives", kind=list)
    out: list[SLO] = []
    for j, obj in enumerate(objectives):
        op_: PathKey = (*sp, "objectives", j)
        target = _objective(_get(obj, op_, "target"), (*op_, "target"), percent=False)
        if "ratioMetric" in ind:
            rp = (*ip, "ratioMetric")
            rm = ind["ratioMetric"]
            if not rm.get("counter", True):
                raise _FieldError((*rp, "counter"), "only counter: true ratio metrics are supported")
            which = "good" if "good" in rm else "bad" if "bad" in rm else None
            if which is None:
                raise _FieldError(rp, "needs good or bad, and total")
            sel = _counter_selector(_openslo_query(rm[which], (*rp, which)), (*rp, which))
            total = _counter_selector(_openslo_query(_get(rm, rp, "total"), (*rp, "total")), (*rp, "total"))
            indicator = Indicator(kind="ratio", total=total, **{which: sel})
        elif "thresholdMetric" in ind:
            tp = (*ip, "thresholdMetric")
            query = _openslo_query(ind["thresholdMetric"], tp)
            op = _OPENSLO_OPS.get(str(obj.get("op", "")))
            if op is None:
                raise _FieldError((*op_, "op"), "a threshold objective needs op: lt, lte, gt or gte")
            value = _get(obj, op_, "value", kind=(int, float))
            indicator = Indicator(kind="threshold", query=query, op=op, threshold=float(value))
        else:
            raise _FieldError(ip, "needs ratioMetric or thresholdMetric")
        suffix = "" if len(objectives) == 1 else f"-{obj.get('displayName') or j}"
        out.append(
            SLO(
                service=service,
                name=_name(name + suffix, (*op_, "displayName")),
                description=str(spec.get("description", "")),
                objective=target,
                window_s=window_s,
                calendar=calendar,
                budgeting=budgeting,
                indicator=indicator,
                timeslice_target=float(obj["timeSliceTarget"]) if "timeSliceTarget" in obj else None,
                labels=_str_map((meta.get("labels") or {}), ("metadata", "labels"))
                if all(isinstance(v, str) for v in (meta.get("labels") or {}).values())
                else {},
            )
        )
    return out, []


def _one(doc: _Doc, result: LoadResult, path: PathKey, build: Any) -> None:
    """Build one SLO (or a few); its error is recorded and the rest of the file goes on."""
    try:
        made, warnings = build(path)
    except _FieldError as exc:
        result.errors.append(doc.error(exc.path, exc.message))
        return
    except (ValueError, TypeError) as exc:  # pydantic validation of the assembled model
        result.errors.append(doc.error(path, str(exc).splitlines()[-1] if str(exc) else type(exc).__name__))
        return
    for w in warnings:
        result.errors.append(doc.error(w.path, w.message, w.severity))
    line = doc.line(path)
    for slo in made if isinstance(made, list) else [made]:
        slo.source_file, slo.source_line = doc.file, line
        result.slos.append(slo)


def detect_form(data: Any) -> str | None:
    """'native', 'openslo' or 'sloth' from a document's header; None when it is none of them."""
    if not isinstance(data, dict):
        return None
    version = str(data.get("version", data.get("apiVersion", "")))
    if version.startswith("prometheus/v1"):
        return "sloth"
    if version.lower().startswith("openslo/"):
        return "openslo"
    if version.startswith("streamverse/") or ("slos" in data and "service" in data):
        return "native"
    return None


def load_text(text: str, file: str, result: LoadResult | None = None) -> LoadResult:
    """SLOs from the text of one file (any of the three forms)."""
    result = result or LoadResult()
    try:
        docs = read_documents(text, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        result.errors.append(
            LoadError(file=file, line=mark.line + 1 if mark else None, message=f"invalid YAML: {problem}")
        )
        return result
    openslo = []
    for i, doc in enumerate(docs):
        form = detect_form(doc.data)
        if form == "native":
            _native(doc, result)
        elif form == "sloth":
            _sloth(doc, result)
        elif form == "openslo":
            openslo.append(doc)
        elif doc.data is not None:
            result.errors.append(
                doc.error(
                    ("version",),
                    f"document {i + 1} is not an SLO file: expected "
                    "version: streamverse/v1, version: prometheus/v1 (Sloth) or "
                    "apiVersion: openslo/v1",
                )
            )
    if openslo:
        _openslo(openslo, result)
    return result


def load_files(paths: Iterable[Path | str]) -> LoadResult:
    """SLOs from many files; duplicate ids across files are errors too."""
    result = LoadResult()
    for path in paths:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            result.errors.append(LoadError(file=str(p), message=f"cannot read: {exc.strerror or exc}"))
            continue
        load_text(text, str(p), result)
    seen: dict[str, SLO] = {}
    unique = []
    for slo in result.slos:
        if slo.id in seen:
            first = seen[slo.id]
            result.errors.append(
                LoadError(
                    file=slo.source_file,
                    line=slo.source_line,
                    field="name",
                    message=f"SLO id {slo.id!r} already defined at {first.source_file}:{first.source_line}",
                )
            )
            continue
        seen[slo.id] = slo
        unique.append(slo)
    result.slos = unique
    return result


def default_slo_file() -> Path:
    """The shipped default SLO set."""
    return Path(__file__).parent / "data" / "default_slos.yaml"
