"""AlertScheduler: cycles on its interval; with Redis, one of two replicas leads and hands over on stop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from streamverse.alerts.config import load_config
from streamverse.alerts.loop import AlertService
from streamverse.alerts.rules import parse_rules
from streamverse.alerts.scheduler import AlertScheduler
from streamverse.clock import RealClock
from streamverse.collectors.embedded import EmbeddedStore
from streamverse.db import get_engine, init_db
from streamverse.metricstore import Sample

RULES = """
version: streamverse/v1
rules:
  - name: QueueDeep
    expr: streamverse_transcode_queue_depth
    op: ">"
    threshold: 500
    for: 0s
    severity: ticket
"""


def _service(tmp_path: Path, rules: Any = (), on_alert: Any = None) -> AlertService:
    engine = get_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    init_db(engine)
    store = EmbeddedStore.at_path(tmp_path / "metrics.db")
    return AlertService(engine=engine, store=store, clock=RealClock(),
                        rules=list(rules), config=load_config(evaluation_interval=0.2), on_alert=on_alert)


def _wait(cond: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_cycles_run_on_the_interval(tmp_path: Path) -> None:
    sched = AlertScheduler(_service(tmp_path), interval_s=0.2)
    started = time.monotonic()
    sched.start()
    try:
        assert _wait(lambda: sched.cycles >= 3, 10.0)  # it keeps ticking (a loaded machine ticks late)
        elapsed = time.monotonic() - started
        assert sched.cycles <= elapsed / 0.2 + 2  # on the interval, not a busy loop
    finally:
        sched.stop()
    done = sched.cycles
    time.sleep(0.5)
    assert sched.cycles == done  # stopped means stopped


def test_a_rule_fires_through_the_scheduler(tmp_path: Path) -> None:
    seen: list[Any] = []
    svc = _service(tmp_path, parse_rules(RULES, "<test>"), on_alert=seen.append)
    sched = AlertScheduler(svc, interval_s=0.1)
    sched.start()
    try:
        time.sleep(0.3)
        assert seen == []  # no data yet: nothing fires
        svc.evaluator.store.write([Sample("streamverse_transcode_queue_depth", {}, time.time(), 900.0)])
        assert _wait(lambda: any(ev.status == "firing" and ev.name == "QueueDeep" for ev in seen), 5.0)
    finally:
        sched.stop()


def test_only_one_replica_leads_with_redis(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = AlertScheduler(_service(tmp_path / "a"), interval_s=0.1, redis_url=redis_url)
    b = AlertScheduler(_service(tmp_path / "b"), interval_s=0.1, redis_url=redis_url)
    a.start()
    b.start()
    try:
        assert _wait(lambda: a.cycles + b.cycles >= 10)
        assert (a.cycles == 0) != (b.cycles == 0), (a.cycles, b.cycles)  # exactly one leads
        leader, follower = (a, b) if a.cycles else (b, a)
        before = follower.cycles
        leader.stop()  # resigns: the other replica takes over at its next tick, not after the TTL
        assert _wait(lambda: follower.cycles >= before + 3, 2.0)
    finally:
        for s in (a, b):
            if s.scheduler.running:
                s.stop()
