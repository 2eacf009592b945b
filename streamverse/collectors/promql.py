"""PromQL evaluated over the embedded store, with the semantics of Prometheus 2.42.

Everything but native histograms: selectors with `[range]`, `offset` and `@` (incl.
start()/end()), subqueries, every function, every operator with on/ignoring and
group_left/group_right, and every aggregation. An expression is evaluated for all steps
at once: scalars are one value per step, instant vectors a (series x steps) matrix with a
presence mask, so NaN is an answer and not "no data". Windows and lookback follow 2.x:
both ends of a range are included, a sample is visible for 5 minutes unless a staleness
marker ends its series, and rate/increase extrapolate exactly as `extrapolatedRate` does,
so the same question gets the same answer from both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from streamverse.collectors import promql_functions as fns
from streamverse.collectors import promql_ops as ops
from streamverse.collectors import promql_window as win
from streamverse.collectors.promql_ast import Sub, unwrap
from streamverse.collectors.promql_parse import (  # re-exported: the query language's public names
    AGGREGATIONS,
    INSTANT_FUNCS,
    RANGE_FUNCS,
    Agg,
    Bin,
    Call,
    Num,
    Paren,
    PromQLError,
    PromQLUnsupported,
    Sel,
    Str,
    Unary,
    parse,
    type_of,
)
from streamverse.collectors.promql_values import (
    FlatData,
    RollupData,
    SeriesData,
    SeriesSource,
    Vec,
    drop_name,
    flat_batches,
    is_stale,
    reset_increments,
)
from streamverse.collectors.selector import parse_selector

__all__ = ["AGGREGATIONS", "INSTANT_FUNCS", "RANGE_FUNCS", "Agg", "Bin", "Call", "FlatData", "Num",
           "PromQLError", "PromQLUnsupported", "RollupData", "Sel", "SeriesData", "SeriesSource", "Str",
           "Vec", "evaluate", "evaluate_instant", "evaluate_range", "long_frame", "parse", "reset_increments"]

Value = np.ndarray | Vec | str


@dataclass(frozen=True)
class _Ctx:
    source: SeriesSource
    steps_ms: np.ndarray
    lookback_ms: int
    start_ms: int  # the query's start and end: what @ start() and @ end() mean, in subqueries too
    end_ms: int
    sub_step_ms: int  # a subquery's step when it names none


def evaluate(source: SeriesSource, expr: str, *, start: float, end: float, step: float,
             lookback_s: float = 300.0, subquery_step_s: float = 60.0) -> Value:
    """The value of an expression at each step in [start, end]: scalar array, Vec or string."""
    if step <= 0:
        raise ValueError("step must be positive")
    if end < start:
        raise ValueError("end is before start")
    node = parse(expr)
    if type_of(node) == "matrix":
        inner = unwrap(node)
        what = inner.selector if isinstance(inner, Sel) else "a subquery"
        raise PromQLError(f"range vector {what}[...] must be inside a function such as rate()")
    n = int(round((end - start) * 1000)) // int(round(step * 1000)) + 1
    steps = np.round(start * 1000 + np.arange(n) * step * 1000).astype(np.int64)
    # end() is the query's end as given, even when the last step falls short of it (as in Prometheus).
    ctx = _Ctx(source, steps, round(lookback_s * 1000), int(steps[0]), round(end * 1000),
               round(subquery_step_s * 1000))
    result = _eval(node, ctx)
    return ops.merge_same(result) if isinstance(result, Vec) else result


def evaluate_range(source: SeriesSource, expr: str, *, start: float, end: float, step: float,
                   lookback_s: float = 300.0) -> pd.DataFrame:
    """Long frame (timestamp, value, labels...) of an expression at each step in [start, end]."""
    result = evaluate(source, expr, start=start, end=end, step=step, lookback_s=lookback_s)
    n = int(round((end - start) * 1000)) // int(round(step * 1000)) + 1
    ts = np.round(start * 1000 + np.arange(n) * step * 1000) / 1000.0
    if isinstance(result, str):
        raise PromQLError(f"the expression is the string {result!r}, not a series or number")
    if isinstance(result, np.ndarray):
        return pd.DataFrame({"timestamp": ts, "value": result})
    return long_frame(ts, result)


def evaluate_instant(source: SeriesSource, expr: str, *, at: float,
                     lookback_s: float = 300.0) -> pd.DataFrame:
    """An instant query: like evaluate_range at one step, but a range vector (selector or subquery)
    answers with its raw points in [at - range, at], as Prometheus' /api/v1/query does."""
    node = parse(expr)
    if type_of(node) != "matrix":
        return evaluate_range(source, expr, start=at, end=at, step=1.0, lookback_s=lookback_s)
    at_ms = round(at * 1000)
    ctx = _Ctx(source, np.array([at_ms], dtype=np.int64), round(lookback_s * 1000), at_ms, at_ms, 60_000)
    batches, t, rng = _matrix(node, ctx, "")
    frames = []
    for flat in batches:
        for labels, a, b in zip(flat.labels, flat.start.tolist(), flat.stop.tolist(), strict=True):
            ts, vals = flat.ts[a:b], flat.values[a:b]
            keep = (ts >= t[0] - rng) & (ts <= t[0]) & ~is_stale(vals)
            if keep.any():
                frames.append(pd.DataFrame({"timestamp": ts[keep] / 1000.0, "value": vals[keep], **labels}))
    if not frames:
        return long_frame(np.empty(0), Vec.of([], 1))
    return pd.concat(frames, ignore_index=True)


