"""PromQL for an SLO's events, shared by the generated rules and by `slo status`.

Two shapes: `events_exprs` (bad and total per step, cumulative or per slice) that the
array engine consumes, and `window_ratio_expr` (error ratio over a window) that the
recording rules use. Both are built from the same selectors, so they agree.
"""

from __future__ import annotations

import json
import math
import re

from streamverse.collectors.selector import parse_selector
from streamverse.slo.loader import render_window
from streamverse.slo.models import NEGATE, SLO

TIMESLICE = "1m"


def _by(slo: SLO) -> str:
    return f" by ({', '.join(slo.slice_by)})" if slo.slice_by else ""


def _le_regex(threshold: float) -> str:
    """`le` as written by different clients: 0.1, 1 or 1.0, 900 or 900.0, 1e+06."""
    forms = {repr(float(threshold)), f"{threshold:g}"}
    if float(threshold).is_integer():
        forms |= {str(int(threshold)), f"{int(threshold)}.0"}
    return "|".join(sorted(re.escape(f) for f in forms))


def with_suffix(selector: str, suffix: str, extra: str = "") -> str:
    """`name{m}` -> `name_suffix{m, extra}`; the selector must name its metric."""
    sel = parse_selector(selector)
    name = sel.name
    if name is None:
        raise ValueError(f"histogram selector {selector!r} must name its metric")
    parts = [f"{m.label}{m.op}{json.dumps(m.value)}" for m in sel.matchers if m.label != "__name__"]
    if extra:
        parts.append(extra)
    return f"{name}{suffix}{{{', '.join(parts)}}}" if parts else f"{name}{suffix}"


def histogram_parts(slo: SLO) -> tuple[str, str]:
    """(good bucket selector, count selector) of a latency SLO."""
    ind = slo.indicator
    assert ind.histogram is not None and ind.threshold is not None
    le = f"le=~{json.dumps(_le_regex(ind.threshold))}"
    return with_suffix(ind.histogram, "_bucket", le), with_suffix(ind.histogram, "_count")


def counter_parts(slo: SLO) -> tuple[str | None, str | None, str]:
    """(bad selector, good selector, total selector); one of bad/good is None."""
    ind = slo.indicator
    if ind.kind == "latency":
        good, total = histogram_parts(slo)
        return None, good, total
    assert ind.total is not None
    return ind.bad, ind.good, ind.total


def window_ratio_expr(slo: SLO, window: str) -> str:
    """The error ratio over a window, as a Prometheus expression (Sloth's recording-rule body)."""
    ind = slo.indicator
    by = _by(slo)
    if ind.kind == "query":
        assert ind.error_query is not None
        err = render_window(ind.error_query, window)
        if ind.total_query is None:
            return err
        return f"({err})\n/\n({render_window(ind.total_query, window)})"
    if ind.kind == "threshold":
        assert ind.query is not None and ind.op is not None and ind.threshold is not None
        cond = f"({ind.query}) {NEGATE[ind.op]} bool {_num(ind.threshold)}"
        return (
            f"sum{by} (sum_over_time(({cond})[{window}:{TIMESLICE}]))\n/\n"
            f"sum{by} (count_over_time(({ind.query})[{window}:{TIMESLICE}]))"
        )
    bad, good, total = counter_parts(slo)
    tot = f"sum{by} (rate({total}[{window}]))"
    if bad is not None:
        err = f"(sum{by} (rate({bad}[{window}])) or 0 * {tot})"
    else:
        err = f"({tot} - sum{by} (rate({good}[{window}])))"
    return f"{err}\n/\n{tot}"


def events_exprs(slo: SLO) -> tuple[str, str, str] | None:
    """(bad-or-good expr, total expr, 'bad'|'good') giving per-step events for the array engine.

    Counter SLOs give cumulative sums (differenced by the caller); threshold SLOs give a
    0/1 count per series and step. None for raw `query` SLOs, evaluated window by window.
    """
    ind = slo.indicator
    by = _by(slo)
    if ind.kind == "query":
        return None
    if ind.kind == "threshold":
        assert ind.query is not None and ind.op is not None and ind.threshold is not None
        return (
            f"sum{by} (({ind.query}) {NEGATE[ind.op]} bool {_num(ind.threshold)})",
            f"count{by} ({ind.query})",
            "bad-slices",
        )
    bad, good, total = counter_parts(slo)
    which = "bad" if bad is not None else "good"
    return f"sum{by} ({bad or good})", f"sum{by} ({total})", which


def _num(x: float) -> str:
    if math.isfinite(x) and float(x).is_integer():
        return str(int(x))
    return repr(float(x))
