"""Live system with telemetry: every target up=1, edge series stored, a stopped target shows up=0."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamverse.clock import RealClock
from streamverse.collectors.service import make_store
from tests.collectors.live_helpers import Live

pytestmark = pytest.mark.slow


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    running = Live(
        tmp_path,
        viewers=4,
        telemetry_options={
            "scrape_interval_s": 1.0,
            "probe_interval_s": 2.0,
            "log_interval_s": 1.0,
            "beacon_flush_s": 0.5,
        },
    )
    try:
        yield running
    finally:
        running.stop()


def test_targets_up_edges_scraped_and_a_stopped_target_goes_down(live: Live) -> None:
    system = live.system
    store = make_store(live.settings)
    tel = system.telemetry
    assert tel is not None and tel.scraper is not None
    n_targets = len(tel.scraper.targets)

    def ups() -> dict[str, float]:
        store.flush()
        df = store.query("up", RealClock().now())
        return {} if df.empty else {r["instance"] + r["job"]: r["value"] for r in df.to_dict("records")}

    wait_for(
        lambda: len(ups()) == n_targets and all(v == 1.0 for v in ups().values()), what="every target up"
    )

    def edge_requests() -> float:
        store.flush()
        df = store.query("sum(streamverse_edge_requests_total)", RealClock().now())
        return 0.0 if df.empty else float(df["value"].iloc[0])

    wait_for(lambda: edge_requests() > 0, what="edge request series in the store")
    # Probes ran from every region, viewers' beacons reached the RUM aggregate, logs were shipped.
    wait_for(lambda: len(tel.prober.last) == len(system.platform.topology.regions), what="probes per region")
    wait_for(lambda: tel.beacons.sent > 0, what="beacons accepted by the control API")

    # Stop one target (the gateway server): its `up` drops to 0, the others stay up.
    gateway = next(s for s in system.served if s.name == "gateway")
    live.call(gateway.stop())
    instance = gateway.url.split("://", 1)[1]
    wait_for(lambda: ups().get(instance + "gateway") == 0.0, what="gateway up == 0")
    others = {k: v for k, v in ups().items() if k != instance + "gateway"}
    assert others and all(v == 1.0 for v in others.values())
