"""Injected faults made real on the live platform: a hard-down PoP stops listening.

The fault book says what is broken; this is the platform breaking it, as a failed host
or a closed listener would. Nothing in the control center reads the fault book: health
checks and viewers find out by trying, exactly as when someone kills a PoP by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from streamverse.platform.faults import FaultBook
from streamverse.platform.live.edge_server import EdgeServers

log = logging.getLogger("streamverse.platform.faults")
APPLY_INTERVAL_S = 0.25


class FaultActuator:
    """Keeps the edges' listeners in line with the fault book's hard-down PoPs."""

    def __init__(self, faults: FaultBook, edges: EdgeServers) -> None:
        self.faults = faults
        self.edges = edges

    async def apply(self) -> tuple[list[str], list[str]]:
        """Close listeners of PoPs that should be down, reopen those whose fault ended; (closed, opened)."""
        want_down = self.faults.effects().pops_down & set(self.edges.addresses)
        is_down = self.edges.down()
        closed = [p for p in sorted(want_down - is_down) if await self.edges.take_down(p)]
        opened = [p for p in sorted(is_down - want_down) if await self.edges.bring_up(p)]
        return closed, opened

    async def run(self, stop: asyncio.Event, interval_s: float = APPLY_INTERVAL_S) -> None:
        """Apply every `interval_s` until stopped (faults also end by themselves when their time is up)."""
        while not stop.is_set():
            try:
                await self.apply()
            except OSError:
                log.exception("could not apply the edge faults (a port may be taken)")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
