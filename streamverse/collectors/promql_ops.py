"""Binary operators (arithmetic, comparisons, set operators, vector matching) and aggregations.

Series are matched once for all steps; what Prometheus checks per step (duplicate matches,
many-to-one without group_left) is checked on the presence masks, step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from streamverse.collectors.promql_ast import Agg, Bin, PromQLError
from streamverse.collectors.promql_values import Vec, drop_name, label_key
from streamverse.collectors.promql_window import CANCELLATION, incremental_mean, quantile

Key = tuple[tuple[str, str], ...]
COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")
_CMP: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less, ">=": np.greater_equal,
    "<=": np.less_equal}
_ARITH: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power, "%": np.fmod,
    "atan2": np.arctan2}
_DROPS_NAME = ("+", "-", "*", "/", "^", "%")


def elem(op: str, lhs: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Prometheus' vectorElemBinop: the value (lhs for comparisons) and, for comparisons, which hold."""
    with np.errstate(all="ignore"):
        if op in COMPARISONS:
            return lhs, _CMP[op](lhs, rhs)
        return _ARITH[op](lhs, rhs), None


def scalar_binary(op: str, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Scalar op scalar (comparisons always with bool: the parser makes sure)."""
    value, hit = elem(op, lhs, rhs)
    return hit.astype(np.float64) if hit is not None else value


def vector_scalar(node: Bin, vec: Vec, scalar: np.ndarray, vector_left: bool) -> Vec:
    """A vector against a scalar, element by element."""
    lhs, rhs = (vec.values, scalar[None, :]) if vector_left else (scalar[None, :], vec.values)
    value, hit = elem(node.op, lhs, rhs)
    present = vec.present
    if hit is not None:
        value = vec.values  # the vector's value is kept, whichever side it is on
        if node.bool_:
            value = hit.astype(np.float64)
        else:
            present = present & hit
    labels = vec.labels
    if node.op in _DROPS_NAME or node.bool_:
        labels = [drop_name(lab) for lab in labels]
    return Vec(labels, np.broadcast_to(value, vec.values.shape).copy(), present.copy())


def _signature(node: Bin) -> Callable[[dict[str, str]], Key]:
    if node.match and node.match[0] == "on":
        on = node.match[1]
        return lambda labels: tuple((k, labels.get(k, "")) for k in sorted(on))
    ignored = set(node.match[1]) if node.match else set()
    ignored.add("__name__")
    return lambda labels: tuple(sorted((k, v) for k, v in labels.items() if k not in ignored))


def _by_sig(vec: Vec, sig: Callable[[dict[str, str]], Key]) -> dict[Key, list[int]]:
    out: dict[Key, list[int]] = {}
    for i, labels in enumerate(vec.labels):
        out.setdefault(sig(labels), []).append(i)
    return out


def set_operation(node: Bin, lhs: Vec, rhs: Vec) -> Vec:
    """and / or / unless: which lhs (and, for or, rhs) series survive at each step."""
    sig = _signature(node)
    steps = lhs.values.shape[1]

    def any_present(vec: Vec, groups: dict[Key, list[int]], key: Key) -> np.ndarray:
        rows = groups.get(key)
        return vec.present[rows].any(axis=0) if rows else np.zeros(steps, dtype=bool)

    right = _by_sig(rhs, sig)
    if node.op in ("and", "unless"):
        keep = np.array([any_present(rhs, right, sig(lab)) for lab in lhs.labels], dtype=bool).reshape(
            lhs.present.shape)
        present = lhs.present & (keep if node.op == "and" else ~keep)
        return Vec(list(lhs.labels), lhs.values.copy(), present)
    left = _by_sig(lhs, sig)
    extra = np.array([any_present(lhs, left, sig(lab)) for lab in rhs.labels], dtype=bool).reshape(
        rhs.present.shape)
    return Vec(lhs.labels + rhs.labels, np.vstack([lhs.values, rhs.values]),
               np.vstack([lhs.present, rhs.present & ~extra]))


def vector_binary(node: Bin, lhs: Vec, rhs: Vec) -> Vec:
    """Vector op vector with on/ignoring and group_left/group_right, as Prometheus' VectorBinop."""
    if node.op in ("and", "or", "unless"):
        return set_operation(node, lhs, rhs)
    swap = node.card == "one-to-many"
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    sig = _signature(node)
    ones = _by_sig(one, sig)
    for key, rows in ones.items():
        if len(rows) > 1 and (one.present[rows].sum(axis=0) > 1).any():
            side = "left" if swap else "right"
            raise PromQLError(f"found duplicate series for the match group {dict(key)} on the {side} "
                              "hand-side of the operation; many-to-many matching not allowed: matching "
                              "labels must be unique on one side")
    out: list[tuple[dict[str, str], np.ndarray, np.ndarray]] = []
    per_sig: dict[Key, np.ndarray] = {}
    for i, labels in enumerate(many.labels):
        key = sig(labels)
        for j in ones.get(key, ()):
            both = many.present[i] & one.present[j]
            if not both.any():
                continue
            vl, vr = (one.values[j], many.values[i]) if swap else (many.values[i], one.values[j])
            value, hit = elem(node.op, vl, vr)
            present = both
            if hit is not None:
                if node.bool_:
                    value = hit.astype(np.float64)
                else:
                    present = both & hit
            res = _result_labels(node, labels, one.labels[j])
            if node.card == "one-to-one":
                seen = per_sig.setdefault(key, np.zeros(len(present), dtype=np.int64))
                seen += present
                if (seen > 1).any():
                    raise PromQLError("multiple matches for labels: many-to-one matching must be explicit "
                                      "(group_left/group_right)")
            out.append((res, np.array(value, dtype=np.float64), present))
    return merge_same(Vec.of(out, lhs.values.shape[1]),
                      "multiple matches for labels: grouping labels must ensure unique matches"
                      if node.card != "one-to-one" else None)


def _result_labels(node: Bin, many: dict[str, str], one: dict[str, str]) -> dict[str, str]:
    labels = dict(many)
    if node.op in _DROPS_NAME or node.bool_:
        labels.pop("__name__", None)
    if node.card == "one-to-one" and node.match:
        if node.match[0] == "on":
            labels = {k: v for k, v in labels.items() if k in node.match[1]}
        else:
            labels = {k: v for k, v in labels.items() if k not in node.match[1]}
    for name in node.include:
        if one.get(name, ""):
            labels[name] = one[name]
        else:
            labels.pop(name, None)
    return labels


def merge_same(vec: Vec, message: str | None = None) -> Vec:
    """Series with equal label sets become one; at a step where two are present that is an error."""
    groups: dict[Key, list[int]] = {}
    for i, labels in enumerate(vec.labels):
        groups.setdefault(label_key(labels), []).append(i)
    if len(groups) == len(vec.labels):
        return vec
    keep: list[int] = []
    values, present = vec.values.copy(), vec.present.copy()
    for rows in groups.values():
        first = rows[0]
        keep.append(first)
        if len(rows) == 1:
            continue
        if (vec.present[rows].sum(axis=0) > 1).any():
            raise PromQLError(message or "vector cannot contain metrics with the same labelset")
        for r in rows[1:]:
            values[first] = np.where(vec.present[r], vec.values[r], values[first])
            present[first] |= vec.present[r]
    return Vec([vec.labels[i] for i in keep], values[keep], present[keep])


# -- aggregation -----------------------------------------------------------------------------------------
def _group_labels(labels: dict[str, str], agg: Agg) -> dict[str, str]:
    if agg.without:
        drop = set(agg.labels or ()) | {"__name__"}
        return {k: v for k, v in labels.items() if k not in drop}
    if agg.labels is None:
        return {}
    return {k: labels[k] for k in agg.labels if labels.get(k, "")}


def aggregate(agg: Agg, vec: Vec, param: np.ndarray | str | None) -> Vec:
    """sum, avg, count, min, max, group, stddev, stdvar, topk, bottomk, quantile, count_values."""
    steps = vec.values.shape[1]
    if agg.op == "count_values":
        return _count_values(agg, vec, str(param))
    groups: dict[Key, list[int]] = {}
    out_labels: dict[Key, dict[str, str]] = {}
    for i, labels in enumerate(vec.labels):
        g = _group_labels(labels, agg)
        key = label_key(g)
        groups.setdefault(key, []).append(i)
        out_labels.setdefault(key, g)
    if agg.op in ("topk", "bottomk"):
        return _topk(agg.op, vec, list(groups.values()), np.asarray(param))
    rows: list[tuple[dict[str, str], np.ndarray, np.ndarray]] = []
    for key, members in groups.items():
        m, p = vec.values[members], vec.present[members]
        cnt = p.sum(axis=0)
        ok = cnt > 0
        rows.append((out_labels[key], _reduce_group(agg.op, m, p, cnt, param), ok))
    return Vec.of(rows, steps)


def _reduce_group(op: str, m: np.ndarray, p: np.ndarray, cnt: np.ndarray,
                  param: np.ndarray | str | None) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "sum":
            return np.where(p, m, 0.0).sum(axis=0)
        if op == "count":
            return cnt.astype(np.float64)
        if op == "group":
            return np.ones(len(cnt))
        if op in ("max", "min"):
            ufunc = np.fmax if op == "max" else np.fmin
            return ufunc.reduce(np.where(p, m, np.nan), axis=0)
        if op == "avg":
            mean = np.where(p, m, 0.0).sum(axis=0) / cnt
            cancels = np.abs(mean * cnt) * CANCELLATION < np.where(p, np.abs(m), 0.0).sum(axis=0)
            for j in np.flatnonzero((cnt > 0) & (~np.isfinite(mean) | cancels)):
                mean[j] = incremental_mean(m[p[:, j], j])
            return mean
        if op in ("stddev", "stdvar"):
            out = np.full(len(cnt), np.nan)
            for j in np.flatnonzero(cnt > 0):
                out[j] = _welford(m[p[:, j], j])
            return np.sqrt(out) if op == "stddev" else out
        if op == "quantile":
            q = np.asarray(param, dtype=np.float64)
            return np.array([quantile(float(q[j]), m[p[:, j], j]) if cnt[j] else math.nan
                             for j in range(len(cnt))])
    raise PromQLError(f"unknown aggregation {op!r}")  # pragma: no cover - the parser knows them all


def _welford(x: np.ndarray) -> float:
    vals = x.tolist()
    count, mean, var = 1, vals[0], 0.0
    for val in vals[1:]:
        count += 1
        delta = val - mean
        mean += delta / count
        var += delta * (val - mean)
    return var / count


def _topk(op: str, vec: Vec, groups: list[list[int]], k_param: np.ndarray) -> Vec:
    """The k largest (smallest) series of each group at each step; NaN counts as the worst value."""
    present = np.zeros_like(vec.present)
    rank = np.full(vec.present.shape, np.iinfo(np.int64).max)
    for members in groups:
        m, p = vec.values[members], vec.present[members]
        key = np.where(np.isnan(m), np.inf, -m if op == "topk" else m)
        key = np.where(p, key, np.nan)  # absent sorts after NaN values
        order = np.argsort(key, axis=0, kind="stable")
        pos = np.empty_like(order)
        np.put_along_axis(pos, order, np.arange(len(members))[:, None], axis=0)
        with np.errstate(invalid="ignore"):
            k = np.where(np.isnan(k_param), 0, np.clip(k_param, -1, 2**62)).astype(np.int64)
        chosen = p & (pos < k[None, :])
        _break_ties(op, vec, members, chosen, k)
        present[members] = chosen
        rank[members] = np.where(chosen, pos, rank[members])
    # Order of series: by group, then by rank at the first step each appears (what an instant query shows).
    first = np.argmax(present, axis=1)
    rows = [i for members in groups for i in sorted((i for i in members if present[i].any()),
                                                    key=lambda i: rank[i, first[i]])]
    return Vec([vec.labels[i] for i in rows], vec.values[rows], present[rows])


def _break_ties(op: str, vec: Vec, members: list[int], chosen: np.ndarray, k: np.ndarray) -> None:
    """Where equal values straddle the k-th place, choose as Prometheus' heap does (in place).

    Prometheus feeds the series in label order through a size-k heap that replaces its root only
    for a strictly better value, so which of equal values survive depends on that walk: replay it.
    """
    m, p = vec.values[members], vec.present[members]
    worst = np.where(np.isnan(m), -np.inf if op == "topk" else np.inf, m)
    for j in range(m.shape[1]):
        n = int(p[:, j].sum())
        kj = int(k[j])
        if kj < 1 or n <= kj:
            continue
        vals = np.sort(worst[p[:, j], j])
        edge = vals[n - kj] if op == "topk" else vals[kj - 1]
        at_edge = p[:, j] & (worst[:, j] == edge)
        if at_edge.sum() <= (chosen[:, j] & at_edge).sum():  # every series of the edge value is in
            continue
        order = sorted(np.flatnonzero(p[:, j]).tolist(), key=lambda i: sorted(vec.labels[members[i]].items()))
        kept = _go_heap_topk([float(m[i, j]) for i in order], kj, op == "topk")
        chosen[:, j] = False
        chosen[[order[i] for i in kept], j] = True


def _go_heap_topk(values: list[float], k: int, top: bool) -> list[int]:
    """Indices Prometheus 2.42 keeps for topk/bottomk: Pop then Push on container/heap, NaN-first Less."""
    def less(a: float, b: float) -> bool:
        return math.isnan(a) or (a < b if top else a > b)

    heap: list[int] = []

    def up(j: int) -> None:
        while j > 0:
            i = (j - 1) // 2
            if not less(values[heap[j]], values[heap[i]]):
                break
            heap[i], heap[j] = heap[j], heap[i]
            j = i

    def down(i: int, n: int) -> None:
        while 2 * i + 1 < n:
            j = 2 * i + 1
            if j + 1 < n and less(values[heap[j + 1]], values[heap[j]]):
                j += 1
            if not less(values[heap[j]], values[heap[i]]):
                break
            heap[i], heap[j] = heap[j], heap[i]
            i = j

    for idx, v in enumerate(values):
        if heap:
            root = values[heap[0]]
            if len(heap) >= k and not ((root < v) if top else (root > v)) and not math.isnan(root):
                continue
        if len(heap) == k:
            if k == 1:
                heap[0] = idx
                continue
            heap[0], heap[-1] = heap[-1], heap[0]
            down(0, len(heap) - 1)
            heap.pop()
        heap.append(idx)
        up(len(heap) - 1)
    return heap


def _count_values(agg: Agg, vec: Vec, label: str) -> Vec:
    steps = vec.values.shape[1]
    counts: dict[Key, tuple[dict[str, str], np.ndarray]] = {}
    for i, labels in enumerate(vec.labels):
        base = _group_labels(labels, agg)
        for j in np.flatnonzero(vec.present[i]):
            out = {**base, label: format_value(float(vec.values[i, j]))}
            key = label_key(out)
            if key not in counts:
                counts[key] = (out, np.zeros(steps))
            counts[key][1][j] += 1
    return Vec.of([(lab, c, c > 0) for lab, c in counts.values()], steps)


def format_value(v: float) -> str:
    """A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, unique=True, trim="-")
