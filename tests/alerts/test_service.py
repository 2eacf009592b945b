"""Grouping timings, silences that expire and are announced, inhibition, acks, notifier retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from streamverse.alerts import service
from streamverse.alerts.config import AlertingConfig, Retry, Route, Target, load_config
from streamverse.alerts.loop import AlertService
from streamverse.alerts.models import AlertHistory, Notification, SilenceCreate
from streamverse.alerts.rules import Rule
from streamverse.clock import VirtualClock
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.db import get_engine, init_db
from streamverse.metricstore import Sample
from tests.conftest import free_port

T0 = 1_700_000_000.0


class Receiver:
    """A real HTTP receiver that fails the first `fail` requests (or all when fail < 0)."""

    def __init__(self, fail: int = 0) -> None:
        self.fail, self.bodies, self.attempts = fail, [], 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.attempts += 1
                if outer.fail < 0 or outer.attempts <= outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _setup(
    tmp_path: Path, cfg: AlertingConfig, rules: list[Rule] | None = None, sleeps: list[float] | None = None
) -> tuple[AlertService, EmbeddedStore, VirtualClock]:
    store = EmbeddedStore.at_path(tmp_path / "m.db")
    engine = get_engine(f"sqlite:///{tmp_path / 'a.db'}")
    init_db(engine)
    clock = VirtualClock(T0)
    svc = AlertService(
        engine=engine,
        store=store,
        clock=clock,
        config=cfg,
        rules=rules or [Rule(name="Deep", expr="depth", threshold=10, severity="ticket")],
    )
    svc.notifier.sleep = sleeps.append if sleeps is not None else (lambda s: None)
    return svc, store, clock


def _val(store: EmbeddedStore, at: float, value: float, **labels: str) -> None:
    store.write([Sample("depth", labels or {"pop": "p1"}, at, value)])
    store.flush()


def _cfg(url: str, **route: Any) -> AlertingConfig:
    return AlertingConfig(
        targets=[Target(name="hook", kind="webhook", url=url)],
        routes=[Route(targets=["hook"], **route)],
        retry=Retry(attempts=3, backoff=0.5),
    )


def test_group_wait_interval_and_repeat(tmp_path: Path, receiver: Receiver) -> None:
    svc, store, clock = _setup(
        tmp_path,
        _cfg(receiver.url, group_by=["alertname"], group_wait=30, group_interval=60, repeat_interval=300),
    )
    _val(store, T0, 50, pop="p1")
    svc.cycle()
    assert receiver.bodies == []  # group_wait
    clock.advance(10)
    _val(store, clock.now(), 50, pop="p2")
    _val(store, clock.now(), 50, pop="p1")
    svc.cycle()
    clock.advance(20)
    for p in ("p1", "p2"):
        _val(store, clock.now(), 50, pop=p)
    svc.cycle()
    assert len(receiver.bodies) == 1 and len(receiver.bodies[0]["alerts"]) == 2  # both together
    assert receiver.bodies[0]["version"] == "4"
    clock.advance(30)
    for p in ("p1", "p2"):
        _val(store, clock.now(), 50, pop=p)
    svc.cycle()
    assert len(receiver.bodies) == 1  # nothing changed, no repeat yet
    clock.advance(300)
    for p in ("p1", "p2"):
        _val(store, clock.now(), 50, pop=p)
    svc.cycle()
    assert len(receiver.bodies) == 2  # repeat_interval
    clock.advance(60)
    _val(store, clock.now(), 1, pop="p1")
    _val(store, clock.now(), 50, pop="p2")
    svc.cycle()
    assert [a["status"] for a in receiver.bodies[-1]["alerts"]] == ["firing", "resolved"] or sorted(
        a["status"] for a in receiver.bodies[-1]["alerts"]
    ) == ["firing", "resolved"]


def test_silence_mutes_then_expires_by_itself_and_is_announced(tmp_path: Path, receiver: Receiver) -> None:
    svc, store, clock = _setup(tmp_path, _cfg(receiver.url, group_wait=0, group_interval=10))
    with Session(svc.engine) as s:
        service.create_silence(
            session=s,
            silence_in=SilenceCreate(matchers=['alertname="Deep"'], duration="1m"),
            author="ana",
            clock=clock,
        )
        s.commit()
    _val(store, T0, 50)
    svc.cycle()
    assert [b.get("status") for b in receiver.bodies] == ["announcement"]  # creation announced, alert muted
    clock.advance(61)
    _val(store, clock.now(), 50)
    svc.cycle()
    kinds = [b.get("status") for b in receiver.bodies]
    assert kinds.count("announcement") == 2 and "firing" in kinds
    with Session(svc.engine) as s:
        assert {h.kind for h in service.history(session=s)} >= {
            "silence_created",
            "silence_expired",
            "firing",
        }


def test_page_inhibits_ticket_of_same_slo(tmp_path: Path, receiver: Receiver) -> None:
    cfg = _cfg(receiver.url, group_by=["alertname"], group_wait=0, group_interval=10)
    cfg.inhibit_rules = load_config().inhibit_rules
    rules = [
        Rule(name="SloPage", expr="depth", threshold=10, severity="page", labels={"sloth_slo": "x"}),
        Rule(name="SloTicket", expr="depth", threshold=5, severity="ticket", labels={"sloth_slo": "x"}),
        Rule(name="Other", expr="depth", threshold=5, severity="ticket", labels={"sloth_slo": "y"}),
    ]
    svc, store, _ = _setup(tmp_path, cfg, rules)
    _val(store, T0, 50)
    svc.cycle()
    names = sorted(a["labels"]["alertname"] for b in receiver.bodies for a in b["alerts"])
    assert names == ["Other", "SloPage"]


def test_ack_clears_when_alert_resolves(tmp_path: Path, receiver: Receiver) -> None:
    svc, store, clock = _setup(tmp_path, _cfg(receiver.url, group_wait=0))
    _val(store, T0, 50)
    svc.cycle()
    fp = next(iter(svc.evaluator.alerts))
    with Session(svc.engine) as s:
        assert service.ack(session=s, fingerprint=fp, author="ana", clock=clock).acked_by == "ana"
        s.commit()
    clock.advance(10)
    _val(store, clock.now(), 50)
    svc.cycle()
    assert svc.evaluator.alerts[fp].acked_by == "ana"
    clock.advance(10)
    _val(store, clock.now(), 1)
    svc.cycle()
    with Session(svc.engine) as s:
        row = service.list_alerts(session=s)[0]
        assert row.status == "resolved" and row.acked_by is None
        assert [h.kind for h in service.history(session=s, fingerprint=fp)][:2] == [
            "ack_cleared",
            "resolved",
        ] or "ack_cleared" in [h.kind for h in service.history(session=s, fingerprint=fp)]


def test_notifier_retries_with_backoff_then_succeeds(tmp_path: Path) -> None:
    flaky = Receiver(fail=2)
    sleeps: list[float] = []
    svc, store, _ = _setup(tmp_path, _cfg(flaky.url, group_wait=0), sleeps=sleeps)
    _val(store, T0, 50)
    res = svc.cycle()
    flaky.server.shutdown()
    assert flaky.attempts == 3 and len(flaky.bodies) == 1 and sleeps == [0.5, 1.0]
    with Session(svc.engine) as s:
        n = s.get(Notification, res.notifications[0])
        assert n.status == "sent" and n.attempts == 3


def test_target_down_failure_visible_and_never_sent_twice(tmp_path: Path) -> None:
    down = Receiver(fail=-1)
    svc, store, clock = _setup(tmp_path, _cfg(down.url, group_wait=0))
    _val(store, T0, 50)
    res = svc.cycle()
    down.server.shutdown()
    with Session(svc.engine) as s:
        n = s.get(Notification, res.notifications[0])
        assert n.status == "failed" and n.attempts == 3 and "503" in n.last_error
        fails = list(s.exec(select(AlertHistory).where(AlertHistory.kind == "notify_failed")))
        assert len(fails) == 1
    # a restart forms the same group again: the same notification is recognised, not re-sent
    again = AlertService(
        engine=svc.engine, store=store, clock=clock, config=svc.config, rules=svc.evaluator.rules
    )
    assert again.evaluator.firing()
    assert again.cycle().notifications == []


def test_origin_down_holds_the_region_failover_it_inhibits(tmp_path: Path, receiver: Receiver) -> None:
    """Both fire together; the incident hook hears RegionOutage as inhibited, so it only suggests."""
    cfg = _cfg(receiver.url, group_by=["alertname"], group_wait=0, group_interval=10)
    cfg.inhibit_rules = load_config().inhibit_rules
    rules = [
        Rule(name="OriginDown", expr="depth", threshold=10, severity="page", labels={"service": "sv"}),
        Rule(name="RegionOutage", expr="depth", threshold=5, severity="page", labels={"service": "sv"}),
    ]
    svc, store, _ = _setup(tmp_path, cfg, rules)
    heard: list[Any] = []
    svc.on_alert = heard.append
    _val(store, T0, 50)
    svc.cycle()
    by_name = {e.name: e for e in heard}
    assert by_name["RegionOutage"].inhibited_by == "OriginDown"
    assert by_name["OriginDown"].inhibited_by is None
    names = sorted(a["labels"]["alertname"] for b in receiver.bodies for a in b["alerts"])
    assert names == ["OriginDown"]  # nobody is paged for the symptom
