"""Reads and runs Prometheus' PromQL test scripts (promql/testdata/*.test) against the embedded store.

The format (Prometheus 2.42 `promql/test.go`): `load <interval>` then one series per line
(`name{labels} 1+1x10 _ stale NaN`), `clear`, and `eval instant at <time> <expr>` /
`eval_ordered` / `eval_fail` followed by the expected `{labels} value` lines or a bare
scalar. Values compare like test.go's almostEqual (relative 1e-6; NaN equals NaN).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamverse.collectors.embedded import EmbeddedStore
from streamverse.collectors.promql import PromQLError, PromQLUnsupported, Vec, evaluate
from streamverse.collectors.promql_values import STALE_NAN

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "y": 31_536_000_000}
_NUM = r"[+-]?(?:[iI][nN][fF]|[nN][aA][nN]|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
_ITEM = re.compile(rf"({_NUM})(?:([+-])({_NUM}))?x(\d+)")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_EVAL = re.compile(r"^(eval|eval_ordered|eval_fail)\s+instant\s+at\s+(\S+)\s+(.*)$")
EPSILON, MIN_NORMAL = 1e-6, 2.2250738585072014e-308

Labels = dict[str, str]


def duration_ms(text: str) -> int:
    """A Prometheus duration such as 5m or 1h30m, in ms."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}")
    return sum(int(n) * _UNIT_MS[u] for n, u in parts)


def parse_metric(text: str) -> Labels:
    """`name{a="b"}`, `{__name__="x"}` or `name` as a label set with `__name__`."""
    text = text.strip()
    name, _, rest = text.partition("{")
    labels: Labels = {"__name__": name.strip()} if name.strip() else {}
    body = rest.rstrip()
    if rest:
        if not body.endswith("}"):
            raise ValueError(f"bad metric {text!r}")
        body, pos = body[:-1], 0
        while pos < len(body):
            m = _LABEL.match(body, pos)
            if not m:
                raise ValueError(f"bad labels in {text!r}")
            labels[m.group(1)] = m.group(2).encode().decode("unicode_escape")
            pos = m.end()
    return labels


def split_metric(line: str) -> tuple[Labels, str]:
    """A series line: its labels and the text after them."""
    line = line.strip()
    if "{" in line.split()[0] or line.startswith("{"):
        end = line.index("}") + 1
        return parse_metric(line[:end]), line[end:]
    name, _, rest = line.partition(" ")
    if "\t" in name:
        name, _, more = name.partition("\t")
        rest = more + " " + rest
    return parse_metric(name), rest


def parse_values(text: str) -> list[float | None]:
    """Series values: `1 2 3`, `0+10x5`, `1x3`, `_`, `_x3`, `stale`; None marks an omitted sample."""
    out: list[float | None] = []
    for item in text.split():
        if item == "_":
            out.append(None)
        elif item.startswith("_x"):
            out.extend([None] * int(item[2:]))
        elif item == "stale":
            out.append(STALE_NAN)
        elif (m := _ITEM.fullmatch(item)) is not None:
            start, sign, step, times = m.groups()
            value = float(start)
            out.append(value)
            delta = 0.0 if step is None else float(step) * (1 if sign == "+" else -1)
            for _ in range(int(times)):
                value += delta
                out.append(value)
        else:
            out.append(float(item))
    return out


@dataclass
class Load:
    interval_ms: int
    series: dict[tuple[tuple[str, str], ...], tuple[Labels, list[float | None]]] = field(default_factory=dict)


@dataclass
class Eval:
    line: int
    expr: str
    at_ms: int
    ordered: bool
    fail: bool
    expected: list[tuple[Labels | None, float]] = field(default_factory=list)


Command = Load | Eval | str


def parse_script(text: str) -> list[Command]:
    """The commands of one test file."""
    cmds: list[Command] = []
    current: Load | Eval | None = None
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            current = None if not line else current
            continue
        if line == "clear":
            cmds.append("clear")
            current = None
        elif line.startswith("load "):
            current = Load(duration_ms(line.split()[1]))
            cmds.append(current)
        elif (m := _EVAL.match(line)) is not None:
            current = Eval(no, m.group(3), duration_ms(m.group(2)), m.group(1) == "eval_ordered",
                           m.group(1) == "eval_fail")
            cmds.append(current)
        elif isinstance(current, Load):
            labels, rest = split_metric(line)
            current.series[tuple(sorted(labels.items()))] = (labels, parse_values(rest))
        elif isinstance(current, Eval):
            try:
                current.expected.append((None, float(line)))
            except ValueError:
                labels, rest = split_metric(line)
                current.expected.append((labels, float(rest.split()[0])))
        else:
            raise ValueError(f"line {no}: cannot read {line!r}")
    return cmds


