"""YAML files validated by pydantic, with errors that name the file, line and field.

One place for every configuration file (alerting, rules, policies, topology, prices), so a
bad value reads the same wherever it is made.
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from streamverse.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line (1-based) of the deepest node a pydantic error location reaches."""
    best = node
    for key in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    nxt, best = v, k
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            nxt = best = node.value[key]
        if nxt is None:
            break
        node = nxt
    return best.start_mark.line + 1 if best is not None else None


def compose(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, plain data) of YAML text; a syntax error names the file and line."""
    try:
        return yaml.compose(text), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            file=source,
            line=mark.line + 1 if mark else None,
        ) from None


def parse_yaml(text: str, model: type[M], source: str, *,
               top_message: str = "expected a mapping at the top of the file") -> tuple[M, yaml.Node | None]:
    """The validated model and the YAML node tree (for later line lookups)."""
    node, data = compose(text, source)
    if not isinstance(data, dict):
        raise ConfigError(top_message, file=source, line=1)
    try:
        return model.model_validate(data), node
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(x for x in err["loc"] if isinstance(x, int) or not str(x).startswith("function-"))
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            msg, file=source, line=line_of(node, loc), field=".".join(str(x) for x in loc) or None
        ) from None