def long_frame(ts: np.ndarray, vec: Vec) -> pd.DataFrame:
    """One frame (timestamp, value, labels...) of the present points of every series, built in one go."""
    if not len(vec):
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    rows, cols = np.nonzero(vec.present)
    counts = vec.present.sum(axis=1)
    data: dict[str, Any] = {"timestamp": ts[cols], "value": vec.values[rows, cols]}
    for key in dict.fromkeys(k for labels in vec.labels for k in labels):
        values = [labels.get(key, np.nan) for labels in vec.labels]
        if all(v == values[0] for v in values):  # one value: pandas broadcasts it far faster
            data[key] = values[0]
        else:
            data[key] = np.repeat(np.array(values, dtype=object), counts)
    return pd.DataFrame(data)


# -- evaluation ------------------------------------------------------------------------------------------
def _eval(node: Any, ctx: _Ctx) -> Value:
    if isinstance(node, Num):
        return np.full(len(ctx.steps_ms), node.value)
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Paren):
        return _eval(node.expr, ctx)
    if isinstance(node, Sel):
        return _instant(node, ctx)
    if isinstance(node, Unary):
        val = _eval(node.expr, ctx)
        if isinstance(val, Vec):
            return ops.merge_same(Vec([drop_name(lab) for lab in val.labels], -val.values, val.present))
        return -np.asarray(val)
    if isinstance(node, Call):
        return _call(node, ctx)
    if isinstance(node, Agg):
        vec = _eval(node.expr, ctx)
        param = None if node.param is None else _eval(node.param, ctx)
        return ops.aggregate(node, _as_vec(vec), param)  # type: ignore[arg-type]
    if isinstance(node, Bin):
        lhs, rhs = _eval(node.lhs, ctx), _eval(node.rhs, ctx)
        if isinstance(lhs, Vec) and isinstance(rhs, Vec):
            return ops.vector_binary(node, lhs, rhs)
        if isinstance(lhs, Vec):
            return ops.merge_same(ops.vector_scalar(node, lhs, np.asarray(rhs), True))
        if isinstance(rhs, Vec):
            return ops.merge_same(ops.vector_scalar(node, rhs, np.asarray(lhs), False))
        return ops.scalar_binary(node.op, np.asarray(lhs), np.asarray(rhs))
    raise PromQLError(f"cannot evaluate {type(node).__name__} here")


def _as_vec(value: Value) -> Vec:
    if not isinstance(value, Vec):  # pragma: no cover - the parser's type checks prevent it
        raise PromQLError("expected an instant vector")
    return value


def _times(ctx: _Ctx, offset_s: float, at: float | str | None) -> np.ndarray:
    """When a selector or subquery looks, per step: the step (or its @ time) minus the offset."""
    if at is None:
        base = ctx.steps_ms
    else:
        at_ms = ctx.start_ms if at == "start" else ctx.end_ms if at == "end" else round(float(at) * 1000)
        base = np.full(len(ctx.steps_ms), at_ms, dtype=np.int64)
    return base - round(offset_s * 1000)


