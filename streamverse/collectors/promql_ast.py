"""PromQL's expression tree, its value types and the function signatures of Prometheus 2.42.

Kept apart from the parser so the evaluator and the parser share one definition of what
each node is and what type it yields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streamverse.errors import UsageError


class PromQLError(UsageError):
    """A query that cannot be parsed or evaluated; says where and why."""


class PromQLUnsupported(PromQLError):
    """A valid Prometheus query using a feature the embedded engine refuses (named in the message)."""


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Sel:
    """A series selector; with `range_s` a range vector. `at` is epoch seconds, "start" or "end"."""

    selector: str
    range_s: float | None = None
    offset_s: float = 0.0
    at: float | str | None = None


@dataclass(frozen=True)
class Sub:
    """A subquery `expr[range:step]` (step None: the default step)."""

    expr: Node
    range_s: float
    step_s: float | None
    offset_s: float = 0.0
    at: float | str | None = None


@dataclass(frozen=True)
class Paren:
    expr: Node


@dataclass(frozen=True)
class Unary:
    op: str
    expr: Node


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Agg:
    op: str
    expr: Node
    labels: tuple[str, ...] | None = None
    without: bool = False
    param: Node | None = None


@dataclass(frozen=True)
class Bin:
    op: str
    lhs: Node
    rhs: Node
    match: tuple[str, tuple[str, ...]] | None = None  # ("on"|"ignoring", labels)
    bool_: bool = False
    card: str = "one-to-one"  # or "many-to-one" (group_left), "one-to-many" (group_right)
    include: tuple[str, ...] = ()


Node = Num | Str | Sel | Sub | Paren | Unary | Call | Agg | Bin

AGGREGATIONS = ("sum", "avg", "max", "min", "count", "group", "stddev", "stdvar", "topk", "bottomk",
                "count_values", "quantile")
PARAM_AGGREGATIONS = ("topk", "bottomk", "count_values", "quantile")
UNSUPPORTED_FUNCTIONS = ("histogram_count", "histogram_sum", "histogram_fraction")

_V, _M, _S, _STR = "vector", "matrix", "scalar", "string"
_MATH = ("abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "acos", "acosh", "asin",
         "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad")
_OVER_TIME = ("avg_over_time", "count_over_time", "last_over_time", "max_over_time", "min_over_time",
              "stddev_over_time", "stdvar_over_time", "sum_over_time", "present_over_time",
              "absent_over_time", "changes", "resets", "delta", "deriv", "idelta", "increase", "irate",
              "rate")
_DATES = ("day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year")

# name -> (argument types, how many trailing ones are optional, last one repeats, result type)
FUNCTIONS: dict[str, tuple[tuple[str, ...], int, bool, str]] = {
    **{f: ((_V,), 0, False, _V) for f in (*_MATH, "absent", "sort", "sort_desc", "timestamp")},
    **{f: ((_M,), 0, False, _V) for f in _OVER_TIME},
    **{f: ((_V,), 1, False, _V) for f in _DATES},
    "quantile_over_time": ((_S, _M), 0, False, _V),
    "holt_winters": ((_M, _S, _S), 0, False, _V),
    "predict_linear": ((_M, _S), 0, False, _V),
    "clamp": ((_V, _S, _S), 0, False, _V),
    "clamp_max": ((_V, _S), 0, False, _V),
    "clamp_min": ((_V, _S), 0, False, _V),
    "histogram_quantile": ((_S, _V), 0, False, _V),
    "label_replace": ((_V, _STR, _STR, _STR, _STR), 0, False, _V),
    "label_join": ((_V, _STR, _STR, _STR), 1, True, _V),
    "round": ((_V, _S), 1, False, _V),
    "scalar": ((_V,), 0, False, _S),
    "vector": ((_S,), 0, False, _V),
    "time": ((), 0, False, _S),
    "pi": ((), 0, False, _S),
}
RANGE_FUNCS = tuple(f for f, sig in FUNCTIONS.items() if _M in sig[0])
INSTANT_FUNCS = tuple(f for f in FUNCTIONS if f not in RANGE_FUNCS)


def type_of(node: Node) -> str:
    """The value type of a node: scalar, vector, matrix or string."""
    if isinstance(node, Num):
        return _S
    if isinstance(node, Str):
        return _STR
    if isinstance(node, Sel):
        return _M if node.range_s is not None else _V
    if isinstance(node, Sub):
        return _M
    if isinstance(node, Paren | Unary):
        return type_of(node.expr)
    if isinstance(node, Call):
        return FUNCTIONS[node.func][3]
    if isinstance(node, Agg):
        return _V
    return _S if type_of(node.lhs) == type_of(node.rhs) == _S else _V


def unwrap(node: Node) -> Node:
    """The node inside any parentheses."""
    while isinstance(node, Paren):
        node = node.expr
    return node


_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"`])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})"
                     r"|([0-7]{3})|(.?))", re.DOTALL)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
           "'": "'", '"': '"', "`": "`"}


def go_unquote(token: str) -> str:
    """A quoted string token's value with Go's escapes (backquoted strings are raw)."""
    quote, body = token[0], token[1:-1]
    if quote == "`":
        return body

    def one(m: re.Match[str]) -> str:
        simple, hx, u4, u8, octal, bad = m.groups()
        if simple is not None:
            if simple in "'\"" and simple != quote:
                raise ValueError(f"unknown escape sequence \\{simple}")
            return _SIMPLE[simple]
        code = hx or u4 or u8
        if code is not None:
            value = int(code, 16)
        elif octal is not None:
            value = int(octal, 8)
        else:
            raise ValueError(f"unknown escape sequence \\{bad}")
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise ValueError(f"invalid escape \\{m.group(0)[1:]}")
        return chr(value)

    return _ESCAPE.sub(one, body)
