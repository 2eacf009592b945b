"""Platform control operations: each says what changed (old -> new) and refuses bad input."""

from __future__ import annotations

import importlib.util

import pytest

from streamverse.clock import VirtualClock
from streamverse.errors import UsageError
from streamverse.platform.service import Platform
from streamverse.platform.topology import load_topology

T0 = 1_700_000_000.0


@pytest.fixture
def platform() -> Platform:
    return Platform(topology=load_topology(), clock=VirtualClock(T0), pop_cache_bytes=1_000_000,
                    shield_cache_bytes=4_000_000)


def test_weights_report_old_and_new(platform: Platform) -> None:
    out = platform.set_region_weight("us-east", 0.5)
    assert out["weight"] == {"old": 1.0, "new": 0.5}
    assert set(out["distribution"]["old"]) < set(out["distribution"]["new"])
    out = platform.drain_region("us-east")
    assert out["weight"] == {"old": 0.5, "new": 0.0}
    out = platform.set_pop_weight("london-1", 0.2)
    assert out["weight"] == {"old": 1.0, "new": 0.2} and out["region"] == "eu-west"
    assert platform.drain_pop("london-1")["weight"] == {"old": 0.2, "new": 0.0}


def test_bad_routing_arguments_are_refused_with_the_valid_choices(platform: Platform) -> None:
    with pytest.raises(UsageError, match="us-east"):
        platform.set_region_weight("us-eats", 1.0)
    with pytest.raises(UsageError, match="between 0 and 1"):
        platform.set_region_weight("us-east", 1.5)
    with pytest.raises(UsageError, match="between 0"):
        platform.set_region_weight("us-east", -0.1)
    with pytest.raises(UsageError, match="ashburn-1"):
        platform.drain_pop("ashburn-9")
    with pytest.raises(UsageError, match="number"):
        platform.set_pop_weight("ashburn-1", "lots")  # type: ignore[arg-type]


def test_cache_operations_report_what_they_changed(platform: Platform) -> None:
    items = [(f"/videos/5/360p/seg_{i:05d}.ts", 2000) for i in range(10)]
    out = platform.prewarm(items, pops=["ashburn-1"])
    assert out["stored"] == 10 and out["cache_bytes"] == {"old": 0, "new": 20_000}
    assert platform.cdn.pops["ashburn-1"].cache.contains("videos/5/360p/seg_00000.ts")  # leading / dropped
    out = platform.set_ttl("videos/5/", 30, pops=["ashburn-1"])
    assert out["ttl_s"] == {"old": 86400.0, "new": 30.0} and out["entries_redated"] == 10
    out = platform.purge("videos/5/", pops=["ashburn-1"])
    assert out["purged"] == 10 and out["cache_bytes"] == {"old": 20_000, "new": 0}
    with pytest.raises(UsageError, match="ashburn-1"):
        platform.purge("videos/", pops=["nope"])
    with pytest.raises(UsageError, match="TTL"):
        platform.set_ttl("videos/", -5)
    with pytest.raises(UsageError, match="pairs"):
        platform.prewarm([("videos/1/a", "big")])  # type: ignore[list-item]


def test_origin_operations(platform: Platform) -> None:
    out = platform.scale_origin(2)
    assert out["capacity_factor"] == {"old": 1.0, "new": 2.0}
    assert out["capacity_gbps"]["new"] == 2 * out["capacity_gbps"]["old"]
    assert platform.switch_origin("texas")["active_origin"] == {"old": "california-hq", "new": "texas"}
    with pytest.raises(UsageError, match="california-hq"):
        platform.switch_origin("atlantis")
    with pytest.raises(UsageError):
        platform.scale_origin(0)


@pytest.mark.skipif(importlib.util.find_spec("streamverse.platform.ratelimit") is None,
                    reason="the rate limiter module is not there yet")
def test_rate_limits(platform: Platform) -> None:
    out = platform.set_rate_limit("ip:10.0.0.1", 5, 10)
    assert out["limit"] == {"old": None, "new": {"rate_per_s": 5.0, "burst": 10}}
    out = platform.set_rate_limit("ip:10.0.0.1", 1, 2)
    assert out["limit"]["old"] == {"rate_per_s": 5.0, "burst": 10}
    assert platform.limits.get("ip", "10.0.0.1").rate_per_s == 1.0  # type: ignore[attr-defined]
    with pytest.raises(UsageError):
        platform.set_rate_limit("ip", 0, 1)


def test_faults_and_status(platform: Platform) -> None:
    fault = platform.inject_fault("region-outage", target="eu-west", duration_s=60, params={"mode": "hard"})
    assert fault.target == "eu-west"
    st = platform.status()
    assert st["pops"]["london-1"]["hard_down"] is False  # nobody has probed it yet: status is observed
    platform.health.tick()  # one probe fails...
    st = platform.status()
    assert st["pops"]["london-1"]["hard_down"] is True
    assert st["pops"]["london-1"]["healthy"] is True  # ...but routing waits for `fall` failures
    assert st["faults"][0]["id"] == fault.id and st["faults"][0]["active"]
    assert st["origin"]["active"] == "california-hq" and st["origin"]["up"]
    assert set(st["regions"]) == {r.name for r in platform.topology.regions}
    with pytest.raises(UsageError):
        platform.inject_fault("meteor", duration_s=60)
    ended = platform.clear_fault(fault.id)
    assert [f.id for f in ended] == [fault.id]
    assert platform.status()["faults"] == []


def test_unknown_policy_refused() -> None:
    with pytest.raises(UsageError, match="s3fifo"):
        Platform(topology=load_topology(), clock=VirtualClock(T0), policy="arc")  # type: ignore[arg-type]
