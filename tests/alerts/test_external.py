"""Findings another area reports (the cost check) become alerts: fire, notify, survive restarts, resolve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from streamverse.alerts import service
from streamverse.alerts.config import AlertingConfig, Retry, Route, Target
from streamverse.alerts.evaluator import fingerprint
from streamverse.alerts.loop import AlertService
from streamverse.alerts.rules import Rule, parse_rules
from streamverse.alerts.scheduler import AlertScheduler, PeriodicCheck
from streamverse.clock import VirtualClock
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.db import get_engine, init_db
from streamverse.errors import ConfigError, UsageError
from tests.alerts.test_service import Receiver

T0 = 1_700_000_000.0
SPIKE = {
    "labels": {
        "alertname": "CostSpendAnomaly",
        "area": "costs",
        "category": "cdn_egress",
        "scope": "video:42",
        "video_id": "42",
        "severity": "warning",
    },
    "annotations": {"summary": "cdn_egress spend spike on video 42"},
    "value": 1234.5,
    "incident": False,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _service(tmp_path: Path, clock: VirtualClock, url: str | None = None, hook: Any = None) -> AlertService:
    engine = get_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    init_db(engine)
    cfg = AlertingConfig(
        targets=[Target(name="hook", kind="webhook", url=url)] if url else [],
        routes=[Route(targets=["hook"] if url else [], group_wait=0, group_interval=10)],
        retry=Retry(attempts=2, backoff=0.1),
    )
    rules = [Rule(name="Deep", expr="depth", threshold=10)]  # a store rule alongside, untouched
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    svc = AlertService(engine=engine, store=store, clock=clock, rules=rules, config=cfg, on_alert=hook)
    svc.notifier.sleep = lambda s: None
    return svc


def _report(svc: AlertService, findings: list[dict[str, Any]], at: float, ttl_s: float = 900.0) -> None:
    with Session(svc.engine) as s:
        service.report_findings(session=s, source="costs", findings=findings, at=at, ttl_s=ttl_s)
        s.commit()


def test_a_reported_finding_fires_notifies_and_resolves_when_left_out(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = VirtualClock(T0)
    svc = _service(tmp_path, clock, receiver.url)
    _report(svc, [SPIKE], T0)
    res = svc.cycle()
    assert [t.to.value for t in res.transitions] == ["pending", "firing"]  # `for` 0: fires at once
    fp = fingerprint(SPIKE["labels"])
    with Session(svc.engine) as s:
        row = service.list_alerts(session=s)[0]
        assert (row.fingerprint, row.status, row.value) == (fp, "firing", 1234.5)
        assert row.labels["video_id"] == "42"
        kinds = [h.kind for h in service.history(session=s)]
        assert "reported" in kinds and "firing" in kinds
    sent = [a for b in receiver.bodies for a in b["alerts"]]
    assert [(a["status"], a["labels"]["video_id"]) for a in sent] == [("firing", "42")]

    clock.advance(60)
    _report(svc, [SPIKE], clock.now())  # the next check finds it again: nothing changes
    assert svc.cycle().transitions == []
    clock.advance(60)
    _report(svc, [], clock.now())  # the spike is over
    res = svc.cycle()
    assert [t.to.value for t in res.transitions] == ["resolved"]
    assert receiver.bodies[-1]["alerts"][0]["status"] == "resolved"
    with Session(svc.engine) as s:
        assert service.list_alerts(session=s)[0].status == "resolved"
        assert service.history(session=s, kind="reported")[0].data["gone"] == [fp]


def test_an_expired_report_resolves_its_alerts(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    svc = _service(tmp_path, clock)
    _report(svc, [SPIKE], T0, ttl_s=300)
    svc.cycle()
    clock.advance(299)
    assert svc.cycle().transitions == []
    clock.advance(2)  # the checker stopped reporting: its alerts cannot hold forever
    assert [t.to.value for t in svc.cycle().transitions] == ["resolved"]


def test_a_restarted_loop_keeps_reported_alerts_firing(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    svc = _service(tmp_path, clock)
    _report(svc, [SPIKE], T0)
    svc.cycle()
    clock.advance(30)
    again = _service(tmp_path, clock)  # the same database, a new process
    assert again.cycle().transitions == []  # still firing, no resolve-and-refire flap
    assert again.evaluator.firing()[0].labels["video_id"] == "42"


def test_notify_only_findings_open_no_incident(tmp_path: Path) -> None:
    events: list[Any] = []
    clock = VirtualClock(T0)
    svc = _service(tmp_path, clock, hook=events.append)
    budget = {
        "labels": {"alertname": "CostBudgetExceeded", "category": "cache_fill", "severity": "critical"},
        "value": 2.0,
    }
    _report(svc, [SPIKE, budget], T0)
    svc.cycle()
    assert [e.name for e in events] == ["CostBudgetExceeded"]  # `incident` defaults to true


def test_bad_findings_and_rule_files_are_refused(tmp_path: Path) -> None:
    svc = _service(tmp_path, VirtualClock(T0))
    with pytest.raises(UsageError, match="alertname"):
        _report(svc, [{"labels": {"severity": "warning"}}], T0)
    with pytest.raises(UsageError, match="positive"):
        _report(svc, [SPIKE], T0, ttl_s=0)
    text = "version: streamverse/v1\nrules:\n  - name: X\n    kind: external\n"
    with pytest.raises(ConfigError, match="another area reports") as exc:
        parse_rules(text, "rules.yaml")
    assert (exc.value.file, exc.value.line, exc.value.field) == ("rules.yaml", 3, "rules.0")


def test_periodic_checks_run_on_the_leader_beside_evaluation(tmp_path: Path) -> None:
    svc = _service(tmp_path, VirtualClock(T0))
    runs: list[float] = []
    sched = AlertScheduler(svc, interval_s=0.2)
    sched.add_check(
        PeriodicCheck("probe", interval_s=0.3, run=lambda: runs.append(time.monotonic()), first_after_s=0.0)
    )
    sched.start()
    try:
        deadline = time.monotonic() + 5
        while len(runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sched.stop()
    assert len(runs) >= 3 and sched.checks["probe"] >= 3 and sched.cycles >= 1
