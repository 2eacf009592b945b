"""SLO status for readers that ask often: computed once, served from memory, refreshed in the background.

Every dashboard page load wants the status of every SLO, and computing it reads 30 days
of every SLI (most of a second). Metrics arrive every few seconds, so an answer up to
`ttl_s` old is served as it is. An older one (up to `max_stale_s`) is still served at once
while one background thread computes the next, so no reader waits; the answer's `at`
says when it was computed. Only with no answer, or a very old one, does a reader wait,
and concurrent readers then share one computation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Answer = dict[str, Any]


class StatusCache:
    """One SLO status answer, stale-while-revalidate, with a single computation at a time."""

    def __init__(
        self, compute: Callable[[float], Answer], *, ttl_s: float = 10.0, max_stale_s: float = 300.0
    ) -> None:
        self.compute = compute
        self.ttl_s = ttl_s
        self.max_stale_s = max_stale_s
        self._answer: tuple[float, Answer] | None = None
        self._lock = threading.Lock()  # guards _answer and _refreshing
        self._computing = threading.Lock()  # one computation at a time
        self._refreshing = False

    def get(self, now: float, clock: Callable[[], float] | None = None) -> Answer:
        """The status as of at most ttl_s ago, else a recent one while a refresh runs, else computed now."""
        with self._lock:
            hit = self._answer
            age = None if hit is None else now - hit[0]
            if hit is not None and age is not None and 0 <= age < self.ttl_s:
                return hit[1]
            if hit is not None and age is not None and 0 <= age < self.max_stale_s:
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(
                        target=self._refresh, args=(clock or (lambda: now),), name="slo-status", daemon=True
                    ).start()
                return hit[1]
        with self._computing:
            with self._lock:  # another reader may have computed it while this one waited
                hit = self._answer
                if hit is not None and 0 <= now - hit[0] < self.ttl_s:
                    return hit[1]
            answer = self.compute(now)
            self._store(now, answer)
            return answer

    def _refresh(self, clock: Callable[[], float]) -> None:
        try:
            with self._computing:
                at = clock()
                self._store(at, self.compute(at))
        except Exception:  # noqa: BLE001 - the previous answer stays; the next reader retries
            log.exception("background SLO status refresh failed")
        finally:
            with self._lock:
                self._refreshing = False

    def _store(self, at: float, answer: Answer) -> None:
        with self._lock:
            if self._answer is None or at >= self._answer[0]:
                self._answer = (at, answer)
