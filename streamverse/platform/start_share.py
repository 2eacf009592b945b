"""Which titles take the play starts, and which suddenly take more: the viral-title signal.

A title going viral shows first in the new play requests, long before it dominates the
sessions already running. A popular title has a large share too, so the signal is the
*surge*: a title's share of starts over a short window minus its share over the ten
minutes before that window. Steady titles sit near zero whatever their rank; a title that went viral jumps
to its new share. Both the live gateway (per request) and fast-forward (per step) export
it for the top few titles only (bounded cardinality), and only once `min_starts` starts
were seen, so a quiet minute cannot turn one start into "100 %".
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping

WINDOW_S = 30.0
BASELINE_S = 600.0
TOP_K = 5


def surges(short: Mapping[str, float], short_total: float, long: Mapping[str, float], long_total: float,
           *, top_k: int = TOP_K, min_before: float = 10.0) -> dict[str, tuple[float, float]]:
    """video_id -> (share over the short window, that share minus the share in the time before it).

    `long` covers the baseline including the short window; the window is taken out so a surge
    is measured against what came before it. With fewer than `min_before` earlier starts there
    is nothing to compare with, and the surge reads 0 (a fresh start is not a viral title).
    """
    top = sorted(short.items(), key=lambda kv: kv[1], reverse=True)[:top_k]
    before_total = long_total - short_total
    out = {}
    for vid, n in top:
        if n <= 0:
            continue
        share = n / short_total
        if before_total < min_before:
            surge = 0.0
        else:
            surge = share - max(long.get(vid, 0.0) - n, 0.0) / before_total
        out[vid] = (round(share, 4), round(surge, 4))
    return out


class StartShare:
    """Sliding-window counts of play starts per title (exact inside the windows)."""

    def __init__(self, *, window_s: float = WINDOW_S, baseline_s: float = BASELINE_S, top_k: int = TOP_K,
                 min_starts: int = 10) -> None:
        self.window_s, self.baseline_s = float(window_s), float(baseline_s)
        self.top_k, self.min_starts = int(top_k), int(min_starts)
        self._short: deque[tuple[float, str]] = deque()
        self._long: deque[tuple[float, str]] = deque()
        self._short_counts: Counter[str] = Counter()
        self._long_counts: Counter[str] = Counter()

    def add(self, video_id: str, now: float) -> None:
        """One play start."""
        vid = str(video_id)
        for q, c in ((self._short, self._short_counts), (self._long, self._long_counts)):
            q.append((now, vid))
            c[vid] += 1
        self._expire(now)

    def _expire(self, now: float) -> None:
        for q, c, span in ((self._short, self._short_counts, self.window_s),
                           (self._long, self._long_counts, self.baseline_s)):
            while q and now - q[0][0] > span:
                _, vid = q.popleft()
                c[vid] -= 1
                if c[vid] <= 0:
                    del c[vid]

    def top(self, now: float) -> dict[str, tuple[float, float]]:
        """video_id -> (share, surge) for the top titles; {} while too few starts."""
        self._expire(now)
        if len(self._short) < self.min_starts:
            return {}
        return surges(self._short_counts, len(self._short), self._long_counts, len(self._long),
                      top_k=self.top_k)
