"""GeoDNS health checks over HTTP, as Route 53 or NS1 run them: a request with a timeout per PoP.

A PoP counts as failing a probe when it refuses the connection, answers anything but 200,
or does not answer within the timeout (a frozen process); `fall` failures in a row take it
out of DNS answers and `rise` successes put it back (the checker's thresholds). The probe
knows only the PoP's URL, so a PoP killed or frozen by hand is noticed like an injected fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import httpx

from streamverse.platform.geodns import HealthChecker

log = logging.getLogger("streamverse.platform.health")
PROBE_TIMEOUT_S = 1.0
POLL_S = 0.2  # how often due probes are looked for; each target is probed every interval_s


class HttpHealthProber:
    """Probes each target's `/health` when the checker says it is due and records the outcome."""

    def __init__(self, checker: HealthChecker, urls: Mapping[str, str], *,
                 timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.checker = checker
        self.urls = urls
        self.timeout_s = timeout_s

    async def _probe(self, http: httpx.AsyncClient, target: str) -> bool:
        url = self.urls.get(target)
        if url is None:
            return False
        try:
            reply = await http.get(f"{url}/health")
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    async def probe_due(self, http: httpx.AsyncClient) -> list[str]:
        """Probe every due target at once; returns the targets whose state flipped."""
        due = self.checker.due()
        if not due:
            return []
        results = await asyncio.gather(*(self._probe(http, t) for t in due))
        flipped = [t for t, ok in zip(due, results, strict=True) if self.checker.record(t, ok)]
        for t in flipped:
            log.warning("health check flipped", extra={"pop": t, "healthy": self.checker.healthy(t)})
        return flipped

    async def run(self, stop: asyncio.Event, poll_s: float = POLL_S) -> None:
        """Probe until stopped; one client, no connection reuse (a probe must see a closed listener)."""
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as http:
            while not stop.is_set():
                try:
                    await self.probe_due(http)
                except Exception:
                    log.exception("health probing failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll_s)