def almost_equal(a: float, b: float) -> bool:
    """test.go's comparison: NaN equals NaN, otherwise relative difference below 1e-6."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    diff = abs(a - b)
    if a == 0 or b == 0 or diff < MIN_NORMAL:
        return diff < EPSILON * MIN_NORMAL
    return diff / (abs(a) + abs(b)) < EPSILON


def check(case: Eval, result: np.ndarray | Vec | str) -> str | None:
    """None when the result is what the script expects, else what differs."""
    if isinstance(result, str):
        return f"got the string {result!r}"
    if isinstance(result, np.ndarray):
        if len(case.expected) != 1:
            return f"got scalar {result[0]}, expected {len(case.expected)} series"
        return None if almost_equal(case.expected[0][1], float(result[0])) else \
            f"got scalar {result[0]}, expected {case.expected[0][1]}"
    got = [(labels, float(result.values[i, 0]))
           for i, labels in enumerate(result.labels) if result.present[i, 0]]
    if any(labels is None for labels, _ in case.expected):
        return f"expected a scalar, got a vector of {len(got)}"
    if len(got) != len(case.expected):
        return f"got {len(got)} series, expected {len(case.expected)}: {got}"
    for pos, (labels, value) in enumerate(got):
        where = next((k for k, (exp, _) in enumerate(case.expected) if exp == labels), None)
        if where is None:
            return f"unexpected series {labels} {value}"
        if case.ordered and where != pos:
            return f"{labels} at position {pos + 1}, expected {where + 1}"
        if not almost_equal(case.expected[where][1], value):
            return f"{labels}: got {value}, expected {case.expected[where][1]}"
    return None


@dataclass
class Outcome:
    case: Eval
    status: str  # passed | refused | failed
    detail: str = ""


def run_script(path: Path, workdir: Path) -> list[Outcome]:
    """Every eval case of a test file, each in the store state its preceding load/clear commands built.

    Like Prometheus' test.go, a case also runs as a range query over [t-1m, t+1m] and the
    middle step must give the same answer (except for eval_ordered: a range has no order).
    """
    outcomes: list[Outcome] = []
    store: EmbeddedStore | None = None
    segment = 0
    for cmd in parse_script(path.read_text()):
        if cmd == "clear" or store is None:
            if store is not None:
                store.close()
            segment += 1
            store = EmbeddedStore.at_path(workdir / f"{path.stem}-{segment}.db", flush_after_s=0)
            if cmd == "clear":
                continue
        if isinstance(cmd, Load):
            for labels, values in cmd.series.values():
                ts = np.array([i * cmd.interval_ms / 1000 for i, v in enumerate(values) if v is not None])
                vals = np.array([v for v in values if v is not None], dtype=np.float64)
                rest = {k: v for k, v in labels.items() if k != "__name__"}
                store.write_arrays(labels["__name__"], rest, ts, vals)
            store.flush()
        elif isinstance(cmd, Eval):
            outcomes.append(_run_case(store, cmd))
    if store is not None:
        store.close()
    return outcomes


def _run_case(store: EmbeddedStore, case: Eval) -> Outcome:
    at = case.at_ms / 1000
    try:
        result = evaluate(store, case.expr, start=at, end=at, step=1.0)
    except PromQLUnsupported as exc:
        return Outcome(case, "refused", str(exc).splitlines()[0])
    except PromQLError as exc:
        if case.fail:
            return Outcome(case, "passed")
        return Outcome(case, "failed", f"error: {str(exc).splitlines()[0]}")
    except Exception as exc:  # noqa: BLE001 - any other exception is a bug to report, not to hide
        return Outcome(case, "failed", f"{type(exc).__name__}: {exc}")
    if case.fail:
        return Outcome(case, "failed", "expected an error")
    problem = check(case, result)
    if problem is None and not case.ordered:
        # As test.go does: the same answer from a range query over [t-1m, t+1m] at its middle step.
        try:
            ranged = evaluate(store, case.expr, start=at - 60, end=at + 60, step=60.0)
        except Exception as exc:  # noqa: BLE001 - reported as a failure with its message
            return Outcome(case, "failed", f"range query: {type(exc).__name__}: {exc}")
        if isinstance(ranged, Vec):
            ranged = Vec(ranged.labels, ranged.values[:, 1:2], ranged.present[:, 1:2])
        elif isinstance(ranged, np.ndarray):
            ranged = ranged[1:2]
        problem = check(case, ranged)
        problem = None if problem is None else f"range query: {problem}"
    return Outcome(case, "passed" if problem is None else "failed", problem or "")
