"""The PromQL subset's grammar: tokens, the expression tree and the parser.

Split from `promql` (the evaluator) so that code which only checks or inspects a query
(SLO files name selectors and queries) does not read the numeric machinery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from streamverse.collectors.selector import parse_selector
from streamverse.durations import parse_duration
from streamverse.errors import UsageError

AGGREGATIONS = ("sum", "avg", "max", "min", "count")
RANGE_FUNCS = ("rate", "increase", "irate", "delta", "avg_over_time", "sum_over_time", "min_over_time",
               "max_over_time", "count_over_time", "last_over_time")
_TOKEN = re.compile(r"""\s*(?:
    (?P<dur>(?:\d+(?:ms|s|m|h|d|w))+(?![a-zA-Z0-9_]))
  |     (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![a-zA-Z_]))
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%(){}\[\],<>=^])
)""", re.VERBOSE)
INSTANT_FUNCS = ("histogram_quantile", "abs", "clamp_min", "clamp_max", "vector", "scalar", "time")
_BINARY_PREC = {"==": 1, "!=": 1, ">": 1, "<": 1, ">=": 1, "<=": 1, "+": 2, "-": 2, "*": 3, "/": 3, "%": 3,
                "^": 4}
_COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")


class PromQLError(UsageError):
    """An expression outside the supported subset or with a syntax error; says where."""


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Sel:
    selector: str
    range_s: float | None = None
    offset_s: float = 0.0


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Agg:
    op: str
    expr: Any
    labels: tuple[str, ...] | None = None
    without: bool = False


@dataclass(frozen=True)
class Bin:
    op: str
    lhs: Any
    rhs: Any
    match: tuple[str, tuple[str, ...]] | None = None  # ("on"|"ignoring", labels)
    bool_: bool = False


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[tuple[str, str, int, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.lastgroup is None:
                at = len(text) - len(text[pos:].lstrip())
                raise self.error(f"unexpected {text[at]!r}", at)
            self.toks.append((m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup), m.end()))
            pos = m.end()
        self.i = 0

    def error(self, message: str, pos: int | None = None) -> PromQLError:
        if pos is None:
            pos = self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)
        return PromQLError(f"bad PromQL at column {pos + 1}: {message}\n  {self.text}\n  {' ' * pos}^")

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return (self.toks[j][0], self.toks[j][1]) if j < len(self.toks) else ("eof", "")

    def take(self, value: str | None = None) -> str:
        kind, val = self.peek()
        if kind == "eof" or (value is not None and val != value):
            raise self.error(f"expected {value!r}" if value else "unexpected end of expression")
        self.i += 1
        return val

    def parse(self) -> Any:
        node = self.expr(0)
        if self.peek()[0] != "eof":
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self, min_prec: int) -> Any:
        lhs = self.unary()
        while True:
            kind, op = self.peek()
            prec = _BINARY_PREC.get(op) if kind == "op" else None
            if prec is None or prec < min_prec:
                return lhs
            self.i += 1
            bool_ = False
            if self.peek() == ("ident", "bool"):
                self.i += 1
                bool_ = True
            match = None
            if self.peek()[1] in ("on", "ignoring") and self.peek(1)[1] == "(":
                mode = self.take()
                match = (mode, self.label_list())
            rhs = self.expr(prec + (0 if op == "^" else 1))
            lhs = Bin(op, lhs, rhs, match, bool_)

    def unary(self) -> Any:
        if self.peek() == ("op", "-"):
            self.i += 1
            return Bin("*", Num(-1.0), self.unary())
        if self.peek() == ("op", "+"):
            self.i += 1
        return self.postfix(self.primary())

    def postfix(self, node: Any) -> Any:
        if self.peek()[1] == "[":
            if not isinstance(node, Sel):
                raise self.error("a [range] applies only to a series selector")
            self.i += 1
            start = self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)
            while self.peek()[1] != "]":
                self.take()
            end = self.toks[self.i][2]
            self.take("]")
            node = Sel(node.selector, _duration(self.text[start:end], self, start), node.offset_s)
        if self.peek() == ("ident", "offset"):
            self.i += 1
            if not isinstance(node, Sel):
                raise self.error("offset applies only to a series selector")
            start = self.toks[self.i][2]
            self.take()
            node = Sel(node.selector, node.range_s, _duration(self.text[start:self.toks[self.i - 1][3]],
                                                              self, start))
        return node

    def label_list(self) -> tuple[str, ...]:
        self.take("(")
        out = []
        while self.peek()[1] != ")":
            kind, val = self.peek()
            if kind != "ident":
                raise self.error("expected a label name")
            out.append(self.take())
            if self.peek()[1] == ",":
                self.i += 1
        self.take(")")
        return tuple(out)

    def primary(self) -> Any:
        kind, val = self.peek()
        if kind == "num":
            self.i += 1
            return Num(float(val))
        if val == "(":
            self.i += 1
            node = self.expr(0)
            self.take(")")
            return node
        if val == "{" or kind == "ident":
            if kind == "ident" and val in AGGREGATIONS and self.peek(1)[1] in ("(", "by", "without"):
                return self.aggregation()
            if kind == "ident" and self.peek(1)[1] == "(":
                return self.call()
            return self.selector()
        raise self.error(f"unexpected {val!r}" if val else "unexpected end of expression")

    def aggregation(self) -> Agg:
        op = self.take()
        labels, without = None, False
        if self.peek()[1] in ("by", "without"):
            without = self.take() == "without"
            labels = self.label_list()
        self.take("(")
        inner = self.expr(0)
        self.take(")")
        if self.peek()[1] in ("by", "without"):
            without = self.take() == "without"
            labels = self.label_list()
        return Agg(op, inner, labels, without)

    def call(self) -> Call:
        pos = self.toks[self.i][2]
        func = self.take()
        if func not in RANGE_FUNCS and func not in INSTANT_FUNCS:
            raise self.error(f"function {func!r} is not in the supported subset", pos)
        self.take("(")
        args = []
        while self.peek()[1] != ")":
            args.append(self.expr(0))
            if self.peek()[1] == ",":
                self.i += 1
        self.take(")")
        ranged = len(args) == 1 and isinstance(args[0], Sel) and args[0].range_s is not None
        if func in RANGE_FUNCS and not ranged:
            raise self.error(f"{func}() takes one range selector such as x[5m]", pos)
        return Call(func, tuple(args))

    def selector(self) -> Sel:
        start = self.toks[self.i][2]
        if self.peek()[0] == "ident":
            self.i += 1
        end = self.toks[self.i - 1][3] if self.i > 0 else start
        if self.peek()[1] == "{":
            depth = 0
            while True:
                val = self.take()
                depth += {"{": 1, "}": -1}.get(val, 0)
                if depth == 0:
                    break
            end = self.toks[self.i - 1][3]
        text = self.text[start:end].strip()
        try:
            parse_selector(text)
        except ValueError as exc:
            raise self.error(str(exc).splitlines()[0], start) from None
        return Sel(text)


def _duration(text: str, parser: _Parser, pos: int) -> float:
    try:
        return parse_duration(text.strip())
    except UsageError:
        raise parser.error(f"bad duration {text.strip()!r}", pos) from None


def parse(expr: str) -> Any:
    """The syntax tree of an expression; raises PromQLError with the column of the problem."""
    return _Parser(expr).parse()


# -- evaluation --------------------------------------------------------------------------------
