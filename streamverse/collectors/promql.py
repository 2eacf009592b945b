"""A small PromQL subset evaluated over the embedded store, with Prometheus' semantics.

Supported: selectors with `[range]` and `offset`, `rate`, `increase`, `irate`, `delta`,
`*_over_time`, `histogram_quantile`, `abs`/`clamp_min`/`clamp_max`/`vector`/`scalar`/`time`,
`sum/avg/max/min/count [by|without (...)]`, arithmetic and comparisons between vectors and
scalars (`on`/`ignoring` one-to-one matching, `bool`). Windows and lookback follow
Prometheus 2.x (the version Debian ships): both ends of a range are included, and
rate/increase extrapolate to the window edges exactly as `extrapolatedRate` does, so the
same question gets the same answer from both backends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd

from streamverse.collectors.promql_parse import (  # re-exported: the query language's public names
    _COMPARISONS,
    INSTANT_FUNCS,
    RANGE_FUNCS,
    Agg,
    Bin,
    Call,
    Num,
    PromQLError,
    Sel,
    parse,
)


class SeriesData(NamedTuple):
    """One series' samples in a window: ms timestamps, values, and stored increments.

    `inc` is None for raw data (increments follow from the reset rule); downsampled data
    carries the exact reset-adjusted increment of each bucket.
    """

    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray
    inc: np.ndarray | None


class FlatData(NamedTuple):
    """Many series in shared arrays (series k is the slice start[k]:stop[k]), so windows vectorise."""

    labels: list[dict[str, str]]
    ts: np.ndarray
    values: np.ndarray
    inc: np.ndarray | None
    start: np.ndarray
    stop: np.ndarray

    def series(self) -> list[SeriesData]:
        """The same data as one SeriesData per series (views, no copies)."""
        inc = self.inc
        return [SeriesData(lab, self.ts[a:b], self.values[a:b], None if inc is None else inc[a:b])
                for lab, a, b in zip(self.labels, self.start.tolist(), self.stop.tolist(), strict=True)]

    @classmethod
    def of(cls, series: list[SeriesData]) -> FlatData:
        """Concatenate per-series data (for sources without a flat loader)."""
        sizes = np.array([len(sd.ts) for sd in series], dtype=np.int64)
        stop = np.cumsum(sizes)
        cat = (lambda parts: np.concatenate(parts) if parts else np.empty(0))  # noqa: E731
        inc = None
        if any(sd.inc is not None for sd in series):
            inc = cat([reset_increments(sd.values) if sd.inc is None else sd.inc for sd in series])
        return cls([sd.labels for sd in series], cat([sd.ts for sd in series]).astype(np.int64),
                   cat([sd.values for sd in series]).astype(np.float64), inc, stop - sizes, stop)


class RollupData(NamedTuple):
    """Per-bucket summaries of many series (series k is rows start[k]:stop[k]), oldest first.

    Each row: first/last sample time and value, sample count, and the reset-adjusted increase
    from its first to its last sample. Rows of one bucket may be split (at chunk edges).
    """

    labels: list[dict[str, str]]
    bucket_ms: int
    first_ts: np.ndarray
    last_ts: np.ndarray
    first_v: np.ndarray
    last_v: np.ndarray
    count: np.ndarray
    inc: np.ndarray
    start: np.ndarray
    stop: np.ndarray


class SeriesSource(Protocol):
    """What the evaluator needs from a store: samples of matching series in a window.

    Optional, used when present: `iter_flat` (FlatData in groups of series) and `rollup_s` +
    `iter_rollup` (RollupData of that bucket, for rate/increase/delta over whole buckets).
    """

    def load(self, selector: str, start: float, end: float) -> list[SeriesData]:
        """SeriesData (labels, ts ms, values, stored increments or None) per matching series."""
        ...


def reset_increments(values: np.ndarray) -> np.ndarray:
    """Per-sample increase with Prometheus' counter-reset rule (a drop means it restarted from 0)."""
    inc = np.empty_like(values)
    if len(values):
        inc[0] = values[0]
        d = np.diff(values)
        inc[1:] = np.where(d >= 0, d, values[1:])
    return inc


