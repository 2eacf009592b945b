"""Many rules over one metric answered from one store read.

10,000 rules usually watch a few dozen metrics through different label selectors
(`rate(x_total{pop="a"}[5m])`, `max by (pop) (x{region="b"})`...). Each of those is its own
store query (a series lookup, a decode, a frame) when evaluated alone. Here the rules of the
simple shapes share one query per (function, metric, range): a selector or a range function
of one, optionally compared with a number (`x > 0.25`, a filter), optionally under
sum/avg/min/max/count (by ...). The shared query (`rate(x_total[5m])`) returns every series
with its labels; each rule keeps the rows its matchers select and aggregates them with
array operations. A range function is computed per series, so filtering after it gives the
values filtering before it would; the aggregation follows `promql._aggregate` (groups keyed
by the `by` labels a series has). Anything else (binary operators between vectors, offsets,
`without`, selectors without a metric name) is queried on its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from streamverse.collectors.promql_parse import RANGE_FUNCS, Agg, Bin, Call, Num, Sel, parse
from streamverse.collectors.selector import Matcher, parse_selector

SeriesKey = tuple[tuple[str, str], ...]
Result = tuple[list[SeriesKey], np.ndarray]
_OPS = ("sum", "avg", "max", "min", "count")
_FILTERS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True)
class Shape:
    """One rule expression as (shared base query, its own matchers, aggregation)."""

    base: str
    matchers: tuple[Matcher, ...]
    agg: str | None = None
    by: tuple[str, ...] | None = None  # None: aggregate everything into one series
    keep: tuple[str, float] | None = None  # `x > 0.25` without bool: only the rows that compare true


def shape_of(expr: str) -> Shape | None:
    """The batchable form of an expression, or None when it must be queried on its own."""
    try:
        node = parse(expr)
    except Exception:  # noqa: BLE001 - a bad expression is reported by its own query
        return None
    agg, by = None, None
    if isinstance(node, Agg):
        if node.without or node.op not in _OPS:
            return None
        agg, by, node = node.op, node.labels, node.expr
    keep = None
    if isinstance(node, Bin) and node.op in _FILTERS and not node.bool_ and node.match is None:
        if not isinstance(node.rhs, Num):
            return None
        keep, node = (node.op, float(node.rhs.value)), node.lhs
    func = None
    if isinstance(node, Call) and node.func in RANGE_FUNCS and len(node.args) == 1:
        func, node = node.func, node.args[0]
    if not isinstance(node, Sel) or node.offset_s or (node.range_s is None) != (func is None):
        return None
    sel = parse_selector(node.selector)
    name = sel.name
    names = [m for m in sel.matchers if m.label == "__name__"]
    if name is None or len(names) != 1:
        return None
    base = name if func is None else f"{func}({name}[{round((node.range_s or 0) * 1000)}ms])"
    return Shape(base, tuple(m for m in sel.matchers if m.label != "__name__"), agg, by, keep)


class _Frame:
    """A base query's rows, with per-label codes and matcher masks cached across rules."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.cols = [c for c in df.columns if c not in ("timestamp", "value", "__name__")]
        self.vals = df["value"].to_numpy(dtype=float)
        self.raw = {c: df[c].to_numpy(dtype=object) for c in self.cols}
        self._codes: dict[str, tuple[np.ndarray, list[object]]] = {}
        self._masks: dict[tuple[str, str, str], np.ndarray] = {}
        self._groups: dict[tuple[str, ...], tuple[np.ndarray, list[SeriesKey]]] = {}
        self._row_keys: list[SeriesKey] | None = None

    def codes(self, label: str) -> tuple[np.ndarray, list[object]]:
        got = self._codes.get(label)
        if got is None:
            col = self.raw.get(label)
            if col is None:  # no series has the label
                got = (np.zeros(len(self.vals), dtype=np.int64), [None])
            else:
                codes, uniques = pd.factorize(col, use_na_sentinel=False)
                got = (codes.astype(np.int64), [u if isinstance(u, str) else None for u in uniques])
            self._codes[label] = got
        return got

    def mask(self, m: Matcher) -> np.ndarray:
        key = (m.label, m.op, m.value)
        got = self._masks.get(key)
        if got is None:
            codes, uniques = self.codes(m.label)  # a missing label is "" to a matcher, as in Prometheus
            ok = np.array([m.matches({m.label: u} if u is not None else {}) for u in uniques], dtype=bool)
            got = self._masks[key] = ok[codes]
        return got

    def row_keys(self) -> list[SeriesKey]:
        if self._row_keys is None:
            self._row_keys = [
                tuple((c, v) for c, v in zip(self.cols, row, strict=True) if isinstance(v, str))
                for row in zip(*(self.raw[c] for c in self.cols), strict=True)
            ] if self.cols else [()] * len(self.vals)
        return self._row_keys

    def groups(self, by: tuple[str, ...]) -> tuple[np.ndarray, list[SeriesKey]]:
        got = self._groups.get(by)
        if got is None:
            combined = np.zeros(len(self.vals), dtype=np.int64)
            for label in by:
                codes, uniques = self.codes(label)
                combined = combined * max(len(uniques), 1) + codes
            _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
            present = [lb for lb in by if lb in self.raw]
            keys = [tuple((lb, self.raw[lb][r]) for lb in present if isinstance(self.raw[lb][r], str))
                    for r in first.tolist()]
            got = self._groups[by] = (inverse.ravel().astype(np.int64), keys)
        return got

    def answer(self, shape: Shape) -> Result:
        keep = np.ones(len(self.vals), dtype=bool)
        for m in shape.matchers:
            keep &= self.mask(m)
        if shape.keep is not None:
            with np.errstate(invalid="ignore"):
                keep &= _FILTERS[shape.keep[0]](self.vals, shape.keep[1])
        rows = np.flatnonzero(keep)
        if shape.agg is None:
            keys = self.row_keys()
            return [keys[r] for r in rows.tolist()], self.vals[rows]
        if not len(rows):
            return [], np.zeros(0)
        if shape.by is None:
            codes, keys = np.zeros(len(rows), dtype=np.int64), [()]
        else:
            inverse, group_keys = self.groups(shape.by)
            used, codes = np.unique(inverse[rows], return_inverse=True)
            keys = [group_keys[g] for g in used.tolist()]
        return keys, _reduce(shape.agg, codes.ravel(), self.vals[rows], len(keys))


