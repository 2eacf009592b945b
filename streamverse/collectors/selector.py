"""Prometheus-style series selectors: `name{a="x",b!="y",c=~"re",d!~"re"}`.

Errors name the column where parsing stopped, with a caret under it, so a typo in a
dashboard query or an SLO file is found at a glance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS = ("=~", "!~", "!=", "=")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "r": "\r", "v": "\v"}
_INLINE_FLAGS = re.compile(r"\(\?([imsU]*(?:-[imsU]*)?)\)")


class SelectorError(ValueError):
    """A selector that cannot be parsed; says where."""

    def __init__(self, text: str, pos: int, message: str) -> None:
        self.text = text
        self.pos = pos
        self.message = message
        super().__init__(f"bad selector at column {pos + 1}: {message}\n  {text}\n  {' ' * pos}^")


@dataclass(frozen=True)
class Matcher:
    """One label condition; a missing label counts as "" as in Prometheus."""

    label: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set (with `__name__`) satisfies this condition."""
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = self.regex is not None and self.regex.fullmatch(have) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    """The parsed selector: all matchers, `__name__` included."""

    text: str
    matchers: tuple[Matcher, ...]

    @property
    def name(self) -> str | None:
        """The exact metric name when the selector fixes one (lets stores use an index)."""
        for m in self.matchers:
            if m.label == "__name__" and m.op == "=":
                return m.value
        return None

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a series' label set (with `__name__`) is selected."""
        return all(m.matches(labels) for m in self.matchers)


@lru_cache(maxsize=1024)
def parse_selector(text: str) -> Selector:
    """Parse a selector; raises SelectorError with the column of the problem."""
    p = _Parser(text)
    return p.parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> SelectorError:
        return SelectorError(self.text, self.pos if pos is None else pos, message)

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Selector:
        matchers: list[Matcher] = []
        self.skip_ws()
        if not self.peek():
            raise self.error("empty selector; expected a metric name or {label=\"value\"}")
        m = _NAME.match(self.text, self.pos)
        if m:
            matchers.append(Matcher("__name__", "=", m.group()))
            self.pos = m.end()
            self.skip_ws()
        elif self.peek() != "{":
            raise self.error(f"expected a metric name or '{{', found {self.peek()!r}")
        if self.peek() == "{":
            self.pos += 1
            matchers.extend(self.parse_matchers())
        self.skip_ws()
        if self.pos < len(self.text):
            raise self.error(f"unexpected {self.peek()!r} after the selector")
        if not any(not _matches_empty(mm) for mm in matchers):
            raise self.error("selector matches every series; give a metric name or a "
                             "matcher that cannot be empty", 0)
        return Selector(self.text, tuple(matchers))

    def parse_matchers(self) -> list[Matcher]:
        out: list[Matcher] = []
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.pos += 1
                return out
            if not self.peek():
                raise self.error("missing '}' at the end of the label matchers")
            label = _LABEL.match(self.text, self.pos)
            if not label:
                raise self.error(f"expected a label name, found {self.peek()!r}")
            self.pos = label.end()
            self.skip_ws()
            op = next((o for o in _OPS if self.text.startswith(o, self.pos)), None)
            if op is None:
                raise self.error(f"expected one of = != =~ !~ after label {label.group()!r}")
            self.pos += len(op)
            self.skip_ws()
            value_pos = self.pos
            value = self.parse_string()
            regex = None
            if op in ("=~", "!~"):
                try:
                    regex = re.compile(go_regex(value))
                except re.error as exc:
                    raise self.error(f"bad regular expression {value!r}: {exc}", value_pos) from None
            out.append(Matcher(label.group(), op, value, regex))
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise self.error("expected ',' or '}' after a label matcher"
                                 if self.peek() else "missing '}' at the end of the label matchers")

    def parse_string(self) -> str:
        quote = self.peek()
        if quote not in ('"', "'", "`"):
            raise self.error("expected a quoted value, e.g. \"value\"")
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == quote:
                self.pos += 1
                return "".join(chars)
            if c == "\\" and quote != "`":
                nxt = self.text[self.pos + 1: self.pos + 2]
                if nxt not in _ESCAPES:
                    raise self.error(f"unknown escape \\{nxt}")
                chars.append(_ESCAPES[nxt])
                self.pos += 2
                continue
            chars.append(c)
            self.pos += 1
        raise self.error("unterminated string", start)


def go_regex(pattern: str) -> str:
    """A Go (RE2) pattern in Python's syntax: `(?i)` inside a group applies to the rest of that group."""
    out: list[str] = []
    closers: list[int] = [0]  # per open group: how many scoped flag groups to close at its end
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1: i + 2]
            out.append("\\Z" if nxt == "z" else pattern[i: i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            if pattern[i + 1: i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1: i + 2] == "]":  # a leading ] is literal
                out.append("\\]")
                i += 1
        elif c == "(":
            m = _INLINE_FLAGS.match(pattern, i)
            if m and (i > 0 or closers != [0]):
                if "U" in m.group(1):
                    raise re.error("the ungreedy flag (?U) is not supported")
                out.append(f"(?{m.group(1)}:")
                closers[-1] += 1
                i = m.end()
                continue
            out.append(c)
            closers.append(0)
        elif c == ")":
            out.append(")" * (closers.pop() if len(closers) > 1 else 0) + ")")
        else:
            out.append(c)
        i += 1
    out.append(")" * closers[0])
    return "".join(out)


def _matches_empty(m: Matcher) -> bool:
    return m.matches({})


_LOOSE = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def parse_matcher(text: str) -> Matcher:
    """One Alertmanager-style matcher (`severity="page"`, `alertname=~"Origin.*"`, `region!=us-east`).

    The same Matcher the selectors use, so routing, silences, inhibition and automation
    policies match labels exactly as PromQL does (anchored regexes, missing label = "").
    Alertmanager also accepts an unquoted value; so do we.
    """
    m = _LOOSE.match(text)
    if not m:
        raise ValueError(f'a matcher looks like severity="page" or alertname=~"Origin.*", got {text!r}')
    label, op, raw = m.groups()
    value = raw
    if raw[:1] in ('"', "'", "`"):
        p = _Parser(raw)
        value = p.parse_string()
        if p.pos != len(raw):
            raise ValueError(f"unexpected {raw[p.pos:]!r} after the quoted value in {text!r}")
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return Matcher(label, op, value, regex)