def _flat_batches(source: SeriesSource, selector: str, start: float, end: float) -> Iterator[FlatData]:
    """The source's data in groups of series (bounded memory) when it can, else all at once."""
    batches = getattr(source, "iter_flat", None)
    if batches is not None:
        yield from batches(selector, start, end)
        return
    loader = getattr(source, "load_flat", None)
    yield loader(selector, start, end) if loader is not None else FlatData.of(
        source.load(selector, start, end))


# -- syntax tree -------------------------------------------------------------------------------
Vector = list[tuple[dict[str, str], np.ndarray]]


@dataclass
class _Ctx:
    source: SeriesSource
    steps_ms: np.ndarray
    lookback_ms: int


def evaluate_range(source: SeriesSource, expr: str, *, start: float, end: float, step: float,
                   lookback_s: float = 300.0) -> pd.DataFrame:
    """Long frame (timestamp, value, labels...) of an expression at each step in [start, end]."""
    if step <= 0:
        raise ValueError("step must be positive")
    if end < start:
        raise ValueError("end is before start")
    n = int(round((end - start) * 1000)) // int(round(step * 1000)) + 1
    steps = np.round(start * 1000 + np.arange(n) * step * 1000).astype(np.int64)
    result = _eval(parse(expr), _Ctx(source, steps, round(lookback_s * 1000)))
    ts = steps / 1000.0
    if isinstance(result, np.ndarray):
        ok = ~np.isnan(result)
        return pd.DataFrame({"timestamp": ts[ok], "value": result[ok]})
    return long_frame(ts, result)


def long_frame(ts: np.ndarray, vec: Vector) -> pd.DataFrame:
    """One frame (timestamp, value, labels...) of the non-NaN points of every series, built in one go."""
    if not vec:
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    m = np.vstack([vals for _, vals in vec])
    ok = ~np.isnan(m)
    rows, cols = np.nonzero(ok)
    counts = ok.sum(axis=1)
    data: dict[str, Any] = {"timestamp": ts[cols], "value": m[rows, cols]}
    for key in dict.fromkeys(k for labels, _ in vec for k in labels):
        values = [labels.get(key, np.nan) for labels, _ in vec]
        if all(v == values[0] for v in values):  # one value: pandas broadcasts it far faster
            data[key] = values[0]
        else:
            data[key] = np.repeat(np.array(values, dtype=object), counts)
    return pd.DataFrame(data)


def _eval(node: Any, ctx: _Ctx) -> np.ndarray | Vector:
    if isinstance(node, Num):
        return np.full(len(ctx.steps_ms), node.value)
    if isinstance(node, Sel):
        if node.range_s is not None:
            raise PromQLError(f"range vector {node.selector}[...] must be inside a function such as rate()")
        return _instant(node, ctx)
    if isinstance(node, Call):
        if node.func in RANGE_FUNCS:
            return _range_func(node.func, node.args[0], ctx)
        return _INSTANT_FUNCS[node.func](ctx, *[_eval(a, ctx) for a in node.args])
    if isinstance(node, Agg):
        return _aggregate(node, _vector(_eval(node.expr, ctx), node.op))
    if isinstance(node, Bin):
        return _binary(node, _eval(node.lhs, ctx), _eval(node.rhs, ctx))
    raise PromQLError(f"cannot evaluate {node!r}")  # pragma: no cover


def _vector(value: np.ndarray | Vector, where: str) -> Vector:
    if isinstance(value, np.ndarray):
        raise PromQLError(f"{where}() needs an instant vector, not a scalar")
    return value