def _reduce(op: str, codes: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    """promql._aggregate's ops over groups given by codes (every row present, none NaN)."""
    count = np.bincount(codes, minlength=n).astype(float)
    if op == "count":
        return count
    if op in ("sum", "avg"):
        total = np.bincount(codes, weights=vals, minlength=n)
        return total if op == "sum" else total / count
    out = np.full(n, -np.inf if op == "max" else np.inf)
    (np.maximum if op == "max" else np.minimum).at(out, codes, vals)
    return out


class BatchPlan:
    """The expressions that share a base query, grouped; built once per rule set."""

    def __init__(self, exprs: list[str]) -> None:
        by_base: dict[str, list[tuple[str, Shape]]] = defaultdict(list)
        for expr in exprs:
            shape = shape_of(expr)
            if shape is not None:
                by_base[shape.base].append((expr, shape))
        # One rule alone over a metric is cheaper as its own (narrower) query.
        self.by_base = {b: members for b, members in by_base.items() if len(members) > 1}

    def prefetch(self, query: Callable[[str], pd.DataFrame], cache: dict[str, Result]) -> int:
        """Answers of every batched expression into `cache`; returns the base queries made.

        A base query that fails leaves its expressions out, so each is queried (and its error
        reported) on its own.
        """
        for base, members in self.by_base.items():
            try:
                frame = _Frame(query(base))
            except Exception:  # noqa: BLE001 - fall back to the expressions' own queries
                continue
            for expr, shape in members:
                cache[expr] = frame.answer(shape)
        return len(self.by_base)
