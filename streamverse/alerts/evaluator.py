"""One evaluation cycle for every rule; shared queries run once, comparisons are vectorised.

Rules are grouped by expression: 10,000 threshold rules over 100 expressions cost 100 store
queries plus one array comparison per group. Distinct expressions over the same metric share
one store read too (`batching.py`). The state machine (inactive -> pending ->
firing -> resolved) only walks the series whose condition holds or that already have state.
"""

from __future__ import annotations

import hashlib
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from streamverse.alerts.batching import BatchPlan
from streamverse.alerts.enums import AlertStatus, RuleKind
from streamverse.alerts.rules import Rule
from streamverse.metricstore import MetricStore

log = logging.getLogger("streamverse.alerts")

RESOLVED_RETENTION_S = 900.0  # Prometheus keeps resolved alerts 15 min so receivers see them
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SeriesKey = tuple[tuple[str, str], ...]


def fingerprint(labels: dict[str, str]) -> str:
    """A stable id of an alert series: a hash of its sorted labels (alertname included)."""
    text = "\x00".join(f"{k}\x01{labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Alert:
    """One alert series' state."""

    fingerprint: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: AlertStatus
    active_at: float
    rule: Rule | None = None
    value: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None
    acked_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    """A state change the cycle produced: `to` is pending, firing or resolved."""

    alert: Alert
    to: AlertStatus
    at: float


def _series(df: pd.DataFrame) -> tuple[list[SeriesKey], np.ndarray]:
    """Label keys and values of an instant query result."""
    if df.empty:
        return [], np.zeros(0)
    cols = [c for c in df.columns if c not in ("timestamp", "value", "__name__")]
    vals = df["value"].to_numpy(dtype=float)
    if not cols:
        return [()] * len(df), vals
    keys = [
        tuple((c, str(v)) for c, v in zip(cols, row, strict=True) if isinstance(v, str) or v == v)
        for row in zip(*(df[c].to_numpy() for c in cols), strict=True)
    ]
    return keys, vals


def _render(text: str, labels: dict[str, str]) -> str:
    try:
        return text.format_map(defaultdict(str, labels))
    except (ValueError, IndexError):
        return text


class Evaluator:
    """Holds the alert states and advances them one cycle at a time."""

    def __init__(self, rules: Sequence[Rule], store: MetricStore) -> None:
        self.store = store
        self.alerts: dict[str, Alert] = {}
        self.errors: dict[str, str] = {}
        self._fp_cache: dict[tuple[int, SeriesKey], tuple[str, dict[str, str]]] = {}
        self._external: list[tuple[Rule, float | None]] = []
        self._external_key: tuple[Any, ...] = ()
        self.set_rules(rules)

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rule set; the plan groups rules sharing an expression."""
        self._static = list(rules)
        self._plan()

    def hold_external(self, held: Sequence[tuple[Rule, float | None]]) -> None:
        """Conditions other areas reported (see `external.py`): they hold until replaced."""
        key = tuple(
            (r.name, tuple(sorted(r.labels.items())), tuple(sorted(r.annotations.items())), r.for_s, v)
            for r, v in held
        )
        if key != self._external_key:  # re-plan only when a report changed something
            self._external, self._external_key = list(held), key
            self._plan()

    def _plan(self) -> None:
        self.rules = self._static + [r for r, _ in self._external]
        self._fp_cache.clear()
        n = len(self._static)
        self._external_at = [(n + j, v) for j, (_, v) in enumerate(self._external)]
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, r in enumerate(self._static):
            if r.kind not in (RuleKind.slo, RuleKind.external):
                groups[(r.kind.value, " ".join(r.expr.split()))].append(i)
        self._threshold_groups = []
        for (kind, expr), idx in groups.items():
            ops = np.array([list(_OPS).index(self.rules[i].op) for i in idx])
            th = np.array([self.rules[i].threshold for i in idx])
            self._threshold_groups.append((kind, expr, np.array(idx), ops, th))
        self._slo_rules = [i for i, r in enumerate(self._static) if r.kind == RuleKind.slo]
        self._batches = BatchPlan([expr for _, expr, *_ in self._threshold_groups])

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Take back states saved before a restart, so no pending or firing alert is lost."""
        by_name = {r.name: r for r in self.rules}
        for a in alerts:
            a.rule = a.rule or by_name.get(a.name)
            self.alerts[a.fingerprint] = a

    # -- conditions ----------------------------------------------------------------------------
    def _query(
        self, expr: str, now: float, cache: dict[str, tuple[list[SeriesKey], np.ndarray]]
    ) -> tuple[list[SeriesKey], np.ndarray]:
        got = cache.get(expr)
        if got is None:
            try:
                got = _series(self.store.query(expr, now))
                self.errors.pop(expr, None)
            except Exception as exc:  # noqa: BLE001 - one bad expression must not stop the cycle
                self.errors[expr] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                got = ([], np.zeros(0))
                got = (got[0], got[1])
                cache[expr] = got
                raise _QueryFailed(expr) from exc
            cache[expr] = got
        return got

    def active(self, now: float) -> dict[str, tuple[int, SeriesKey, float]]:
        """fingerprint -> (rule index, series key, value) of every condition that holds now."""
        out: dict[str, tuple[int, SeriesKey, float]] = {}
        cache: dict[str, tuple[list[SeriesKey], np.ndarray]] = {}
        self._batches.prefetch(lambda base: self.store.query(base, now), cache)
        for kind, expr, idx, ops, th in self._threshold_groups:
            try:
                keys, vals = self._query(expr, now, cache)
            except _QueryFailed:
                continue
            if kind == RuleKind.nodata.value:
                if not keys:
                    for i in idx:
                        self._hold(out, int(i), (), float("nan"))
                continue
            if not keys:
                continue
            hit = np.zeros((len(idx), len(vals)), dtype=bool)
            with np.errstate(invalid="ignore"):
                for code in np.unique(ops):
                    rows = ops == code
                    hit[rows] = _OPS[list(_OPS)[code]](vals[None, :], th[rows, None])
            for r, c in zip(*np.nonzero(hit), strict=True):
                self._hold(out, int(idx[r]), keys[c], float(vals[c]))
        for i in self._slo_rules:
            rule = self.rules[i]
            try:
                ratios = {
                    w: dict(zip(*self._query(e, now, cache), strict=True)) for w, e in rule.windows.items()
                }
            except _QueryFailed:
                continue
            eb = rule.error_budget
            for key in set().union(*(set(v) for v in ratios.values())):
                burn = 0.0
                for factor, lw, sw in rule.conditions:
                    lo, so = ratios[lw].get(key, np.nan), ratios[sw].get(key, np.nan)
                    if lo > factor * eb and so > factor * eb:
                        burn = max(burn, float(lo / eb))
                if burn:
                    self._hold(out, i, key, burn)
        for i, value in self._external_at:
            self._hold(out, i, (), float("nan") if value is None else float(value))
        return out

    def _hold(
        self, out: dict[str, tuple[int, SeriesKey, float]], i: int, key: SeriesKey, value: float
    ) -> None:
        fp, _ = self._identity(i, key)
        out[fp] = (i, key, value)

    def _identity(self, i: int, key: SeriesKey) -> tuple[str, dict[str, str]]:
        got = self._fp_cache.get((i, key))
        if got is None:
            labels = {**dict(key), **self.rules[i].alert_labels()}
            got = self._fp_cache[(i, key)] = (fingerprint(labels), labels)
        return got

    # -- the state machine ---------------------------------------------------------------------
    def cycle(self, now: float) -> list[Transition]:
        """Evaluate every rule at `now` and return the state changes."""
        hits = self.active(now)
        out: list[Transition] = []
        for fp, (i, key, value) in hits.items():
            rule = self.rules[i]
            a = self.alerts.get(fp)
            if a is None or a.status in (AlertStatus.resolved, AlertStatus.inactive):
                _, labels = self._identity(i, key)
                ann = {k: _render(v, labels) for k, v in rule.annotations.items()}
                a = self.alerts[fp] = Alert(fp, rule.name, labels, ann, AlertStatus.pending, now, rule, value)
                out.append(Transition(a, AlertStatus.pending, now))
            a.value = value
            a.rule = a.rule or rule  # restored alerts get their rule back
            if a.status == AlertStatus.pending and now - a.active_at >= rule.for_s:
                a.status, a.fired_at = AlertStatus.firing, now
                out.append(Transition(a, AlertStatus.firing, now))
        for fp, a in list(self.alerts.items()):
            if fp in hits:
                continue
            if a.status == AlertStatus.pending:
                del self.alerts[fp]  # never fired: back to inactive, as Prometheus does
                a.status = AlertStatus.inactive
                out.append(Transition(a, AlertStatus.inactive, now))
            elif a.status == AlertStatus.firing:
                a.status, a.resolved_at = AlertStatus.resolved, now
                out.append(Transition(a, AlertStatus.resolved, now))
            elif a.status == AlertStatus.resolved and now - (a.resolved_at or now) > RESOLVED_RETENTION_S:
                del self.alerts[fp]
        return out

    def firing(self) -> list[Alert]:
        """Alerts firing now."""
        return [a for a in self.alerts.values() if a.status == AlertStatus.firing]


class _QueryFailed(Exception):
    pass


def naive_cycle(rules: Sequence[Rule], store: MetricStore, now: float) -> int:
    """The baseline: one store query per rule, compared row by row (what the bench measures against)."""
    hits = 0
    for r in rules:
        if r.kind == RuleKind.external:
            continue
        exprs = list(r.windows.values()) if r.kind == RuleKind.slo else [r.expr]
        for expr in exprs:
            df = store.query(expr, now)
            if r.kind == RuleKind.nodata:
                hits += int(df.empty)
                continue
            for v in df["value"] if not df.empty else []:
                hits += bool(_OPS[r.op](float(v), r.threshold))
    return hits