def _bounds(flat: FlatData, lo: np.ndarray | None, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per series and step: index of the first sample >= lo and of the last sample <= hi (global indices)."""
    shape = (len(flat.labels), len(hi))
    first, last = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    # When step == range each window starts where the previous one ended: one search per edge.
    tiled = lo is not None and len(lo) > 1 and np.array_equal(lo[1:], hi[:-1])
    for k, (a, b) in enumerate(zip(flat.start.tolist(), flat.stop.tolist(), strict=True)):
        seg = flat.ts[a:b]
        if tiled:
            edges = np.concatenate((lo[:1], hi))
            left = np.searchsorted(seg, edges, side="left")
            hit = seg[np.minimum(left, len(seg) - 1)] == edges
            np.add(left[:-1], a, out=first[k])
            np.add(left[1:] + hit[1:], a - 1, out=last[k])
            continue
        if lo is not None:
            np.add(np.searchsorted(seg, lo, side="left"), a, out=first[k])
        np.add(np.searchsorted(seg, hi, side="right"), a - 1, out=last[k])
    return first, last


def _instant(sel: Sel, ctx: _Ctx) -> Vector:
    off = round(sel.offset_s * 1000)
    t = ctx.steps_ms - off
    out: Vector = []
    for flat in _flat_batches(ctx.source, sel.selector, (t[0] - ctx.lookback_ms) / 1000, t[-1] / 1000):
        if not flat.labels:
            continue
        _, idx = _bounds(flat, None, t)
        ok = idx >= flat.start[:, None]
        idx = np.maximum(idx, flat.start[:, None])
        ok &= t - flat.ts[idx] <= ctx.lookback_ms
        vals = np.where(ok, flat.values[idx], np.nan)
        out.extend((dict(labels), vals[k]) for k, labels in enumerate(flat.labels))
    return out


def _range_func(func: str, sel: Sel, ctx: _Ctx) -> Vector:
    off = round(sel.offset_s * 1000)
    rng = round((sel.range_s or 0) * 1000)
    t = ctx.steps_ms - off
    keep_name = func == "last_over_time"
    out: Vector = []
    lo, hi = (t[0] - rng) / 1000, t[-1] / 1000
    bucket = round((getattr(ctx.source, "rollup_s", None) or 0) * 1000)
    if func in ("rate", "increase", "delta") and bucket and rng % bucket == 0 and (t % bucket == 0).all():
        batches: Iterator[FlatData | RollupData] = ctx.source.iter_rollup(  # type: ignore[attr-defined]
            sel.selector, lo, hi)
    else:
        batches = _flat_batches(ctx.source, sel.selector, lo, hi)
    for data in batches:
        if not data.labels:
            continue
        if isinstance(data, RollupData):
            res = _rollup_window(func, data, t, rng)
        else:
            i0, i1 = _bounds(data, t - rng, t)
            res = _window(func, data, i0, i1, t, rng)
        out.extend((dict(labels) if keep_name else _drop_name(labels), res[k])
                   for k, labels in enumerate(data.labels))
    return out


def _rollup_window(func: str, r: RollupData, t: np.ndarray, rng: int) -> np.ndarray:
    """rate/increase/delta from bucket summaries, for windows made of whole buckets: same as from samples.

    Window [t - range, t] = the buckets in [t - range, t) plus a sample exactly at t, if any
    (the first of the next bucket).
    """
    key = r.first_ts // r.bucket_ms
    shape = (len(r.labels), len(t))
    r0, r1 = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    j_lo, j_hi = (t - rng) // r.bucket_ms, t // r.bucket_ms
    for k, (a, b) in enumerate(zip(r.start.tolist(), r.stop.tolist(), strict=True)):
        seg = key[a:b]
        np.add(np.searchsorted(seg, j_lo, side="left"), a, out=r0[k])
        np.add(np.searchsorted(seg, j_hi, side="left"), a, out=r1[k])
    first_row, end_row = r.start[:, None], r.stop[:, None]
    nxt = np.minimum(r1, end_row - 1)
    at_t = (r1 < end_row) & (r.first_ts[nxt] == t)
    counts = np.concatenate(([0], np.cumsum(r.count)))
    count = counts[r1] - counts[r0] + at_t
    # Adjusted counter at each row's last sample: increases inside rows plus the steps between rows.
    steps = r.inc.copy()
    if len(steps) > 1:
        d = r.first_v[1:] - r.last_v[:-1]
        steps[1:] += np.where(d >= 0, d, r.first_v[1:])
    run = np.zeros_like(steps)
    for a, b in zip(r.start.tolist(), r.stop.tolist(), strict=True):
        np.cumsum(steps[a:b], out=run[a:b])
    fr = np.minimum(r0, end_row - 1)
    lr = np.maximum(r1 - 1, first_row)
    ts_a, v_a = r.first_ts[fr], r.first_v[fr]
    ts_b = np.where(at_t, r.first_ts[nxt], r.last_ts[lr])
    v_b = np.where(at_t, r.first_v[nxt], r.last_v[lr])
    if func == "delta":
        result = v_b - v_a
    else:
        result = np.where(at_t, run[nxt] - r.inc[nxt], run[lr]) - (run[fr] - r.inc[fr])
    return _extrapolate(func, count, result, ts_a, ts_b, v_a, t, rng)


def _extrapolate(func: str, count: np.ndarray, result: np.ndarray, ts_a: np.ndarray, ts_b: np.ndarray,
                 v_a: np.ndarray, t: np.ndarray, rng: int) -> np.ndarray:
    """Prometheus' extrapolatedRate: the sampled increase stretched to the window edges."""
    res = np.full(count.shape, np.nan)
    ok = count >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        dur_start = (ts_a - (t - rng)) / 1000.0
        dur_end = (t - ts_b) / 1000.0
        sampled = (ts_b - ts_a) / 1000.0
        avg = sampled / np.maximum(count - 1, 1)
        if func != "delta":  # extrapolate no further back than where the counter would be zero
            to_zero = np.where((result > 0) & (v_a >= 0), sampled * (v_a / result), np.inf)
            dur_start = np.minimum(dur_start, to_zero)
        thr = avg * 1.1
        interval = (sampled + np.where(dur_start < thr, dur_start, avg / 2)
                    + np.where(dur_end < thr, dur_end, avg / 2))
        result = result * (interval / sampled)
        if func == "rate":
            result = result / (rng / 1000.0)
    res[ok] = result[ok]
    return res


def _prefix(x: np.ndarray, flat: FlatData) -> np.ndarray:
    """Per-series running sums of x (restarting at each series, so precision stays per series)."""
    out = np.zeros_like(x)
    for a, b in zip(flat.start.tolist(), flat.stop.tolist(), strict=True):
        np.cumsum(x[a:b], out=out[a:b])
    return out


def _increase(flat: FlatData, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reset-adjusted counter increase from sample a to sample b (same series), Prometheus' reset rule."""
    v = flat.values
    if flat.inc is not None:  # downsampled data carries exact increments
        run = _prefix(flat.inc, flat)
        return run[b] - run[a]
    drops = np.flatnonzero(v[1:] < v[:-1]) + 1
    out = v[b] - v[a]
    if len(drops) == 0:
        return out
    # The value lost at each restart (drops in (a, b] count), summed per series for precision.
    lost_at = v[drops - 1]
    run = np.zeros(len(drops))
    cuts = np.searchsorted(drops, np.stack([flat.start, flat.stop]), side="left")
    for lo, hi in zip(cuts[0].tolist(), cuts[1].tolist(), strict=True):
        np.cumsum(lost_at[lo:hi], out=run[lo:hi])
    ia, ib = np.searchsorted(drops, a, side="right"), np.searchsorted(drops, b, side="right")
    first = np.minimum(ia, len(drops) - 1)
    lost = run[np.maximum(ib - 1, 0)] - run[first] + lost_at[first]
    return out + np.where(ib > ia, lost, 0.0)


def _window(func: str, flat: FlatData, i0: np.ndarray, i1: np.ndarray, t: np.ndarray, rng: int) -> np.ndarray:
    """One value per series and step from the samples in [t - range, t]; NaN where Prometheus has none."""
    count = i1 - i0 + 1
    res = np.full(count.shape, np.nan)
    a = np.clip(i0, flat.start[:, None], flat.stop[:, None] - 1)
    b = np.clip(i1, flat.start[:, None], flat.stop[:, None] - 1)
    v, ts = flat.values, flat.ts
    with np.errstate(divide="ignore", invalid="ignore"):
        if func in ("rate", "increase", "delta"):
            result = v[b] - v[a] if func == "delta" else _increase(flat, a, b)
            return _extrapolate(func, count, result, ts[a], ts[b], v[a], t, rng)
        elif func == "irate":
            ok = count >= 2
            prev = np.maximum(b - 1, flat.start[:, None])
            dv = np.where(v[b] < v[prev], v[b], v[b] - v[prev])
            res[ok] = (dv / ((ts[b] - ts[prev]) / 1000.0))[ok]
        else:
            ok = count >= 1
            if func in ("sum_over_time", "avg_over_time", "count_over_time"):
                run = _prefix(v, flat)
                total = run[b] - run[a] + v[a]
                val = {"sum_over_time": total, "avg_over_time": total / count,
                       "count_over_time": count.astype(float)}[func]
            elif func == "last_over_time":
                val = v[b]
            else:
                ufunc = np.maximum if func == "max_over_time" else np.minimum
                idx = np.empty(2 * a.size, dtype=np.int64)
                idx[0::2], idx[1::2] = a.ravel(), np.minimum(b + 1, len(v)).ravel()
                val = ufunc.reduceat(np.append(v, np.nan), idx)[0::2].reshape(a.shape)
            res[ok] = val[ok]
    return res


def _group_key(labels: dict[str, str], agg: Agg) -> dict[str, str]:
    if agg.labels is None:
        return {}
    if agg.without:
        return {k: v for k, v in labels.items() if k not in agg.labels and k != "__name__"}
    return {k: labels[k] for k in agg.labels if k in labels}


def _aggregate(agg: Agg, vec: Vector) -> Vector:
    groups: dict[tuple[tuple[str, str], ...], list[np.ndarray]] = {}
    keys: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for labels, vals in vec:
        key_labels = _group_key(labels, agg)
        key = tuple(sorted(key_labels.items()))
        groups.setdefault(key, []).append(vals)
        keys[key] = key_labels
    out = []
    for key, arrays in groups.items():
        m = np.vstack(arrays)
        present = ~np.isnan(m)
        cnt = present.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if agg.op == "sum":
                val = np.where(present, m, 0.0).sum(axis=0)
            elif agg.op == "avg":
                val = np.where(present, m, 0.0).sum(axis=0) / cnt
            elif agg.op == "count":
                val = cnt.astype(float)
            elif agg.op == "max":
                val = np.where(present, m, -np.inf).max(axis=0)
            else:
                val = np.where(present, m, np.inf).min(axis=0)
        out.append((keys[key], np.where(cnt > 0, val, np.nan)))
    return out


def _apply(op: str, a: np.ndarray, b: np.ndarray, bool_: bool, keep_lhs: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if op in _COMPARISONS:
            hit = {"==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less,
                   ">=": np.greater_equal, "<=": np.less_equal}[op](a, b)
            missing = np.isnan(a) | np.isnan(b)
            if bool_:
                return np.where(missing, np.nan, hit.astype(float))
            return np.where(hit & ~missing, a if keep_lhs else b, np.nan)
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](a, b)


def _drop_name(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "__name__"}


def _binary(node: Bin, lhs: np.ndarray | Vector, rhs: np.ndarray | Vector) -> np.ndarray | Vector:
    op = node.op
    if isinstance(lhs, np.ndarray) and isinstance(rhs, np.ndarray):
        if op in _COMPARISONS and not node.bool_:
            raise PromQLError("comparisons between scalars need the bool modifier")
        return _apply(op, lhs, rhs, True, True)
    keep_name = op in _COMPARISONS and not node.bool_
    if isinstance(rhs, np.ndarray):
        return [(labels if keep_name else _drop_name(labels), _apply(op, vals, rhs, node.bool_, True))
                for labels, vals in _vector(lhs, op)]
    if isinstance(lhs, np.ndarray):
        return [(labels if keep_name else _drop_name(labels), _apply(op, lhs, vals, node.bool_, False))
                for labels, vals in rhs]

    def signature(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
        if node.match and node.match[0] == "on":
            return tuple(sorted((k, labels.get(k, "")) for k in node.match[1]))
        ignored = set(node.match[1]) if node.match else set()
        return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__" and k not in ignored))

    right: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    for labels, vals in rhs:
        sig = signature(labels)
        if sig in right:
            raise PromQLError(f"many-to-one matching is not supported: duplicate series {dict(sig)} on the "
                              "right-hand side; aggregate first, e.g. sum by (...)")
        right[sig] = vals
    out = []
    for labels, vals in lhs:
        other = right.get(signature(labels))
        if other is None:
            continue
        if node.match and node.match[0] == "on":
            res_labels = {k: labels[k] for k in node.match[1] if k in labels}
        elif node.match:
            res_labels = {k: v for k, v in _drop_name(labels).items() if k not in node.match[1]}
        else:
            res_labels = labels if keep_name else _drop_name(labels)
        out.append((res_labels, _apply(op, vals, other, node.bool_, True)))
    return out


def _histogram_quantile(ctx: _Ctx, q: np.ndarray | Vector, vec: np.ndarray | Vector) -> Vector:
    if not isinstance(q, np.ndarray):
        raise PromQLError("histogram_quantile() takes a scalar quantile first")
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, np.ndarray]]] = {}
    out_labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for labels, vals in _vector(vec, "histogram_quantile"):
        if "le" not in labels:
            continue
        rest = {k: v for k, v in labels.items() if k not in ("le", "__name__")}
        key = tuple(sorted(rest.items()))
        groups.setdefault(key, []).append((float(labels["le"].replace("+Inf", "inf")), vals))
        out_labels[key] = rest
    out = []
    for key, buckets in groups.items():
        buckets.sort(key=lambda b: b[0])
        bounds = np.array([b for b, _ in buckets])
        counts = np.vstack([v for _, v in buckets])
        res = np.array([_bucket_quantile(float(q[i]), bounds, counts[:, i]) for i in range(counts.shape[1])])
        out.append((out_labels[key], res))
    return out


