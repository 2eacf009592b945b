"""The viral-title signal: top titles' share of play starts over a sliding window."""

from __future__ import annotations

from streamverse.platform.start_share import StartShare


def test_share_needs_enough_starts_then_ranks_the_top_titles() -> None:
    share = StartShare(window_s=30.0, top_k=2, min_starts=10)
    for i in range(9):
        share.add(str(i % 3), now=float(i))
    assert share.top(9.0) == {}  # nine starts: too few to call anything a share
    for i in range(11):
        share.add("42", now=10.0 + i)
    top = share.top(21.0)
    assert list(top) == ["42", "0"] and top["42"] == round(11 / 20, 4)


def test_old_starts_leave_the_window() -> None:
    share = StartShare(window_s=30.0, top_k=3, min_starts=5)
    for i in range(10):
        share.add("7", now=float(i))
    for i in range(10):
        share.add(str(100 + i), now=100.0 + i)
    top = share.top(110.0)
    assert "7" not in top and sum(top.values()) <= 1.0
