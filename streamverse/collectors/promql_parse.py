"""PromQL's grammar as in Prometheus 2.42: tokens, the expression tree, the parser and its type checks.

Split from `promql` (the evaluator) so that code which only checks or inspects a query
(SLO files name selectors and queries) does not read the numeric machinery. Every error
names the line and column like Prometheus does (`1:5: parse error: ...`).
"""

from __future__ import annotations

import re
from dataclasses import replace

from streamverse.collectors.promql_ast import (
    AGGREGATIONS,
    FUNCTIONS,
    INSTANT_FUNCS,
    PARAM_AGGREGATIONS,
    RANGE_FUNCS,
    UNSUPPORTED_FUNCTIONS,
    Agg,
    Bin,
    Call,
    Node,
    Num,
    Paren,
    PromQLError,
    PromQLUnsupported,
    Sel,
    Str,
    Sub,
    Unary,
    go_unquote,
    type_of,
)
from streamverse.collectors.selector import SelectorError, parse_selector

__all__ = ["AGGREGATIONS", "INSTANT_FUNCS", "RANGE_FUNCS", "Agg", "Bin", "Call", "Num", "Paren",
           "PromQLError", "PromQLUnsupported", "Sel", "Str", "Sub", "Unary", "parse", "type_of"]

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "y": 31_536_000_000}
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_TOKEN = re.compile(rf"""
    (?P<dur>{_DURATION}(?![a-zA-Z0-9_.]))
  | (?P<num>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![a-zA-Z0-9_.]))
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_:]*|:[a-zA-Z0-9_:]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%(){{}}\[\],<>=^:@])
""", re.VERBOSE)
_BINARY_PREC = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, ">": 3, "<": 3, ">=": 3, "<=": 3,
                "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}
