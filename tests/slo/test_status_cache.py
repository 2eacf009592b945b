"""The SLO status cache: fresh answers from memory, older ones served while one refresh runs."""

from __future__ import annotations

import threading
import time

from streamverse.slo.status_cache import StatusCache


def counting(delay: float = 0.0):
    calls: list[float] = []

    def compute(now: float) -> dict:
        time.sleep(delay)
        calls.append(now)
        return {"at": now}

    return compute, calls


def test_fresh_answers_come_from_memory():
    compute, calls = counting()
    cache = StatusCache(compute, ttl_s=10, max_stale_s=300)
    assert cache.get(100.0) == {"at": 100.0}
    assert cache.get(105.0) == {"at": 100.0}
    assert calls == [100.0]


def test_an_older_answer_is_served_at_once_while_one_refresh_runs():
    compute, calls = counting(delay=0.2)
    cache = StatusCache(compute, ttl_s=10, max_stale_s=300)
    cache.get(100.0)
    t = time.perf_counter()
    assert cache.get(150.0, lambda: 150.0) == {"at": 100.0}  # stale, not waited for
    assert cache.get(151.0, lambda: 151.0) == {"at": 100.0}  # the refresh already running is not doubled
    assert time.perf_counter() - t < 0.1
    deadline = time.monotonic() + 5
    while cache.get(152.0) != {"at": 150.0} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert calls == [100.0, 150.0]


def test_a_very_old_answer_is_recomputed_before_answering():
    compute, calls = counting()
    cache = StatusCache(compute, ttl_s=10, max_stale_s=300)
    cache.get(100.0)
    assert cache.get(1000.0) == {"at": 1000.0}  # e.g. a virtual clock jumped ahead


def test_concurrent_first_readers_share_one_computation():
    compute, calls = counting(delay=0.2)
    cache = StatusCache(compute, ttl_s=10, max_stale_s=300)
    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get(100.0))) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert out == [{"at": 100.0}] * 4 and calls == [100.0]


def test_a_failed_refresh_keeps_the_previous_answer():
    state = {"fail": False}

    def compute(now: float) -> dict:
        if state["fail"]:
            raise RuntimeError("store down")
        return {"at": now}

    cache = StatusCache(compute, ttl_s=10, max_stale_s=300)
    cache.get(100.0)
    state["fail"] = True
    assert cache.get(120.0, lambda: 120.0) == {"at": 100.0}
    time.sleep(0.1)
    assert cache.get(121.0, lambda: 121.0) == {"at": 100.0}