def _bucket_quantile(q: float, bounds: np.ndarray, counts: np.ndarray) -> float:
    """Prometheus' bucketQuantile: linear interpolation inside the bucket, monotonic counts."""
    ok = ~np.isnan(counts)
    bounds, counts = bounds[ok], counts[ok]
    if math.isnan(q) or len(bounds) < 2 or not math.isinf(bounds[-1]):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    counts = np.maximum.accumulate(counts)
    total = counts[-1]
    if total == 0:
        return math.nan
    rank = q * total
    b = int(np.searchsorted(counts, rank, side="left"))
    if b == len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end = (0.0, bounds[b]) if b == 0 else (bounds[b - 1], bounds[b])
    count = counts[b] - (counts[b - 1] if b > 0 else 0.0)
    rank -= counts[b - 1] if b > 0 else 0.0
    return float(start + (end - start) * (rank / count)) if count else float(end)


def _scalar_of(ctx: _Ctx, vec: np.ndarray | Vector) -> np.ndarray:
    v = _vector(vec, "scalar")
    return v[0][1] if len(v) == 1 else np.full(len(ctx.steps_ms), np.nan)


def _clamp(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., Vector]:
    def apply(ctx: _Ctx, vec: np.ndarray | Vector, bound: np.ndarray | Vector) -> Vector:
        if not isinstance(bound, np.ndarray):
            raise PromQLError("clamp bounds must be scalars")
        return [(_drop_name(lab), fn(vals, bound)) for lab, vals in _vector(vec, "clamp")]
    return apply


_INSTANT_FUNCS: dict[str, Callable[..., Any]] = {
    "histogram_quantile": _histogram_quantile,
    "abs": lambda ctx, vec: [(_drop_name(lab), np.abs(v)) for lab, v in _vector(vec, "abs")],
    "clamp_min": _clamp(np.maximum),
    "clamp_max": _clamp(np.minimum),
    "vector": lambda ctx, s: [({}, s)],
    "scalar": _scalar_of,
    "time": lambda ctx: ctx.steps_ms / 1000.0,
}
assert set(_INSTANT_FUNCS) == set(INSTANT_FUNCS), "the parser and the evaluator must know the same functions"
