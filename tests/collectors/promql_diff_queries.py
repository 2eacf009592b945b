"""The queries the differential test runs: the project's own, collected from its code, plus a broad list.

Project queries are taken from where they are built (alert rules, SLO rules and status
queries, cost usage, the remediation probe, the dashboard pages), not copied, so a new
query in the project is compared without editing this file.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

import streamverse
from streamverse.collectors.promql_ast import PromQLError, Sel
from streamverse.collectors.promql_parse import parse
from streamverse.collectors.selector import parse_selector
from streamverse.metricstore import MetricStore

PACKAGE = Path(streamverse.__file__).parent


class RecordingStore:
    """Answers through a real store and remembers every expression the caller issued."""

    def __init__(self, inner: MetricStore) -> None:
        self.inner = inner
        self.issued: list[str] = []

    def query(self, expr: str, at: float) -> pd.DataFrame:
        """Record, then answer from the real store."""
        self.issued.append(expr)
        return self.inner.query(expr, at)

    def query_range(self, expr: str, start: float, end: float, step: float) -> pd.DataFrame:
        """Record, then answer from the real store."""
        self.issued.append(expr)
        return self.inner.query_range(expr, start, end, step)


def _slo_queries() -> dict[str, list[str]]:
    from streamverse.alerts.rules import RuleKind, default_rules
    from streamverse.slo import engine
    from streamverse.slo.loader import default_slo_file, load_files
    from streamverse.slo.queries import events_exprs, window_ratio_expr
    from streamverse.slo.rules import build_rules
    from streamverse.slo.rules import windows as rule_windows

    slos = load_files([default_slo_file()]).slos
    rules = [str(r["expr"]) for g in build_rules(slos)["groups"] for r in g["rules"]]
    status: list[str] = []
    for slo in slos:
        status.extend(e for e in (events_exprs(slo) or ())[:2])
        for w in [*engine.WINDOWS, rule_windows(slo)[-1]]:
            status.append(" ".join(window_ratio_expr(slo, w).split()))  # as slo/service.py sends it
    alerts: list[str] = []
    for rule in default_rules(slos):
        alerts.extend(rule.windows.values() if rule.kind == RuleKind.slo else [rule.expr])
    return {"slo-rules": rules, "slo-status": status, "alerts": alerts}


def _recorded(store: MetricStore) -> dict[str, list[str]]:
    """Queries built with f-strings, issued by the project's own functions against a recording store."""
    from streamverse.costs import usage
    from streamverse.remediation.probes import error_ratio

    rec = RecordingStore(store)
    for region, pop in (("eu-west", "fra"), ("us-east", "nyc")):
        error_ratio(rec, label="region", value=region, at=0.0, viewers_region=region)  # type: ignore[arg-type]
        error_ratio(rec, label="pop", value=pop, at=0.0)  # type: ignore[arg-type]
    remediation, rec.issued = rec.issued, []
    for sources in usage.SOURCES.values():
        for src in sources:
            usage._window(rec, src, 0.0, 3600.0)  # type: ignore[arg-type]  # noqa: SLF001
            usage._windows(rec, src, 0.0, 2, 600.0)  # type: ignore[arg-type]  # noqa: SLF001
    costs = [*rec.issued, *(f"sum({s.selector})" for s in usage.SOURCES["cdn_egress_bytes"])]  # anomalies.py
    return {"remediation": remediation, "costs": costs}


