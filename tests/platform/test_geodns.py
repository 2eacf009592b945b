"""GeoDNS routing and shallow health checks on a virtual clock."""

from __future__ import annotations

import pytest

from streamverse.clock import VirtualClock
from streamverse.errors import UsageError
from streamverse.platform.geodns import GeoDNS, HealthChecker
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology, rtt_between

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def platform(clock: VirtualClock) -> Platform:
    return Platform(topology=load_topology(), clock=clock, health_interval_s=10.0, seed=11)


def nearest_region(platform: Platform, region: str, exclude: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    r = platform.topology.region_by_name[region]
    others = [o for o in platform.topology.regions if o.name != region and o.name not in exclude]
    return min(others, key=lambda o: rtt_between(r.lat, r.lon, o.lat, o.lon)).name


def region_share(platform: Platform, dist: dict[str, float], region: str) -> float:
    return sum(s for p, s in dist.items() if platform.topology.pops[p].region == region)


def test_nearest_pop_gets_the_largest_share_and_answers_are_seeded(platform: Platform) -> None:
    for region in platform.topology.regions:
        dist = platform.dns.distribution(region.name)
        assert sum(dist.values()) == pytest.approx(1.0)
        assert all(platform.topology.pops[p].region == region.name for p in dist)
        nearest = min(dist, key=lambda p: platform.topology.rtt_ms(region.name, p))
        assert max(dist, key=dist.get) == nearest  # type: ignore[arg-type]
    answers = [platform.dns.resolve("us-east") for _ in range(2000)]
    top = max(set(answers), key=answers.count)
    assert top == "ashburn-1"
    again = Platform(topology=platform.topology, clock=platform.clock, seed=11)
    assert [again.dns.resolve("us-east") for _ in range(2000)] == answers


def test_distribution_is_cached_until_something_changes(platform: Platform) -> None:
    first = platform.dns.distribution("eu-west")
    assert platform.dns.distribution("eu-west") is first
    platform.set_pop_weight("london-1", 0.5)
    assert platform.dns.distribution("eu-west") is not first


def test_hard_down_pop_is_removed_after_the_health_interval(platform: Platform, clock: VirtualClock) -> None:
    platform.health.tick()
    platform.inject_fault("pop-outage", target="ashburn-1", duration_s=3600)
    clock.advance(10)
    platform.health.tick()  # first failed probe: fall=2, still in
    assert "ashburn-1" in platform.dns.distribution("us-east")
    clock.advance(5)
    platform.health.tick()  # not due yet
    assert platform.health.healthy("ashburn-1")
    clock.advance(5)
    platform.health.tick()
    assert not platform.health.healthy("ashburn-1")
    dist = platform.dns.distribution("us-east")
    assert "ashburn-1" not in dist and dist and sum(dist.values()) == pytest.approx(1.0)
    platform.clear_fault()
    for _ in range(2):  # rise=2
        clock.advance(10)
        platform.health.tick()
    assert "ashburn-1" in platform.dns.distribution("us-east")


def test_gray_failure_does_not_move_routing_but_hard_outage_does(platform: Platform,
                                                                 clock: VirtualClock) -> None:
    before = platform.dns.distribution("us-east")
    platform.inject_fault("region-outage", target="us-east", duration_s=3600)
    for _ in range(5):
        clock.advance(10)
        platform.health.tick()
    assert platform.dns.distribution("us-east") == before  # routing alone does not escape a gray failure
    platform.clear_fault()
    platform.inject_fault("region-outage", target="us-east", duration_s=3600, params={"mode": "hard"})
    for _ in range(2):
        clock.advance(10)
        platform.health.tick()
    dist = platform.dns.distribution("us-east")
    assert region_share(platform, dist, "us-east") == 0
    assert region_share(platform, dist, nearest_region(platform, "us-east")) == pytest.approx(1.0)
    assert not platform.dns.region_healthy("us-east")


def test_draining_a_region_sends_viewers_to_the_nearest_healthy_region(platform: Platform) -> None:
    platform.drain_region("eu-west")
    dist = platform.dns.distribution("eu-west")
    target = nearest_region(platform, "eu-west")
    assert region_share(platform, dist, target) == pytest.approx(1.0)
    # The spill region's own viewers are unaffected.
    assert region_share(platform, platform.dns.distribution(target), target) == pytest.approx(1.0)
    # Drain that one too: eu-west viewers move on to the next nearest.
    platform.drain_region(target)
    nxt = nearest_region(platform, "eu-west", exclude={target})
    assert region_share(platform, platform.dns.distribution("eu-west"), nxt) == pytest.approx(1.0)


def test_fractional_weights_split_the_distribution(platform: Platform) -> None:
    platform.set_region_weight("us-east", 0.25)
    dist = platform.dns.distribution("us-east")
    assert region_share(platform, dist, "us-east") == pytest.approx(0.25)
    assert region_share(platform, dist, nearest_region(platform, "us-east")) == pytest.approx(0.75)
    answers = [platform.dns.resolve("us-east") for _ in range(4000)]
    home = sum(platform.topology.pops[a].region == "us-east" for a in answers) / len(answers)  # type: ignore[index]
    assert 0.22 < home < 0.28
    before = platform.dns.distribution("eu-west")
    platform.set_pop_weight("london-1", 2.0)
    after = platform.dns.distribution("eu-west")
    assert after["london-1"] > before["london-1"]
    platform.drain_pop("london-1")
    assert "london-1" not in platform.dns.distribution("eu-west")


def test_cannot_drain_the_last_region(platform: Platform) -> None:
    regions = [r.name for r in platform.topology.regions]
    for name in regions[:-1]:
        platform.drain_region(name)
    with pytest.raises(UsageError, match="last healthy region"):
        platform.drain_region(regions[-1])
    assert platform.dns.region_weight[regions[-1]] == 1.0
    assert set(platform.dns.distribution(regions[0])) <= {
        p.name for p in platform.topology.region_by_name[regions[-1]].pops}


def test_no_usable_pop_anywhere_resolves_to_none(clock: VirtualClock) -> None:
    topo = load_topology()
    health = HealthChecker(lambda _t: False, list(topo.pops), clock=clock, interval_s=1, fall=1)
    health.tick()
    dns = GeoDNS(topo, clock=clock, health=health)
    assert dns.distribution("us-east") == {} and dns.resolve("us-east") is None
    with pytest.raises(UsageError, match="us-east"):
        dns.resolve("mars-1")


def test_health_checker_counts_rise_and_fall(clock: VirtualClock) -> None:
    state = {"a": True}
    hc = HealthChecker(lambda t: state[t], ["a"], clock=clock, interval_s=5, rise=3, fall=2)
    hc.tick()
    state["a"] = False
    clock.advance(5)
    assert hc.tick() == [] and hc.healthy("a")
    clock.advance(5)
    assert hc.tick() == ["a"] and not hc.healthy("a")
    state["a"] = True
    for _ in range(2):
        clock.advance(5)
        hc.tick()
    assert not hc.healthy("a")
    clock.advance(5)
    hc.tick()
    assert hc.healthy("a") and hc.status()["a"]["changed_at"] == clock.now()
