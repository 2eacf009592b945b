import pytest

from streamverse.clock import VirtualClock
from streamverse.errors import UsageError
from streamverse.platform.faults import fault_book_for
from streamverse.platform.topology import load_topology


@pytest.fixture
def book():
    clock = VirtualClock(1_000_000)
    return clock, fault_book_for(load_topology(), clock)


def test_gray_region_outage_fails_requests_but_keeps_health(book):
    clock, faults = book
    faults.inject("region-outage", start=clock.now() + 60, duration_s=120)
    assert faults.effects().quiet
    clock.advance(61)
    eff = faults.effects()
    assert eff.pop_error_rate["ashburn-1"] == 1.0 and not eff.pops_down
    clock.advance(120)
    assert faults.effects().quiet


def test_hard_outage_and_city_targets(book):
    clock, faults = book
    faults.inject("region-outage", target="eu-west", duration_s=60, params={"mode": "hard"})
    faults.inject("pop-outage", target="Tokyo", duration_s=60)
    eff = faults.effects()
    assert "london-1" in eff.pops_down
    assert {"tokyo-1", "tokyo-3", "tokyo-7"} <= eff.pops_down and "osaka-1" not in eff.pops_down


def test_clear_ends_fault_now(book):
    clock, faults = book
    f = faults.inject("latency-spike", duration_s=600)
    assert faults.effects().pop_extra_ms["tokyo-1"] == 400.0
    clock.advance(10)
    faults.clear(f.id)
    assert faults.effects().quiet and faults.active() == []


@pytest.mark.parametrize(("scenario", "target", "params", "match"), [
    ("nope", None, None, "unknown scenario"),
    ("region-outage", "mars", None, "unknown region"),
    ("pop-outage", "atlantis-1", None, "neither a PoP"),
    ("viral-video", "abc", None, "video id"),
    ("ddos", None, {"bogus": 1}, "unknown parameters"),
])
def test_bad_faults_are_refused_with_choices(book, scenario, target, params, match):
    _, faults = book
    with pytest.raises(UsageError, match=match):
        faults.inject(scenario, target=target, duration_s=60, params=params)
