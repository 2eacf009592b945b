"""PromQL functions of instant vectors and scalars (math, clamp, dates, labels, histogram_quantile, sort).

Each takes the evaluated arguments (scalars are one value per step) and returns a `Vec`
or a scalar array, with the label handling of Prometheus 2.42 (most drop `__name__`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from streamverse.collectors.promql_ast import PromQLError
from streamverse.collectors.promql_values import Vec, drop_name, label_key
from streamverse.collectors.selector import go_regex

Arg = np.ndarray | Vec | str
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _math(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Vec], Vec]:
    def apply(vec: Vec) -> Vec:
        with np.errstate(all="ignore"):
            return Vec([drop_name(lab) for lab in vec.labels], fn(vec.values), vec.present.copy())
    return apply


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


MATH: dict[str, Callable[[Vec], Vec]] = {name: _math(fn) for name, fn in {
    "abs": np.abs, "ceil": np.ceil, "floor": np.floor, "exp": np.exp, "sqrt": np.sqrt, "ln": np.log,
    "log2": np.log2, "log10": np.log10, "sgn": np.sign, "acos": np.arccos, "acosh": np.arccosh,
    "asin": np.arcsin, "asinh": np.arcsinh, "atan": np.arctan, "atanh": np.arctanh, "cos": np.cos,
    "cosh": np.cosh, "sin": np.sin, "sinh": np.sinh, "tan": np.tan, "tanh": np.tanh, "deg": np.degrees,
    "rad": np.radians}.items()}


def round_to(vec: Vec, to_nearest: np.ndarray | None) -> Vec:
    """round(v, to_nearest=1): half rounds up, as Go's math.Floor(v*inv+0.5)/inv."""
    with np.errstate(all="ignore"):
        if to_nearest is None:
            values = _round_half_up(vec.values)
        else:
            inv = 1.0 / to_nearest[None, :]
            values = _round_half_up(vec.values * inv) / inv
    return Vec([drop_name(lab) for lab in vec.labels], values, vec.present.copy())


def clamp(vec: Vec, lo: np.ndarray | None, hi: np.ndarray | None) -> Vec:
    """clamp/clamp_min/clamp_max (NaN bounds give NaN, like Go's math.Max/Min); min > max: no result."""
    values, present = vec.values, vec.present.copy()
    with np.errstate(invalid="ignore"):
        if hi is not None:
            values = np.minimum(hi[None, :], values)
        if lo is not None:
            values = np.maximum(lo[None, :], values)
        if lo is not None and hi is not None:
            present &= ~(hi < lo)[None, :]
    return Vec([drop_name(lab) for lab in vec.labels], values, present)


# What Go's time.Unix(int64(v), 0) gives when int64(v) overflows (NaN, ±Inf, |v| >= 2^63): the
# conversion yields MinInt64 on amd64 and Prometheus reports that instant's fields, not NaN.
_GO_OVERFLOW = {"year": 292277026596.0, "month": 12.0, "day_of_month": 4.0, "day_of_year": 339.0,
                "day_of_week": 0.0, "days_in_month": 31.0, "hour": 15.0, "minute": 30.0}


def date_part(func: str, vec: Vec) -> Vec:
    """day_of_month, day_of_week, ... of each value read as epoch seconds (UTC)."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(vec.values) & (np.abs(vec.values) < 2.0**63)
        secs = np.where(ok, np.trunc(np.where(ok, vec.values, 0.0)), 0).astype(np.int64)
    day = np.floor_divide(secs, 86400)
    dt = day.astype("datetime64[D]")
    year = dt.astype("datetime64[Y]")
    month = dt.astype("datetime64[M]")
    if func == "year":
        out = year.astype(np.int64) + 1970
    elif func == "month":
        out = month.astype(np.int64) % 12 + 1
    elif func == "day_of_month":
        out = (dt - month).astype(np.int64) + 1
    elif func == "day_of_year":
        out = (dt - year.astype("datetime64[D]")).astype(np.int64) + 1
    elif func == "day_of_week":
        out = (day + 4) % 7
    elif func == "days_in_month":
        out = ((month + 1).astype("datetime64[D]") - month.astype("datetime64[D]")).astype(np.int64)
    elif func == "hour":
        out = np.mod(secs, 86400) // 3600
    else:  # minute
        out = np.mod(secs, 3600) // 60
    values = np.where(ok, out.astype(np.float64), _GO_OVERFLOW[func])
    return Vec([drop_name(lab) for lab in vec.labels], values, vec.present.copy())


def label_replace(vec: Vec, dst: str, repl: str, src: str, regex: str) -> Vec:
    """Set `dst` from `repl` ($1 ...) when `regex` matches the whole of `src`'s value."""
    try:
        pattern = re.compile(go_regex(regex), re.DOTALL)
    except re.error as exc:
        raise PromQLError(f"invalid regular expression in label_replace(): {regex!r}: {exc}") from None
    if not _LABEL_NAME.fullmatch(dst) and dst != "__name__":
        raise PromQLError(f"invalid destination label name in label_replace(): {dst!r}")
    labels = []
    for lab in vec.labels:
        m = pattern.fullmatch(lab.get(src, ""))
        new = dict(lab)
        if m is not None:
            value = _expand(repl, m)
            if value:
                new[dst] = value
            else:
                new.pop(dst, None)
        labels.append(new)
    return Vec(labels, vec.values.copy(), vec.present.copy())


