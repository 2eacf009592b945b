"""Any input string either parses or raises PromQLError (never another exception), and so does evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.promql import PromQLError, Vec, evaluate, parse
from streamverse.collectors.promql_values import STALE_NAN

FRAGMENTS = [
    "sum", "avg", "count", "topk", "quantile", "count_values", "group", "stddev", "rate", "irate", "increase",
    "delta", "deriv", "predict_linear", "holt_winters", "histogram_quantile", "label_replace", "label_join",
    "absent", "absent_over_time", "quantile_over_time", "sum_over_time", "last_over_time", "changes",
    "scalar", "vector", "time", "timestamp", "sort", "clamp", "round", "year", "minute", "ln", "sgn",
    "histogram_count", "nosuch", "(", ")", "[", "]", "{", "}", ",", ":", "[5m]", "[1m:10s]", "[30s:]", "[0s]",
    "[5", "m", "5m", "1h30m", "10s", "x", "y", "x_total", "m:rec", 'job="a"', 'le="+Inf"', 'a=~"(.*"',
    'a!~"b"', "a=", "=~", "by", "without", "(a)", "(le)", "()", "offset", "-5m", "@", "@ 100", "start()",
    "end()", "1", "0", "-1", "2.5", ".5", "1e3", "0x1f", "Inf", "NaN", "-Inf", "+", "-", "*", "/", "%", "^",
    "==", "!=", ">", "<=", "bool", "on", "ignoring", "group_left", "group_right", "(b)", "and", "or",
    "unless", "atan2", '"s"', "`r`", "'q'", '"\\x"', '"unterminated', "#c\n", "\n", "0.5,", "3,", '"dst",',
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = EmbeddedStore.at_path(tmp_path_factory.mktemp("fuzz") / "m.db", flush_after_s=0)
    ts = np.arange(0, 1200, 15.0)
    for job in ("a", "b"):
        s.write_arrays("x", {"job": job}, ts, np.arange(len(ts), dtype=float))
        s.write_arrays("x_total", {"job": job, "le": "0.5"}, ts, np.where(ts == 300, np.nan, ts))
    s.write_arrays("y", {"job": "a", "le": "+Inf"}, ts[:10], np.append(np.ones(9), STALE_NAN))
    s.flush()
    yield s
    s.close()


def _parses_or_says_why(text: str) -> bool:
    try:
        parse(text)
    except PromQLError as exc:
        assert str(exc).strip(), "an error without a message"
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_promql_error(text):
    _parses_or_says_why(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14), st.sampled_from([" ", ""]))
def test_token_soup_parses_and_evaluates_or_raises_promql_error(store, parts, sep):
    text = sep.join(parts)
    if _parses_or_says_why(text):
        try:
            evaluate(store, text, start=600, end=900, step=150)
        except PromQLError as exc:
            assert str(exc).strip()


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z_]{1,8}\((x|x\[5m\]|1|\"s\")?(, ?(x|x\[5m\]|1|\"s\"))*\)", fullmatch=True))
def test_function_calls_are_checked_at_parse_time(text):
    """Wrong argument counts or types fail in the parser, naming the position, not during evaluation."""
    try:
        parse(text)
    except PromQLError as exc:
        assert str(exc).startswith("1:")


_SELECTORS = ["x", 'x{job="a"}', "y", "x_total", "nothing", "x offset 1m", "x @ 600", "vector(1)", "time()"]
_RANGE_FUNCS = ["rate", "increase", "delta", "irate", "idelta", "deriv", "resets", "changes", "sum_over_time",
                "avg_over_time", "min_over_time", "max_over_time", "count_over_time", "last_over_time",
                "stddev_over_time", "present_over_time", "absent_over_time"]
_FUNCS = ["abs", "ceil", "ln", "sqrt", "sgn", "exp", "minute", "timestamp", "sort_desc", "absent", "-"]
_BINARY = ["+", "-", "*", "/", "%", "^", "atan2", "> bool", "<", "==", "and", "or", "unless", "+ on(job)",
           "/ ignoring(le)", "* on(job) group_left", "- ignoring(le) group_right(le)", "!= bool on()"]


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    matrix = st.one_of(st.sampled_from(["x[5m]", "x_total[2m] offset 30s", "y[10m]", "x[1m] @ 700"]),
                       inner.map(lambda e: f"({e})[5m:1m]"))
    return st.one_of(
        st.tuples(st.sampled_from(_RANGE_FUNCS), matrix).map(lambda t: f"{t[0]}({t[1]})"),
        matrix.map(lambda m: f"quantile_over_time(0.3, {m})"),
        matrix.map(lambda m: f"predict_linear({m}, 60)"),
        matrix.map(lambda m: f"holt_winters({m}, 0.5, 0.4)"),
        st.tuples(st.sampled_from(["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"]),
                  st.sampled_from(["", " by (job)", " without (le)"]), inner).map(
            lambda t: f"{t[0]}{t[1]} ({t[2]})"),
        inner.map(lambda e: f"topk(1, {e})"), inner.map(lambda e: f"bottomk by (job) (2, {e})"),
        inner.map(lambda e: f"quantile(0.9, {e})"), inner.map(lambda e: f'count_values("v", {e})'),
        st.tuples(inner, st.sampled_from(_BINARY), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(inner, st.sampled_from(["+", "*", ">", "< bool", "^"])).map(lambda t: f"{t[0]} {t[1]} 2"),
        st.tuples(st.sampled_from(_FUNCS), inner).map(lambda t: f"{t[0]}({t[1]})"),
        inner.map(lambda e: f'label_replace({e}, "dst", "v-$1", "job", "(.*)")'),
        inner.map(lambda e: f'label_join({e}, "job", "-", "job", "le")'),
        inner.map(lambda e: f"histogram_quantile(0.9, {e})"), inner.map(lambda e: f"scalar({e}) * {e}"),
        inner.map(lambda e: f"clamp({e}, 1, 30)"), inner.map(lambda e: f"round({e}, 0.5)"),
        inner.map(lambda e: f"vector(scalar({e}))"),
    )


EXPRESSIONS = st.recursive(st.sampled_from(_SELECTORS), _extend, max_leaves=6)


def _points(result: np.ndarray | Vec | str, col: int) -> dict:
    if isinstance(result, np.ndarray):
        return {(): float(result[col])}
    assert isinstance(result, Vec)
    return {tuple(sorted(lab.items())): float(result.values[i, col])
            for i, lab in enumerate(result.labels) if result.present[i, col]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EXPRESSIONS)
def test_range_queries_agree_with_instant_queries_step_by_step(store, expr):
    """Each step of a range query is what an instant query at that time answers (as in Prometheus)."""
    try:
        ranged = evaluate(store, expr, start=600, end=900, step=150)
    except PromQLError:
        return
    instant = evaluate(store, expr, start=750, end=750, step=1)
    want, got = _points(ranged, 1), _points(instant, 0)
    assert want.keys() == got.keys(), expr
    for key, value in want.items():
        assert value == pytest.approx(got[key], rel=1e-9, nan_ok=True), (expr, key)