def _instant(sel: Sel, ctx: _Ctx, sample_time: bool = False) -> Vec:
    """The last sample within the lookback at each step, unless it is a staleness marker."""
    t_all = _times(ctx, sel.offset_s, sel.at)
    t = t_all[:1] if sel.at is not None else t_all  # with @ every step sees the same instant
    rows: list[tuple[dict[str, str], np.ndarray, np.ndarray]] = []
    lo, hi = (int(t.min()) - ctx.lookback_ms) / 1000, int(t.max()) / 1000
    for flat in flat_batches(ctx.source, sel.selector, lo, hi):
        if not flat.labels:
            continue
        _, idx = win.bounds(flat, None, t)
        ok = idx >= flat.start[:, None]
        idx = np.maximum(idx, flat.start[:, None])
        ok &= t - flat.ts[idx] <= ctx.lookback_ms
        vals = flat.values[idx]
        ok &= ~is_stale(vals)
        if sample_time:
            vals = flat.ts[idx] / 1000.0
        rows.extend((dict(labels), vals[k], ok[k]) for k, labels in enumerate(flat.labels))
    vec = Vec.of(rows, len(t))
    if len(t) != len(t_all):
        vec = Vec(vec.labels, np.repeat(vec.values, len(t_all), axis=1),
                  np.repeat(vec.present, len(t_all), axis=1))
    return vec


def _matrix(node: Any, ctx: _Ctx, func: str) -> tuple[Iterator[FlatData | RollupData], np.ndarray, int]:
    """A range vector argument: its data (in batches), the window end per step, and the range in ms."""
    node = unwrap(node)
    if isinstance(node, Sub):
        t = _times(ctx, node.offset_s, node.at)
        rng = round(node.range_s * 1000)
        return iter([_subquery(node, ctx, t, rng)]), t, rng
    t = _times(ctx, node.offset_s, node.at)
    rng = round((node.range_s or 0) * 1000)
    lo, hi = (int(t.min()) - rng) / 1000, int(t.max()) / 1000
    bucket = round((getattr(ctx.source, "rollup_s", None) or 0) * 1000)
    if func in ("rate", "increase", "delta") and bucket and rng % bucket == 0 and (t % bucket == 0).all():
        batches: Iterator[FlatData | RollupData] = ctx.source.iter_rollup(  # type: ignore[attr-defined]
            node.selector, lo, hi)
    else:
        batches = flat_batches(ctx.source, node.selector, lo, hi)
    return batches, t, rng