_POW = _BINARY_PREC["^"]
COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")
SET_OPS = ("and", "or", "unless")
_WORD_OPS = ("and", "or", "unless", "atan2")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_KEYWORDS = frozenset(("and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
                       "group_right", "bool", "offset", *AGGREGATIONS))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[tuple[str, str, int, int]] = []
        pos, depth = 0, 0
        while True:
            pos = self._skip(pos)
            if pos >= len(text):
                break
            if text[pos] == ":" and depth > 0:  # inside [..] a colon separates range and step
                self.toks.append(("op", ":", pos, pos + 1))
                pos += 1
                continue
            m = _TOKEN.match(text, pos)
            if not m or m.lastgroup is None:
                c = text[pos]
                what = "unterminated quoted string" if c in "\"'`" else f"unexpected character {c!r}"
                raise self.error(what, pos)
            kind, val = m.lastgroup, m.group(m.lastgroup)
            depth += {"[": 1, "]": -1}.get(val, 0) if kind == "op" else 0
            self.toks.append((kind, val, m.start(), m.end()))
            pos = m.end()
        self.i = 0

    def _skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text):
            if text[pos].isspace():
                pos += 1
            elif text[pos] == "#":
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            else:
                break
        return pos

    def where(self, pos: int) -> str:
        line = self.text.count("\n", 0, pos) + 1
        return f"{line}:{pos - (self.text.rfind(chr(10), 0, pos) + 1) + 1}"

    def error(self, message: str, pos: int | None = None) -> PromQLError:
        if pos is None:
            pos = self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)
        line = self.text.count("\n", 0, pos)
        col = pos - (self.text.rfind("\n", 0, pos) + 1)
        lines = self.text.split("\n")
        src = lines[line] if line < len(lines) else ""
        return PromQLError(f"{self.where(pos)}: parse error: {message}\n  {src}\n  {' ' * col}^ "
                           f"(line {line + 1}, column {col + 1})")

    def pos(self) -> int:
        return self.toks[self.i][2] if self.i < len(self.toks) else len(self.text)

    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return (self.toks[j][0], self.toks[j][1]) if j < len(self.toks) else ("eof", "")

    def word(self, k: int = 0) -> str:
        """The lower-cased identifier at the cursor ("" when it is not an identifier)."""
        kind, val = self.peek(k)
        return val.lower() if kind == "ident" else ""

    def take(self, value: str | None = None, what: str | None = None) -> str:
        kind, val = self.peek()
        if kind == "eof" or (value is not None and val != value):
            found = "end of input" if kind == "eof" else repr(val)
            raise self.error(f"unexpected {found}, expected {what or repr(value)}" if value or what
                             else "unexpected end of input")
        self.i += 1
        return val

    def parse(self) -> Node:
        if not self.toks:
            raise self.error("no expression found in input")
        node = self.expr(0)
        if self.peek()[0] != "eof":
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return node

    # -- operators ---------------------------------------------------------------------------
    def binary_op(self) -> str | None:
        kind, val = self.peek()
        if kind == "op" and val in _BINARY_PREC:
            return val
        return self.word() if self.word() in _WORD_OPS else None

    def expr(self, min_prec: int) -> Node:
        lhs = self.unary()
        while True:
            op = self.binary_op()
            if op is None or _BINARY_PREC[op] < min_prec:
                return lhs
            op_pos = self.pos()
            self.i += 1
            bool_ = False
            if self.word() == "bool":
                self.i += 1
                bool_ = True
            match, card, include = None, "one-to-one", ()
            if self.word() in ("on", "ignoring"):
                mode = self.take().lower()
                match = (mode, self.label_list())
                if self.word() in ("group_left", "group_right"):
                    card = "many-to-one" if self.take().lower() == "group_left" else "one-to-many"
                    include = self.label_list() if self.peek()[1] == "(" else ()
            prec = _BINARY_PREC[op]
            rhs = self.expr(prec if op == "^" else prec + 1)
            lhs = self.check_binary(Bin(op, lhs, rhs, match, bool_, card, include), op_pos)

    def check_binary(self, node: Bin, pos: int) -> Bin:
        lt, rt = type_of(node.lhs), type_of(node.rhs)
        op = node.op
        if lt not in ("scalar", "vector") or rt not in ("scalar", "vector"):
            raise self.error("binary expression must contain only scalar and instant vector types", pos)
        if node.bool_ and op not in COMPARISONS:
            raise self.error("bool modifier can only be used on comparison operators", pos)
        if op in COMPARISONS and lt == rt == "scalar" and not node.bool_:
            raise self.error("comparisons between scalars must use BOOL modifier", pos)
        if op in SET_OPS and (lt == "scalar" or rt == "scalar"):
            raise self.error(f"set operator {op!r} not allowed in binary scalar expression", pos)
        if node.match and (lt == "scalar" or rt == "scalar"):
            raise self.error("vector matching only allowed between instant vectors", pos)
        if op in SET_OPS and node.card != "one-to-one":
            raise self.error(f"no grouping allowed for {op!r} operation", pos)
        if node.match and node.match[0] == "on":
            both = set(node.match[1]) & set(node.include)
            if both:
                raise self.error(f"label {sorted(both)[0]!r} must not occur in ON and GROUP clause at once",
                                 pos)
        return node

    def unary(self) -> Node:
        kind, val = self.peek()
        if kind == "op" and val in ("-", "+"):
            pos = self.pos()
            self.i += 1
            operand = self.expr(_POW)
            if type_of(operand) not in ("scalar", "vector"):
                raise self.error("unary expression only allowed on expressions of type scalar or instant "
                                 "vector", pos)
            if val == "+":
                return operand
            return Num(-operand.value) if isinstance(operand, Num) else Unary("-", operand)
        return self.postfix(self.primary())

    # -- postfix: [range], [range:step], offset, @ -------------------------------------------------
    def postfix(self, node: Node) -> Node:
        while True:
            kind, val = self.peek()
            pos = self.pos()
            if val == "[" and kind == "op":
                node = self.bracket(node, pos)
            elif self.word() == "offset":
                self.i += 1
                node = self.modifier(node, pos, offset=self.signed_duration())
            elif val == "@" and kind == "op":
                self.i += 1
                node = self.modifier(node, pos, at=self.at_value())
            else:
                return node

    def bracket(self, node: Node, pos: int) -> Node:
        self.i += 1
        rng = self.duration()
        if self.peek()[1] == ":":
            self.i += 1
            step = None if self.peek()[1] == "]" else self.duration()
            self.take("]", "']' to close the subquery")
            if type_of(node) != "vector":
                raise self.error(f"subquery is only allowed on instant vector, got {_NAMES[type_of(node)]}",
                                 pos)
            if step == 0:
                raise self.error("zero step in a subquery", pos)
            return Sub(node, rng, step)
        self.take("]", "']' to close the range")
        if not isinstance(node, Sel) or node.range_s is not None:
            raise self.error("ranges only allowed for vector selectors", pos)
        if node.offset_s or node.at is not None:
            raise self.error("no offset or @ modifiers allowed before range", pos)
        if rng <= 0:
            raise self.error("range must be positive", pos)
        return Sel(node.selector, rng, node.offset_s, node.at)

    def modifier(self, node: Node, pos: int, *, offset: float | None = None,
                 at: float | str | None = None) -> Node:
        if not isinstance(node, Sel | Sub):
            raise self.error("offset and @ modifiers must follow a series selector, range or subquery", pos)
        if offset is not None:
            if node.offset_s:
                raise self.error("offset may not be set multiple times", pos)
            return _replace(node, offset_s=offset)
        if node.at is not None:
            raise self.error("@ <timestamp> may not be set multiple times", pos)
        return _replace(node, at=at)

    def duration(self) -> float:
        kind, val = self.peek()
        if kind != "dur":
            raise self.error(f"bad duration {val!r}: write it like 5m, 1h30m or 10s" if val
                             else "unexpected end of input, expected a duration")
        self.i += 1
        return sum(int(n) * _UNIT_MS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", val)) / 1000.0

    def signed_duration(self) -> float:
        sign = 1.0
        if self.peek() == ("op", "-"):
            self.i += 1
            sign = -1.0
        return sign * self.duration()

    def at_value(self) -> float | str:
        word = self.word()
        if word in ("start", "end") and self.peek(1)[1] == "(":
            self.i += 1
            self.take("(")
            self.take(")", "')' after start( or end(")
            return word
        sign = 1.0
        while self.peek()[0] == "op" and self.peek()[1] in ("-", "+"):
            sign *= -1.0 if self.take() == "-" else 1.0
        value = self.number_or_none()
        if value is None:
            raise self.error("expected a timestamp (epoch seconds), start() or end() after @")
        value *= sign
        if value != value or abs(value) == float("inf"):
            raise self.error("timestamp out of bounds for @ modifier")
        return round(value * 1000) / 1000.0

    def number_or_none(self) -> float | None:
        kind, val = self.peek()
        if kind == "num":
            self.i += 1
            return float(int(val, 16)) if val[:2].lower() == "0x" else float(val)
        if kind == "ident" and val.lower() in ("inf", "nan"):
            self.i += 1
            return float(val.lower())
        return None

    def label_list(self) -> tuple[str, ...]:
        self.take("(", "'(' and a list of label names")
        out: list[str] = []
        while self.peek()[1] != ")":
            kind, val = self.peek()
            if kind != "ident" or not _LABEL.fullmatch(val):
                raise self.error(f"unexpected {val!r} in grouping opts, expected label" if val
                                 else "unexpected end of input in grouping opts")
            out.append(self.take())
            if self.peek()[1] == ",":
                self.i += 1
            elif self.peek()[1] != ")":
                raise self.error("expected ',' or ')' in the label list")
        self.take(")")
        return tuple(out)

    # -- primary expressions ------------------------------------------------------------------
    def primary(self) -> Node:
        kind, val = self.peek()
        number = self.number_or_none()
        if number is not None:
            return Num(number)
        if kind == "str":
            self.i += 1
            try:
                return Str(go_unquote(val))
            except ValueError as exc:
                raise self.error(str(exc), self.toks[self.i - 1][2]) from None
        if kind == "op" and val == "(":
            self.i += 1
            node = self.expr(0)
            self.take(")", "')' (unclosed left parenthesis)")
            return Paren(node)
        if kind == "ident" or val == "{":
            low = val.lower()
            if kind == "ident" and low in AGGREGATIONS and self.word(1) in ("by", "without", "") \
                    and (self.peek(1)[1] == "(" or self.word(1) in ("by", "without")):
                return self.aggregation()
            if kind == "ident" and self.peek(1)[1] == "(":
                return self.call()
            return self.selector()
        if kind == "eof":
            raise self.error("unexpected end of input")
        raise self.error(f"unexpected {val!r}")

    def aggregation(self) -> Agg:
        pos = self.pos()
        op = self.take().lower()
        labels, without = None, False
        if self.word() in ("by", "without"):
            without = self.take().lower() == "without"
            labels = self.label_list()
        self.take("(", "'(' after the aggregation")
        param = None
        if op in PARAM_AGGREGATIONS:
            param = self.expr(0)
            self.take(",", f"',' after the parameter of {op}")
        inner = self.expr(0)
        self.take(")", "')' to close the aggregation")
        if self.word() in ("by", "without"):
            if labels is not None:
                raise self.error("grouping given twice")
            without = self.take().lower() == "without"
            labels = self.label_list()
        if type_of(inner) != "vector":
            raise self.error(f"expected type instant vector in aggregation expression, got "
                             f"{_NAMES[type_of(inner)]}", pos)
        if param is not None:
            want = "string" if op == "count_values" else "scalar"
            if type_of(param) != want:
                raise self.error(f"expected type {_NAMES[want]} in aggregation parameter, got "
                                 f"{_NAMES[type_of(param)]}", pos)
        return Agg(op, inner, labels, without, param)

    def call(self) -> Call:
        pos = self.pos()
        func = self.take()
        if func in UNSUPPORTED_FUNCTIONS:
            raise PromQLUnsupported(self.where(pos) + f": unsupported: {func}() works on native histograms, "
                                    "which the embedded store does not support")
        sig = FUNCTIONS.get(func)
        if sig is None:
            raise self.error(f"unknown function with name {func!r}", pos)
        self.take("(")
        args: list[Node] = []
        while self.peek()[1] != ")":
            args.append(self.expr(0))
            if self.peek()[1] == ",":
                self.i += 1
            elif self.peek()[1] != ")":
                raise self.error(f"expected ',' or ')' in the arguments of {func}()")
        self.take(")")
        arg_types, optional, variadic, _ = sig
        lo, hi = len(arg_types) - optional, (None if variadic else len(arg_types))
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = str(lo) if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise self.error(f"expected {want} argument(s) in call to {func!r}, got {len(args)}", pos)
        for k, arg in enumerate(args):
            want = arg_types[min(k, len(arg_types) - 1)]
            got = type_of(arg)
            if got != want:
                hint = " (a range selector such as x[5m])" if want == "matrix" else ""
                raise self.error(f"expected type {_NAMES[want]} in call to function {func!r}, got "
                                 f"{_NAMES[got]}{hint}", pos)
        return Call(func, tuple(args))

    def selector(self) -> Sel:
        start = self.pos()
        if self.peek()[0] == "ident":
            if self.word() in _KEYWORDS:
                raise self.error(f"unexpected {self.peek()[1]!r}: a keyword is not a metric name")
            self.i += 1
        end = self.toks[self.i - 1][3] if self.i > 0 else start
        if self.peek()[1] == "{":
            while True:
                kind, val = self.peek()
                if kind == "eof":
                    raise self.error("unexpected end of input inside braces")
                self.i += 1
                if kind == "op" and val == "}":
                    break
            end = self.toks[self.i - 1][3]
        text = self.text[start:end]
        try:
            parse_selector(text)
        except SelectorError as exc:
            raise self.error(exc.message, start + exc.pos) from None
        return Sel(text)


_NAMES = {"scalar": "scalar", "vector": "instant vector", "matrix": "range vector", "string": "string"}


def _replace(node: Sel | Sub, **changes: float | str | None) -> Node:
    return replace(node, **changes)  # type: ignore[arg-type]


def parse(expr: str) -> Node:
    """The syntax tree of an expression; raises PromQLError naming the line and column of the problem."""
    if not isinstance(expr, str):
        raise PromQLError(f"a PromQL expression must be a string, not {type(expr).__name__}")
    try:
        return _Parser(expr).parse()
    except RecursionError:
        raise PromQLError("1:1: parse error: expression nested too deeply") from None
