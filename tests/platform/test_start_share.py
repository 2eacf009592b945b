"""The viral-title signal: share of play starts, and its surge over the title's 10-minute share."""

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
    assert list(top) == ["42", "0"] and top["42"][0] == round(11 / 20, 4)


def test_a_steady_hit_does_not_surge_a_new_viral_title_does() -> None:
    share = StartShare(window_s=30.0, baseline_s=600.0, top_k=3, min_starts=10)
    t = 0.0
    for i in range(300):  # ten minutes: title 1 takes half the starts, steadily
        share.add("1" if i % 2 else str(100 + i), now=t)
        t += 2.0
    share_1, surge_1 = share.top(t)["1"]
    assert share_1 > 0.4 and abs(surge_1) < 0.1
    for _ in range(15):  # then 7 goes viral: every other start for 30 s
        share.add("7", now=t)
        share.add("1", now=t + 1.0)
        t += 2.0
    top = share.top(t)
    assert top["7"][1] > 0.4 and top["1"][1] < 0.1
