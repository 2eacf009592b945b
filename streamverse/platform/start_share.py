"""Which titles take the play starts: the viral-title signal, with bounded cardinality.

A title going viral shows first as its share of new play requests, long before it dominates
the sessions already running. Both the live gateway (per request) and fast-forward (per
step) report the top few titles' share over a short sliding window; alert rules compare it
with a threshold (`ViralVideoSurge`). Only the top `top_k` titles get a series, and only once
`min_starts` starts were seen, so a quiet minute cannot turn one start into "100 %".
"""

from __future__ import annotations

from collections import Counter, deque

WINDOW_S = 30.0
TOP_K = 5


class StartShare:
    """Sliding-window share of play starts per title (exact counts inside the window)."""

    def __init__(self, *, window_s: float = WINDOW_S, top_k: int = TOP_K, min_starts: int = 10) -> None:
        self.window_s, self.top_k, self.min_starts = float(window_s), int(top_k), int(min_starts)
        self._events: deque[tuple[float, str]] = deque()
        self._counts: Counter[str] = Counter()

    def add(self, video_id: str, now: float) -> None:
        """One play start."""
        self._events.append((now, str(video_id)))
        self._counts[str(video_id)] += 1
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0][0] > self.window_s:
            _, vid = self._events.popleft()
            self._counts[vid] -= 1
            if self._counts[vid] <= 0:
                del self._counts[vid]

    def top(self, now: float) -> dict[str, float]:
        """video_id -> share of the window's starts, for the top titles; {} while too few starts."""
        self._expire(now)
        total = len(self._events)
        if total < self.min_starts:
            return {}
        return {vid: round(n / total, 4) for vid, n in self._counts.most_common(self.top_k)}
