"""A live ddos: bot clients hammering the gateway, each bound to its own loopback address.

On Linux every address in 127.0.0.0/8 is a distinct host on the loopback interface, so a bot
bound to 127.20.0.7 is, to the gateway, a client of its own: per-IP limits, the flood alert
and the rate-limit runbook see a botnet, not one noisy neighbour. Live viewers get addresses
of their own the same way (`viewer_address`), so tightening every IP's limit throttles the
bots and leaves people watching alone. The bots start when the fault book has a ddos fault
and stop when it ends; the control center only sees the traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import httpx

from streamverse.platform.faults import FaultBook

log = logging.getLogger("streamverse.platform.botnet")
LIVE_MAX_BOTS = 40  # a 2-core machine: 40 bots x 10 req/s is already 20x the live viewers' load
BOT_RATE_PER_S = 10.0  # twice the default per-IP allowance (5/s), so a bot is over its limit
CHECK_S = 0.5


def bot_address(region_index: int, i: int) -> str:
    """A stable loopback address for bot `i` of a region's botnet (127.20+region.x.y)."""
    return f"127.{20 + region_index}.{i // 250}.{i % 250 + 1}"


def viewer_address(i: int) -> str:
    """A loopback address of its own for live viewer `i` (127.1.x.y)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


class Botnet:
    """Runs while a ddos fault is active: `bot_ips` bots (at most LIVE_MAX_BOTS) per flooded region."""

    def __init__(self, *, gateway_url: str, faults: FaultBook, regions: list[str],
                 max_bots: int = LIVE_MAX_BOTS, rate_per_s: float = BOT_RATE_PER_S, seed: int = 0) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.faults = faults
        self.regions = regions
        self.max_bots = max_bots
        self.rate_per_s = rate_per_s
        self.rng = random.Random(seed)
        self.bots: dict[str, list[asyncio.Task[None]]] = {}
        self.sent = 0
        self.limited = 0

    async def _bot(self, address: str, region: str) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=address, retries=0)
        headers = {"x-client-region": region, "user-agent": "streamverse-bot/1"}
        gap = 1.0 / self.rate_per_s
        async with httpx.AsyncClient(base_url=self.gateway_url, transport=transport, timeout=5.0,
                                     headers=headers) as http:
            await asyncio.sleep(self.rng.random() * gap)  # not all in lockstep
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    reply = await http.get("/v1/catalog", params={"q": f"bot{self.rng.randrange(1000)}"})
                    self.sent += 1
                    self.limited += reply.status_code == 429
                await asyncio.sleep(gap)

    async def apply(self) -> dict[str, int]:
        """Start or stop bots to match the active ddos faults; bots per region now."""
        eff = self.faults.effects()
        want = {r: min(self.max_bots, int(eff.ddos_bot_ips.get(r, self.max_bots)))
                for r in eff.ddos_multiplier if r in self.regions}
        for region in [r for r in self.bots if r not in want]:
            for task in self.bots.pop(region):
                task.cancel()
            log.warning("botnet stopped", extra={"region": region})
        for region, n in want.items():
            if region not in self.bots:
                idx = self.regions.index(region)
                self.bots[region] = [asyncio.create_task(self._bot(bot_address(idx, i), region),
                                                         name=f"bot-{region}-{i}") for i in range(n)]
                log.warning("botnet flooding the gateway", extra={"region": region, "bots": n})
        return {r: len(t) for r, t in self.bots.items()}

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the fault book until stopped, then call the bots off."""
        try:
            while not stop.is_set():
                try:
                    await self.apply()
                except Exception:
                    log.exception("botnet control failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=CHECK_S)
        finally:
            tasks = [t for ts in self.bots.values() for t in ts]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.bots.clear()
