"""State machine on a virtual clock over the embedded store; fingerprints are stable."""

from __future__ import annotations

from pathlib import Path

from streamverse.alerts.enums import AlertStatus
from streamverse.alerts.evaluator import Evaluator, fingerprint
from streamverse.alerts.rules import Rule, parse_rules
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.errors import ConfigError
from streamverse.metricstore import Sample

T0 = 1_700_000_000.0


def _write(store: EmbeddedStore, at: float, value: float, pop: str = "p1") -> None:
    store.write([Sample("depth", {"pop": pop}, at, value)])
    store.flush()


def test_pending_firing_resolved_with_for_duration(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    ev = Evaluator([Rule(name="Deep", expr="depth", op=">", threshold=10, **{"for": "30s"})], store)
    _write(store, T0, 5)
    assert ev.cycle(T0) == []
    _write(store, T0 + 10, 50)
    assert [t.to for t in ev.cycle(T0 + 10)] == [AlertStatus.pending]
    _write(store, T0 + 20, 50)
    assert ev.cycle(T0 + 20) == []  # 10 s of 30 s
    _write(store, T0 + 40, 50)
    trs = ev.cycle(T0 + 40)
    assert [t.to for t in trs] == [AlertStatus.firing]
    assert trs[0].alert.labels == {"pop": "p1", "alertname": "Deep", "severity": "ticket"}
    _write(store, T0 + 50, 1)
    assert [t.to for t in ev.cycle(T0 + 50)] == [AlertStatus.resolved]


def test_pending_that_clears_never_fires(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    ev = Evaluator([Rule(name="Deep", expr="depth", op=">", threshold=10, **{"for": "1m"})], store)
    _write(store, T0, 50)
    ev.cycle(T0)
    _write(store, T0 + 10, 1)
    assert [t.to for t in ev.cycle(T0 + 10)] == [AlertStatus.inactive]
    assert ev.alerts == {}


def test_fingerprint_is_stable_and_label_order_free() -> None:
    a = fingerprint({"alertname": "X", "region": "us-east", "severity": "page"})
    b = fingerprint({"severity": "page", "region": "us-east", "alertname": "X"})
    assert a == b and len(a) == 16
    assert a != fingerprint({"alertname": "X", "region": "eu-west", "severity": "page"})


def test_shared_expression_is_queried_once(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    calls = []
    real = store.query
    store.query = lambda expr, at: calls.append(expr) or real(expr, at)  # type: ignore[method-assign]
    rules = [Rule(name=f"R{i}", expr="depth", threshold=float(i)) for i in range(50)]
    ev = Evaluator(rules, store)
    _write(store, T0, 20.5)
    trs = ev.cycle(T0)
    assert calls == ["depth"]
    assert len([t for t in trs if t.to == AlertStatus.firing]) == 21  # thresholds 0..20


def test_nodata_rule_fires_without_series(tmp_path: Path) -> None:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    ev = Evaluator([Rule(name="Gone", kind="nodata", expr="missing_metric")], store)
    assert [t.to for t in ev.cycle(T0)] == [AlertStatus.pending, AlertStatus.firing]


def test_rule_file_errors_name_line_and_field() -> None:
    text = "rules:\n  - name: Ok\n    expr: up\n  - name: Bad\n    expr: up\n    for: soon\n"
    try:
        parse_rules(text, "rules.yaml")
    except ConfigError as exc:
        assert exc.file == "rules.yaml" and exc.line == 6 and exc.field == "rules.1.for"
    else:
        raise AssertionError("a bad duration must be refused")