def _string_constants(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def dashboard_queries() -> list[str]:
    """Every string literal of the dashboard that is a PromQL expression over streamverse_ metrics."""
    out = []
    pages = [*(PACKAGE / "dashboard" / "pages").glob("*.py"), PACKAGE / "dashboard" / "widgets.py"]
    for path in sorted(pages):
        for text in _string_constants(path):
            if "streamverse_" not in text or "\n" in text:
                continue
            try:
                parse(text)
            except PromQLError:
                continue
            out.append(text)
    return out


def project_queries(store: MetricStore) -> dict[str, list[str]]:
    """source -> the distinct expressions it issues (order kept; whitespace does not make a query new)."""
    groups = {**_slo_queries(), **_recorded(store), "dashboard": dashboard_queries()}
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for source, exprs in groups.items():  # a query two sources issue is compared once, under the first
        out[source] = []
        for expr in exprs:
            if (key := " ".join(expr.split())) not in seen:
                seen.add(key)
                out[source].append(expr)
    return out


def selectors(expr: str) -> Iterator[str]:
    """The series selectors of an expression (walks the parsed tree)."""
    stack: list[object] = [parse(expr)]
    while stack:
        node = stack.pop()
        if isinstance(node, Sel):
            yield node.selector
        elif dataclasses.is_dataclass(node):
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
        elif isinstance(node, tuple):
            stack.extend(node)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads."""
    return {n for s in selectors(expr) if (n := parse_selector(s).name)}


def recorded_series(rule_exprs: list[str]) -> dict[str, list[dict[str, str]]]:
    """Recording-rule outputs (`slo:...`) that queries read -> the label sets their equality matchers name."""
    out: dict[str, list[dict[str, str]]] = {}
    for expr in rule_exprs:
        for s in selectors(expr):
            sel = parse_selector(s)
            if sel.name and ":" in sel.name:
                labels = {m.label: m.value for m in sel.matchers if m.op == "=" and m.label != "__name__"}
                if labels not in out.setdefault(sel.name, []):
                    out[sel.name].append(labels)
    return out


E = "streamverse_edge_requests_total"
G = "streamverse_gateway_requests_total"
H = "streamverse_playback_startup_seconds_bucket"
P = "streamverse_pop_healthy"
S = "streamverse_video_start_surge"
Q = "streamverse_transcode_queue_depth"
B = "streamverse_object_store_bytes"

# Broad coverage of the language, over the generated data. @ times are filled in by the test.
HAND_WRITTEN: tuple[str, ...] = (
    # selectors, matchers, offset, @
    E, f'{E}{{code=~"5.."}}', f'{E}{{code!~"2..", cache!="hit"}}', f'{E}{{pop=~"fra|nyc", code="200"}}',
    '{__name__=~"streamverse_(edge|gateway)_requests_total", code="500"}', f"{E} offset 10m",
    f"{P} offset -5m", f"{S}", f"{S} offset 1h", f"{E} @ {{end}}", f"{E} @ {{mid}} offset 5m",
    f"sum(rate({E}[5m] @ {{mid}}))", f"rate({E}[5m] @ start())", f"{P} @ end()", f"{Q}",
    # rollups
    f"rate({E}[5m])", f"rate({E}[1m])", f"rate({E}[30s])", f"irate({E}[5m])", f"increase({E}[1h])",
    f"increase({E}[30s])", f"delta({Q}[10m])", f"idelta({Q}[5m])", f"deriv({Q}[10m])",
    f"resets({E}[1h])", f"changes({P}[30m])", f"changes({S}[10m])", f"avg_over_time({Q}[5m])",
    f"min_over_time({S}[10m])", f"max_over_time({S}[10m])", f"sum_over_time({P}[15m])",
    f"count_over_time({S}[5m])", f"stddev_over_time({Q}[30m])", f"stdvar_over_time({B}[30m])",
    f"last_over_time({S}[10m])", f"present_over_time({S}[10m])", f"quantile_over_time(0.9, {Q}[30m])",
    f"quantile_over_time(0.5, {S}[1h])", f"predict_linear({Q}[30m], 600)",
    f"holt_winters({Q}[10m], 0.5, 0.5)",
    f"absent_over_time({S}{{video_id=\"v1\"}}[5m])", "absent_over_time(nope_metric[5m])",
    "rate(streamverse_rebuffer_seconds_total[10m])", f"rate({E}[5m] offset 30m)",
    # instant functions
    f"abs(deriv({Q}[5m]))", f"ceil({Q})", f"floor({Q} / 3)", f"round({Q}, 5)", f"round({S}, 0.01)",
    f"clamp({Q}, 0, 50)", f"clamp_min({S}, 0)", f"clamp_max({S}, 0.1)", f"sqrt(abs({Q}))", f"exp({S})",
    f"ln({B})", f"log2({B})", f"log10({B})", f"sgn({S})", f"timestamp({S})", f"timestamp({E} offset 1m)",
    f"{Q} > bool 50", f"-{Q}", f"day_of_week({Q})", "hour()", f"minute(timestamp({P}))",
    "days_in_month()", "month()", "year()", "time()", "vector(1)", f"scalar(sum({P}))",
    f"bottomk(3, rate({E}[5m]))", f"sort(sum by (pop) (rate({E}[5m])))",
    f"sort_desc(sum by (region) (rate({E}[5m])))",
    f"label_replace({E}, \"site\", \"$1-x\", \"pop\", \"(.*)\")",
    f"label_replace(rate({E}[5m]), \"c\", \"$1\", \"code\", \"(5).*\")",
    f"label_join({P}, \"where\", \"/\", \"region\", \"pop\")", f"absent({E}{{region=\"nowhere\"}})",
    f"absent({E})", "absent(nope_metric{a=\"b\", c=~\"d\"})", f"sin({S})", f"atan2({S}, {S})",
    f"acosh({B} / 1e9 + 1)", "deg(pi())", f"rad({Q})",
    # aggregations
    f"sum(rate({E}[5m]))", f"sum by (region) (rate({E}[5m]))", f"sum without (code, cache) (rate({E}[5m]))",
    f"avg by (pop) ({P})", f"min by (region) ({S})", f"max without (video_id) ({S})",
    f"count by (code) ({E})", f"count_values(\"v\", {P})", f"stddev by (region) (rate({E}[5m]))",
    f"stdvar({Q})", f"topk(3, rate({E}[5m]))", f"bottomk(2, sum by (pop) (rate({E}[5m])))",
    f"topk by (region) (1, rate({E}[5m]))", f"quantile(0.9, rate({E}[5m]))",
    f"quantile by (region) (0.5, rate({E}[5m]))", f"group by (region, pop) ({E})",
    f"sum by (le) (rate({H}[5m]))", f"count(count by (pop) ({E}))",
    # binary operators and matching
    f"sum by (region) (rate({E}{{code=~\"5..\"}}[5m])) / sum by (region) (rate({E}[5m]))",
    f"rate({E}[5m]) / on (region, pop) group_left sum by (region, pop) (rate({E}[5m]))",
    f"rate({E}[5m]) / ignoring (code, cache) group_left sum without (code, cache) (rate({E}[5m]))",
    f"sum by (region, pop) (rate({E}[5m])) * on (pop) group_left (job) {P}",
    f"{P} * on (pop) group_right sum by (pop, code) (rate({E}[5m]))",
    f"rate({E}[5m]) / on (pop) {P}", f"{P} == 0", f"{P} != bool 1", f"{S} > 0.1", f"{S} <= bool 0",
    f"{Q} % 7", f"{Q} ^ 0.5", f"2 ^ {S}", f"{Q} atan2 {Q}", f"1 - {P}", f"{P} + on () group_left vector(1)",
    f"sum(rate({E}[5m])) > 100", f"{S} > on (video_id) {S} offset 5m",
    f"{E} and on (pop) ({P} == 0)", f"{E} unless on (region) ({P} == 1)", f"{S} or {S} offset 10m",
    f"rate({E}{{code=\"500\"}}[5m]) or rate({E}{{code=\"503\"}}[5m])",
    f"(sum by (region) (rate({E}{{code=\"503\"}}[5m])) or 0 * sum by (region) (rate({E}[5m])))",
    f"{E} / {E}", f"{E} / on () group_left {Q}", "1 + 2 * 3 - 4 / 2 ^ 2 % 3", "-(1) * -2 ^ 2",
    "NaN == NaN", "Inf > bool 1", "vector(time()) - vector(1)",
    # subqueries
    f"max_over_time(rate({E}[5m])[30m:1m])", f"sum_over_time(({Q} > bool 40)[1h:5m])",
    f"min_over_time(sum by (region) (rate({E}[1m]))[10m:])", f"rate(sum({E})[10m:30s])",
    f"avg_over_time({S}[20m:1m] offset 5m)", f"deriv(sum({Q})[15m:15s])",
    f"count_over_time(({S} > 0.1)[30m:2m])", f"max_over_time(rate({E}[5m])[30m:1m] @ {{mid}})",
    # histograms
    f"histogram_quantile(0.95, sum by (le) (rate({H}[5m])))",
    f"histogram_quantile(0.5, sum by (le, region) (rate({H}[15m])))",
    f"histogram_quantile(0.99, rate({H}[5m]))", f"histogram_quantile(0, sum by (le) (rate({H}[5m])))",
    f"histogram_quantile(1.5, sum by (le) (rate({H}[5m])))",
    "histogram_quantile(0.9, sum by (le, service) (rate(streamverse_request_duration_seconds_bucket[10m])))",
    "rate(streamverse_request_duration_seconds_sum[5m])"
    " / rate(streamverse_request_duration_seconds_count[5m])",
    # errors both sides must refuse
    f"{E} + on (region) {P}", f"sum by (region) ({E}) * on (pop) {P}", f"rate({E})", f"{E}[5m]",
    "label_replace(vector(1), \"a\", \"x\", \"b\", \"(\")", f"topk(\"x\", {E})",
)


def hand_written(start: float, end: float) -> list[str]:
    """HAND_WRITTEN with @ times inside the data."""
    mid = round((start + end) / 2, 3)
    return [q.replace("{end}", f"{end:.3f}").replace("{mid}", f"{mid:.3f}") for q in HAND_WRITTEN]
