"""What every SLO file form shares: YAML documents with a line per key, field readers, options.

A form's parser raises `FieldError(path, message)`; `build_each` turns it into a `LoadError`
with the file, the line of the deepest part of the path that exists, and the dotted field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from streamverse.durations import parse_duration
from streamverse.errors import StreamVerseError
from streamverse.slo.models import SLO, LoadError

PathKey = tuple[str | int, ...]
DEFAULT_PERIOD_S = 30 * 86400.0
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
_WINDOW_VAR = re.compile(r"^\s*\.window\s*$")
_NAME_OK = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class FieldError(Exception):
    """One problem at one place in a document."""

    def __init__(self, path: PathKey, message: str, severity: Literal["error", "warning"] = "error") -> None:
        super().__init__(message)
        self.path, self.message, self.severity = path, message, severity


@dataclass(frozen=True)
class LoadOptions:
    """Options that apply to every file of a run (the CLI's --default-slo-period, --sloth-compat)."""

    default_period_s: float = (
        DEFAULT_PERIOD_S  # files that name no period (Sloth, OpenSLO without timeWindow)
    )
    period_ratio: Literal["events", "sloth"] = "events"


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
class Doc:
    """One YAML document (or one item of a top-level list) with the line of every key."""

    data: Any
    lines: dict[PathKey, int]
    file: str
    base: PathKey = ()  # where this object sits in the file: () or (i,) for an item of a list

    def line(self, path: PathKey) -> int | None:
        """The line of the deepest part of `path` that exists in the file."""
        full = (*self.base, *path)
        for i in range(len(full), -1, -1):
            if full[:i] in self.lines:
                return self.lines[full[:i]]
        return None

    def error(
        self, path: PathKey, message: str, severity: Literal["error", "warning"] = "error"
    ) -> LoadError:
        """A LoadError at `path`, named as the file spells it."""
        return LoadError(
            file=self.file,
            line=self.line(path),
            field=dotted((*self.base, *path)) or None,
            message=message,
            severity=severity,
        )

    def item(self, i: int) -> Doc:
        """Item i of a top-level list, as a document of its own."""
        return Doc(self.data[i], self.lines, self.file, (*self.base, i))


def dotted(path: PathKey) -> str:
    """`slos[1].sli.events`: the way people point at a field."""
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


def read_documents(text: str, file: str) -> list[Doc]:
    """YAML documents with a line for every key; a syntax error raises yaml.YAMLError."""
    loader = yaml.SafeLoader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[PathKey, int] = {}
            _line_map(node, (), lines)
            docs.append(Doc(loader.construct_document(node), lines, file))
    finally:
        loader.dispose()
    return docs


# -- small field readers ----------------------------------------------------------------------
def get(
    data: Any,
    path: PathKey,
    key: str,
    *,
    required: bool = True,
    kind: type | tuple[type, ...] = object,
    default: Any = None,
) -> Any:
    """data[key], checked for presence and type; the error names path.key."""
    if not isinstance(data, dict):
        raise FieldError(path, "expected a mapping here")
    if key not in data or data[key] is None:
        if required:
            raise FieldError((*path, key), "is required")
        return default
    value = data[key]
    if kind is not object and isinstance(value, bool) and bool not in _kinds(kind):
        raise FieldError((*path, key), f"must be a {_kind_names(kind)}, got bool")
    if not isinstance(value, kind):
        raise FieldError((*path, key), f"must be a {_kind_names(kind)}, got {type(value).__name__}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_names(kind: type | tuple[type, ...]) -> str:
    names = {"dict": "mapping", "list": "list", "str": "string", "int": "number", "float": "number"}
    return " or ".join(dict.fromkeys(names.get(k.__name__, k.__name__) for k in _kinds(kind)))


def mapping(value: Any, path: PathKey) -> dict[str, Any]:
    """An optional mapping: None is empty, anything else that is not a mapping is an error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(path, "must be a mapping")
    return value


def duration(value: Any, path: PathKey) -> float:
    """Seconds of a duration such as 5m or 30d, longer than zero."""
    try:
        seconds = parse_duration(str(value))
    except StreamVerseError as exc:
        raise FieldError(path, str(exc)) from None
    if seconds <= 0:
        raise FieldError(path, "window must be longer than zero")
    return seconds


def objective(value: Any, path: PathKey, *, percent: bool) -> float:
    """A ratio in (0, 1); `percent` files (Sloth) write 99.9, native files may write '99.9%'."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError(
            path, f"objective must be a number such as 0.999 or 99.9, got {type(value).__name__}"
        )
    text = str(value).strip()
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        raise FieldError(path, f"objective {value!r} is not a number; write it like 0.999 or 99.9%") from None
    if percent or text.endswith("%"):
        if not 0 < number < 100:
            raise FieldError(path, f"objective {text} must be strictly between 0 and 100 percent")
        return number / 100.0
    if not 0 < number < 1:
        raise FieldError(path, f"objective {text} must be strictly between 0 and 1 (write 0.999, or 99.9%)")
    return number


def check_selector(expr: Any, path: PathKey) -> str:
    """A plain series selector, checked by the collector's own parser."""
    from streamverse.collectors.selector import SelectorError, parse_selector

    if not isinstance(expr, str) or not expr.strip():
        raise FieldError(path, 'must be a series selector such as name{label="value"}')
    try:
        parse_selector(expr.strip())
    except SelectorError as exc:
        raise FieldError(path, str(exc)) from None
    return expr.strip()


def check_promql(expr: str, path: PathKey, warnings: list[FieldError]) -> None:
    """Raw queries may use PromQL beyond the embedded subset: that is a warning, not an error."""
    from streamverse.collectors.promql import parse

    try:
        parse(expr)
    except (StreamVerseError, ValueError, TypeError, IndexError, KeyError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warnings.append(
            FieldError(
                path,
                f"outside the embedded store's PromQL subset (rules still work on Prometheus): {first}",
                "warning",
            )
        )


def render_window(template: str, window: str) -> str:
    """Sloth's `{{.window}}` replaced by a window such as 5m."""
    return _TEMPLATE.sub(window, template)


def check_template(text: Any, path: PathKey) -> str:
    """A PromQL query whose only template variable is Sloth's {{.window}}."""
    if not isinstance(text, str) or not text.strip():
        raise FieldError(path, "must be a PromQL query")
    if text.count("{{") != text.count("}}"):
        raise FieldError(path, "template error: unbalanced '{{' / '}}'")
    for m in _TEMPLATE.finditer(text):
        if not _WINDOW_VAR.match(m.group(1)):
            raise FieldError(
                path,
                f"template error: unknown variable {{{{{m.group(1)}}}}}; only {{{{.window}}}} is defined",
            )
    return text.strip()


def str_map(value: Any, path: PathKey) -> dict[str, str]:
    """Prometheus labels or annotations: a mapping of names to scalar values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(path, "must be a mapping of label names to values")
    out = {}
    for k, v in value.items():
        if isinstance(v, dict | list):
            raise FieldError((*path, str(k)), "must be a single value, not a list or mapping")
        out[str(k)] = "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
    return out


def name(value: Any, path: PathKey) -> str:
    """A service or SLO name: it ends up in rule group names and label values."""
    if isinstance(value, dict | list) or value is None:
        raise FieldError(path, "must be a name such as checkout-availability")
    text = str(value)
    if not _NAME_OK.match(text):
        raise FieldError(path, f"name {text!r} may hold only letters, digits, '_', '-' and '.'")
    return text


Built = tuple[SLO | list[SLO], list[FieldError]]


def build_each(doc: Doc, result: LoadResult, path: PathKey, build: Callable[[PathKey], Built]) -> None:
    """Build one SLO (or a few); its error is recorded and the rest of the file goes on."""
    try:
        made, warnings = build(path)
    except FieldError as exc:
        result.errors.append(doc.error(exc.path, exc.message, exc.severity))
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