def _subquery(node: Sub, ctx: _Ctx, t: np.ndarray, rng: int) -> FlatData:
    """The inner expression evaluated at the subquery's own steps (aligned to multiples of the step)."""
    step = round(node.step_s * 1000) if node.step_s else ctx.sub_step_ms
    first = -(-(int(t.min()) - rng) // step) * step
    inner_steps = np.arange(first, int(t.max()) + 1, step, dtype=np.int64)
    if not len(inner_steps):
        return FlatData([], np.empty(0, dtype=np.int64), np.empty(0), None, np.empty(0, dtype=np.int64),
                        np.empty(0, dtype=np.int64))
    vec = ops.merge_same(_as_vec(_eval(node.expr, replace(ctx, steps_ms=inner_steps))))
    rows = np.flatnonzero(vec.present.any(axis=1))
    sizes = vec.present[rows].sum(axis=1)
    stop = np.cumsum(sizes).astype(np.int64)
    r, c = np.nonzero(vec.present[rows])
    return FlatData([vec.labels[i] for i in rows], inner_steps[c], vec.values[rows][r, c], None,
                    stop - sizes, stop)


def _range_call(node: Call, ctx: _Ctx) -> Vec:
    func = node.func
    m_idx = next(i for i, a in enumerate(node.args) if type_of(a) == "matrix")
    scalars = [np.asarray(_eval(a, ctx)) for i, a in enumerate(node.args) if i != m_idx]
    params: win.Params = {"eval_ms": ctx.steps_ms}
    if func == "quantile_over_time":
        params["q"] = scalars[0]
    elif func == "predict_linear":
        params["duration"] = scalars[0]
    elif func == "holt_winters":
        params["sf"], params["tf"] = scalars
        for name, bad in (("smoothing", scalars[0]), ("trend", scalars[1])):
            if ((bad <= 0) | (bad >= 1)).any():
                raise PromQLError(f"invalid {name} factor for holt_winters(): expected 0 < factor < 1, "
                                  f"got {float(bad[((bad <= 0) | (bad >= 1))][0])}")
    batches, t, rng = _matrix(node.args[m_idx], ctx, func)
    keep_name = func == "last_over_time"
    rows: list[tuple[dict[str, str], np.ndarray, np.ndarray]] = []
    for data in batches:
        if not data.labels:
            continue
        if isinstance(data, RollupData):
            values, present = win.rollup_window(func, data, t, rng)
        else:
            values, present = win.window(func if func != "absent_over_time" else "count_over_time", data, t,
                                         rng, params)
        rows.extend((dict(labels) if keep_name else drop_name(labels), values[k], present[k])
                    for k, labels in enumerate(data.labels))
    vec = Vec.of(rows, len(t))
    if func == "absent_over_time":
        return _absent(node.args[m_idx], vec, len(t))
    return ops.merge_same(vec)


def _absent(arg: Any, vec: Vec, steps: int) -> Vec:
    """1 where the argument has no series, labelled by the selector's equality matchers."""
    missing = ~vec.present.any(axis=0)
    labels: dict[str, str] = {}
    inner = unwrap(arg)
    if isinstance(inner, Sel):
        dropped = set()
        for m in parse_selector(inner.selector).matchers:
            if m.label == "__name__":
                continue
            if m.op == "=" and m.label not in labels and m.label not in dropped:
                labels[m.label] = m.value
            else:
                dropped.add(m.label)
        labels = {k: v for k, v in labels.items() if k not in dropped}
    if not missing.any():
        return Vec.empty(steps)
    return Vec([labels], np.ones((1, steps)), missing[None, :])


def _call(node: Call, ctx: _Ctx) -> Value:
    func = node.func
    if func in RANGE_FUNCS:
        return _range_call(node, ctx)
    steps = len(ctx.steps_ms)
    if func == "timestamp" and isinstance(unwrap(node.args[0]), Sel):
        vec = _instant(unwrap(node.args[0]), ctx, sample_time=True)  # type: ignore[arg-type]
        return ops.merge_same(Vec([drop_name(lab) for lab in vec.labels], vec.values, vec.present))
    args = [_eval(a, ctx) for a in node.args]
    if func == "absent":
        return _absent(node.args[0], _as_vec(args[0]), steps)
    if func == "time":
        return ctx.steps_ms / 1000.0
    if func == "pi":
        return np.full(steps, np.pi)
    if func == "vector":
        values = np.asarray(args[0], dtype=np.float64)[None, :].copy()
        return Vec([{}], values, np.ones((1, steps), dtype=bool))
    if func == "scalar":
        vec = _as_vec(args[0])
        one = vec.present.sum(axis=0) == 1
        picked = np.where(vec.present, vec.values, 0.0).sum(axis=0) if len(vec) else np.zeros(steps)
        return np.where(one, picked, np.nan)
    if func in fns.MATH:
        return ops.merge_same(fns.MATH[func](_as_vec(args[0])))
    if func in ("day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month",
                "year"):
        vec = _as_vec(args[0]) if args else Vec([{}], (ctx.steps_ms / 1000.0)[None, :],
                                                 np.ones((1, steps), dtype=bool))
        return ops.merge_same(fns.date_part(func, vec))
    if func == "timestamp":
        vec = _as_vec(args[0])
        times = np.broadcast_to(ctx.steps_ms / 1000.0, vec.values.shape).copy()
        return ops.merge_same(Vec([drop_name(lab) for lab in vec.labels], times, vec.present))
    if func == "round":
        return ops.merge_same(fns.round_to(_as_vec(args[0]), np.asarray(args[1]) if len(args) > 1 else None))
    if func in ("clamp", "clamp_min", "clamp_max"):
        vec = _as_vec(args[0])
        lo = np.asarray(args[1]) if func in ("clamp", "clamp_min") else None
        hi = np.asarray(args[-1]) if func in ("clamp", "clamp_max") else None
        return ops.merge_same(fns.clamp(vec, lo, hi))
    if func == "histogram_quantile":
        return ops.merge_same(fns.histogram_quantile(np.asarray(args[0]), _as_vec(args[1])))
    if func == "label_replace":
        return ops.merge_same(fns.label_replace(_as_vec(args[0]), *[str(a) for a in args[1:]]))
    if func == "label_join":
        return ops.merge_same(fns.label_join(_as_vec(args[0]), str(args[1]), str(args[2]),
                                             [str(a) for a in args[3:]]))
    if func in ("sort", "sort_desc"):
        return fns.sort(_as_vec(args[0]), func == "sort_desc")
    raise PromQLUnsupported(f"unsupported: function {func}()")  # pragma: no cover - all are handled above
