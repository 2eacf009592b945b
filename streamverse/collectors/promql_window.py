"""Functions of a range vector (`rate`, `*_over_time`, `deriv`, ...) over windows [t - range, t].

Windows follow Prometheus 2.42: both ends included, staleness markers already removed.
The common functions are vectorised over all series and steps at once (one index search
per series, sums with `reduceat` so that a window's sum never depends on samples outside
it); the rarer statistical ones loop over windows with Prometheus' own arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from streamverse.collectors.promql_values import FlatData, RollupData, drop_stale

# Per (series, step): value array and presence mask.
Result = tuple[np.ndarray, np.ndarray]
Params = dict[str, np.ndarray]


def bounds(flat: FlatData, lo: np.ndarray | None, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per series and step: index of the first sample >= lo and of the last sample <= hi (global indices)."""
    shape = (len(flat.labels), len(hi))
    first, last = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    # When step == range each window starts where the previous one ended: one search per edge.
    tiled = lo is not None and len(lo) > 1 and np.array_equal(lo[1:], hi[:-1])
    for k, (a, b) in enumerate(zip(flat.start.tolist(), flat.stop.tolist(), strict=True)):
        seg = flat.ts[a:b]
        if tiled and len(seg):
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


def rollup_window(func: str, r: RollupData, t: np.ndarray, rng: int) -> Result:
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
    return extrapolate(func, count, result, ts_a, ts_b, v_a, t, rng)


def extrapolate(func: str, count: np.ndarray, result: np.ndarray, ts_a: np.ndarray, ts_b: np.ndarray,
                v_a: np.ndarray, t: np.ndarray, rng: int) -> Result:
    """Prometheus' extrapolatedRate: the sampled increase stretched to the window edges."""
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
    return result, ok


def _increase(flat: FlatData, a: np.ndarray, b: np.ndarray, drops: np.ndarray | None) -> np.ndarray:
    """Reset-adjusted counter increase from sample a to sample b (same series), Prometheus' reset rule."""
    v = flat.values
    if flat.inc is not None:  # downsampled data carries exact increments
        run = np.zeros_like(flat.inc)
        for lo, hi in zip(flat.start.tolist(), flat.stop.tolist(), strict=True):
            np.cumsum(flat.inc[lo:hi], out=run[lo:hi])
        return run[b] - run[a]
    out = v[b] - v[a]
    if drops is None:
        drops = np.flatnonzero(v[1:] < v[:-1]) + 1
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


