"""Rules batched over one store read per metric give what each rule's own query gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamverse.alerts.batching import BatchPlan, shape_of
from streamverse.alerts.evaluator import Evaluator, _series
from streamverse.alerts.rules import Rule
from streamverse.collectors.embedded import EmbeddedStore

NOW = 1_700_000_000.0
EXPRS = [
    'rate(req_total{pop="a", code="500"}[5m])',
    'sum(rate(req_total{code=~"5.."}[5m]))',
    'sum by (pop) (rate(req_total{code!="200"}[1m]))',
    "sum by (code) (increase(req_total[10m]))",
    'avg by (region, pop) (lat{code=~"[45].."})',
    'max by (pop) (max_over_time(lat{region="r1"}[5m]))',
    'min(lat{pop!~"a|b"})',
    "count by (code) (lat)",
    'lat{code=""}',  # matches the series without a code label
    'sum by (code) (lat{region="r1"})',  # a group for series without `code`
    'lat{pop="nowhere"}',
    'count(lat{region="r1"} > 0.1)',
    'max by (pop) (rate(req_total[5m]) <= 5)',
    "lat{code=\"404\"} > 0.08",
    "sum(nothing_total)",
    "nothing_total",
    # partners, so every base above is shared by at least two expressions
    'rate(req_total{pop="b"}[1m])',
    'increase(req_total{region="r2"}[10m])',
    'max_over_time(lat{code="500"}[5m])',
]


def _store(tmp_path: Path) -> EmbeddedStore:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    ts = np.arange(NOW - 3600, NOW + 1, 15.0)
    rng = np.random.default_rng(3)
    for region in ("r1", "r2"):
        for pop in ("a", "b", "c"):
            for code in ("200", "404", "500"):
                labels = {"region": region, "pop": pop, "code": code}
                store.write_arrays("req_total", labels, ts, np.cumsum(rng.poisson(5, len(ts))).astype(float))
                store.write_arrays("lat", labels, ts, rng.gamma(2.0, 0.05, len(ts)))
            store.write_arrays("lat", {"region": region, "pop": pop}, ts, rng.gamma(2.0, 0.05, len(ts)))
    store.flush()
    return store


def _as_dict(result: tuple[list, np.ndarray]) -> dict[tuple, float]:
    keys, vals = result
    return {tuple(sorted(k)): float(v) for k, v in zip(keys, vals, strict=True)}


def test_batched_answers_equal_each_expressions_own_query(tmp_path: Path) -> None:
    store = _store(tmp_path)
    plan = BatchPlan(EXPRS)
    cache: dict = {}
    bases = plan.prefetch(lambda base: store.query(base, NOW), cache)
    assert set(cache) == set(EXPRS)
    assert bases < len(EXPRS)
    for expr in EXPRS:
        want = _as_dict(_series(store.query(expr, NOW)))
        got = _as_dict(cache[expr])
        assert got.keys() == want.keys(), expr
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-12), (expr, k)


@pytest.mark.parametrize("expr", ["req_total offset 5m", "sum without (pop) (lat)", "0.1 < lat",
                                  "lat > bool 0.1", '{__name__=~"la.*"}', '{pop="a"}',
                                  "rate(req_total[5m]) / 2",
                                  "not valid((("])
def test_other_shapes_are_queried_on_their_own(expr: str) -> None:
    assert shape_of(expr) is None


def test_evaluator_reads_each_metric_once_and_fires_the_same(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rules = [Rule(name=f"R{i}", expr=e, op=">", threshold=0.05) for i, e in enumerate(EXPRS)]
    calls: list[str] = []
    real = store.query
    store.query = lambda expr, at: calls.append(expr) or real(expr, at)  # type: ignore[method-assign]
    ev = Evaluator(rules, store)
    hits = ev.active(NOW)
    assert len(calls) < len(EXPRS)
    del store.query
    alone = {}
    for rule in rules:
        alone.update(Evaluator([rule], store).active(NOW))
    assert {fp: (i, v) for fp, (i, _, v) in hits.items()}.keys() == alone.keys()
    for fp, (_, _, v) in hits.items():
        assert v == pytest.approx(alone[fp][2], rel=1e-12)