def _expand(template: str, m: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$."""
    def one(t: re.Match[str]) -> str:
        if t.group(0) == "$$":
            return "$"
        name = t.group(1) or t.group(2)
        if name is None:
            return t.group(0)
        try:
            got = m.group(int(name)) if name.isdigit() else m.group(name)
        except IndexError:
            got = None
        return got or ""
    return re.sub(r"\$\$|\$\{([a-zA-Z0-9_]+)\}|\$([a-zA-Z0-9_]+)", one, template)


def label_join(vec: Vec, dst: str, sep: str, srcs: list[str]) -> Vec:
    """Set `dst` to the values of `srcs` joined by `sep` (missing labels count as "")."""
    if not _LABEL_NAME.fullmatch(dst) and dst != "__name__":
        raise PromQLError(f"invalid destination label name in label_join(): {dst!r}")
    labels = []
    for lab in vec.labels:
        new = dict(lab)
        value = sep.join(lab.get(s, "") for s in srcs)
        if value:
            new[dst] = value
        else:
            new.pop(dst, None)
        labels.append(new)
    return Vec(labels, vec.values.copy(), vec.present.copy())


def sort(vec: Vec, descending: bool) -> Vec:
    """Series ordered by their value at the first step (what an instant query shows); NaN last."""
    if not len(vec):
        return vec
    col = np.argmax(vec.present, axis=1)
    vals = vec.values[np.arange(len(vec)), col]
    key = np.where(np.isnan(vals), np.inf, -vals if descending else vals)
    order = np.argsort(key, kind="stable")
    return vec.take(order)


def histogram_quantile(q: np.ndarray, vec: Vec) -> Vec:
    """The φ-quantile from classic `le` buckets, per label set without `le`, as bucketQuantile does."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, int]]] = {}
    out_labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for i, lab in enumerate(vec.labels):
        try:
            bound = float(lab.get("le", ""))
        except ValueError:
            continue
        rest = {k: v for k, v in lab.items() if k != "le"}
        key = label_key(rest)  # the name stays in the key: two histograms are two groups
        groups.setdefault(key, []).append((bound, i))
        out_labels[key] = drop_name(rest)
    rows = []
    for key, buckets in groups.items():
        buckets.sort(key=lambda b: b[0])
        bounds = np.array([b for b, _ in buckets])
        idx = [i for _, i in buckets]
        counts, present = vec.values[idx], vec.present[idx]
        ok = present.any(axis=0)
        res = np.full(len(q), np.nan)
        for j in np.flatnonzero(ok):
            sel = present[:, j]
            res[j] = bucket_quantile(float(q[j]), bounds[sel], counts[sel, j])
        rows.append((out_labels[key], res, ok))
    return Vec.of(rows, len(q))


def bucket_quantile(q: float, bounds: np.ndarray, counts: np.ndarray) -> float:
    """Prometheus' bucketQuantile: coalesced, monotonic buckets, linear interpolation inside one."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if not len(bounds) or not math.isinf(bounds[-1]) or bounds[-1] < 0:
        return math.nan
    uniq, inverse = np.unique(bounds, return_inverse=True)  # equal bounds written differently: one bucket
    summed = np.zeros(len(uniq))
    np.add.at(summed, inverse, counts)
    bounds, counts = uniq, np.fmax.accumulate(summed)
    if len(bounds) < 2:
        return math.nan
    total = counts[-1]
    if total == 0 or math.isnan(total):
        return math.nan
    rank = q * total
    b = int(np.searchsorted(counts[:-1], rank, side="left"))
    if b == len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end, count = 0.0, float(bounds[b]), float(counts[b])
    if b > 0:
        start = float(bounds[b - 1])
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)