def _reduce(ufunc: np.ufunc, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ufunc over each window v[a:b+1] on its own (exact: no running sums across windows)."""
    idx = np.empty(2 * a.size, dtype=np.int64)
    idx[0::2], idx[1::2] = a.ravel(), np.minimum(b + 1, len(v)).ravel()
    return ufunc.reduceat(np.append(v, 0.0), idx)[0::2].reshape(a.shape)


def _pair_flags(flat: FlatData, flag: np.ndarray) -> np.ndarray:
    """Running count of a per-pair flag (sample i vs i-1 of the same series), zero at each series' start."""
    f = np.zeros(len(flat.values), dtype=np.int64)
    f[1:] = flag
    f[flat.start[flat.start < len(f)]] = 0
    return np.cumsum(f)


def _without_stale(func: str, flat: FlatData) -> tuple[FlatData, np.ndarray | None]:
    """The data without staleness markers and, for rate/increase, the sample indices of counter drops.

    For rate/increase the search for drops also finds every NaN (a pair with NaN is never
    `>=`), so the common case of no NaN at all costs no extra pass over the samples.
    """
    v = flat.values
    if func not in ("rate", "increase") or flat.inc is not None:
        return drop_stale(flat), None
    suspects = np.flatnonzero(~(v[1:] >= v[:-1])) + 1
    if np.isnan(v[suspects]).any() or np.isnan(v[suspects - 1]).any() or (len(v) == 1 and np.isnan(v[0])):
        flat = drop_stale(flat)
        v = flat.values
        return flat, np.flatnonzero(v[1:] < v[:-1]) + 1
    return flat, suspects


CANCELLATION = 1e3  # sum(|v|) / |sum(v)| above which an average is recomputed as Prometheus does


def window(func: str, flat: FlatData, t: np.ndarray, rng: int, params: Params) -> Result:
    """One value per series and step from the samples in [t - range, t], and where there is one."""
    flat, drops = _without_stale(func, flat)
    i0, i1 = bounds(flat, t - rng, t)
    count = i1 - i0 + 1
    a = np.clip(i0, flat.start[:, None], flat.stop[:, None] - 1)
    b = np.clip(i1, flat.start[:, None], flat.stop[:, None] - 1)
    v, ts = flat.values, flat.ts
    one = count >= 1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if func in ("rate", "increase", "delta"):
            result = v[b] - v[a] if func == "delta" else _increase(flat, a, b, drops)
            return extrapolate(func, count, result, ts[a], ts[b], v[a], t, rng)
        if func in ("irate", "idelta"):
            prev = np.maximum(b - 1, flat.start[:, None])
            dv = v[b] - v[prev]
            if func == "irate":
                dv = np.where(v[b] < v[prev], v[b], dv) / ((ts[b] - ts[prev]) / 1000.0)
            return dv, count >= 2
        if func == "count_over_time":
            return count.astype(np.float64), one
        if func == "present_over_time":
            return np.ones(count.shape), one
        if func == "last_over_time":
            return v[b], one
        if func in ("sum_over_time", "avg_over_time"):
            total = _reduce(np.add, v, a, b)
            if func == "sum_over_time":
                return total, one
            mean = total / count
            # Where the mean is the small difference of large values, sum/count and Prometheus'
            # incremental mean round differently: compute those windows (and non-finite ones) its way.
            cancels = np.abs(total) * CANCELLATION < _reduce(np.add, np.abs(v), a, b)
            bad = one & (~np.isfinite(mean) | cancels)
            for k, j in zip(*np.nonzero(bad), strict=True):
                mean[k, j] = incremental_mean(v[a[k, j]: b[k, j] + 1])
            return mean, one
        if func in ("max_over_time", "min_over_time"):
            return _reduce(np.fmax if func == "max_over_time" else np.fmin, v, a, b), one
        if func in ("changes", "resets"):
            prev_v, cur = v[:-1], v[1:]
            both_nan = np.isnan(cur) & np.isnan(prev_v)
            flag = (cur < prev_v) if func == "resets" else ((cur != prev_v) & ~both_nan)
            run = _pair_flags(flat, flag)
            return (run[b] - run[a]).astype(np.float64), one
    return _looped(func, flat, a, b, count, t, params)


def _looped(func: str, flat: FlatData, a: np.ndarray, b: np.ndarray, count: np.ndarray, t: np.ndarray,
            params: Params) -> Result:
    """The statistical functions, one window at a time with Prometheus' arithmetic."""
    need = 2 if func in ("deriv", "predict_linear", "holt_winters") else 1
    ok = count >= need
    out = np.full(count.shape, np.nan)
    v, ts = flat.values, flat.ts
    fn: Callable[[np.ndarray, np.ndarray, int], float]
    if func in ("stddev_over_time", "stdvar_over_time"):
        root = func == "stddev_over_time"
        fn = lambda x, _ts, _j: _stdvar(x) ** 0.5 if root else _stdvar(x)  # noqa: E731
    elif func == "quantile_over_time":
        fn = lambda x, _ts, j: quantile(float(params["q"][j]), x)  # noqa: E731
    elif func == "deriv":
        fn = lambda x, tsw, _j: _regression(x, tsw, int(tsw[0]))[0]  # noqa: E731
    elif func == "predict_linear":
        def fn(x: np.ndarray, tsw: np.ndarray, j: int) -> float:
            slope, intercept = _regression(x, tsw, int(params["eval_ms"][j]))
            return slope * float(params["duration"][j]) + intercept
    elif func == "holt_winters":
        fn = lambda x, _ts, j: _holt_winters(x, float(params["sf"][j]), float(params["tf"][j]))  # noqa: E731
    else:  # pragma: no cover - the parser only admits known functions
        raise AssertionError(func)
    for k, j in zip(*np.nonzero(ok), strict=True):
        lo, hi = a[k, j], b[k, j] + 1
        out[k, j] = fn(v[lo:hi], ts[lo:hi], j)
    return out, ok


def incremental_mean(x: np.ndarray) -> float:
    """Prometheus' incremental mean, which neither overflows nor turns Inf into NaN needlessly."""
    mean, count = 0.0, 0
    for val in x.tolist():
        count += 1
        if math.isinf(mean):
            if math.isinf(val) and (mean > 0) == (val > 0):
                continue
            if not math.isinf(val) and not math.isnan(val):
                continue
        mean += val / count - mean / count
    return mean


def _stdvar(x: np.ndarray) -> float:
    count, mean, aux = 0, 0.0, 0.0
    for val in x.tolist():
        count += 1
        delta = val - mean
        mean += delta / count
        aux += delta * (val - mean)
    return aux / count


def quantile(q: float, values: np.ndarray) -> float:
    """Prometheus' quantile: linear interpolation between the closest ranks."""
    if len(values) == 0 or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    vals = np.sort(values)
    vals = np.roll(vals, int(np.isnan(vals).sum()))  # Prometheus sorts NaN first (vectorByValueHeap.Less)
    rank = q * (len(vals) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(vals) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return float(vals[lower] * (1 - weight) + vals[upper] * weight)


def _regression(y: np.ndarray, ts: np.ndarray, intercept_ms: int) -> tuple[float, float]:
    """Least-squares slope (per second) and intercept at `intercept_ms`, as Prometheus' linearRegression."""
    if (y == y[0]).all():
        return (math.nan, math.nan) if math.isinf(y[0]) else (0.0, float(y[0]))
    x = (ts - intercept_ms) / 1000.0
    n = float(len(y))
    sum_x, sum_y = math.fsum(x), math.fsum(y)
    cov = math.fsum(x * y) - sum_x * sum_y / n
    var = math.fsum(x * x) - sum_x * sum_x / n
    slope = cov / var if var else math.nan
    return slope, sum_y / n - slope * sum_x / n


def _holt_winters(x: np.ndarray, sf: float, tf: float) -> float:
    s0, s1 = 0.0, float(x[0])
    b = float(x[1] - x[0])
    for i in range(1, len(x)):
        if i > 1:
            b = tf * (s1 - s0) + (1 - tf) * b
        s0, s1 = s1, sf * float(x[i]) + (1 - sf) * (s1 + b)
    return s1
