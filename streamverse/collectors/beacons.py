"""Players' QoE beacons shipped to the control API in batches, as a RUM SDK would send them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import httpx

log = logging.getLogger(__name__)

BEACON_BATCH = 500


class BeaconShipper:
    """Collects live players' beacons and POSTs them in batches to the control API, with retries."""

    def __init__(
        self, *, api_url: str, ingest_key: str, flush_s: float = 2.0, max_queue: int = 100_000
    ) -> None:
        self.url = f"{api_url}/api/v1/rum/beacons"
        self.key = ingest_key
        self.flush_s = flush_s
        self.max_queue = max_queue
        self.queue: list[dict[str, Any]] = []
        self.sent = self.rejected = self.dropped = 0

    def offer(self, beacon: Any) -> None:
        """The player's beacon sink: keep it for the next batch (oldest dropped when full)."""
        body = beacon.to_dict() if hasattr(beacon, "to_dict") else dict(beacon)
        extra = body.get("extra") or {}
        body["ts"] = extra.get("ts", body.get("ts"))
        if "played_s" in extra:
            body["played_s"] = extra["played_s"]
        body.pop("extra", None)
        if len(self.queue) >= self.max_queue:
            self.queue.pop(0)
            self.dropped += 1
        self.queue.append(body)

    async def flush(self, http: httpx.AsyncClient) -> int:
        """Send what is queued; a batch keeps its id across retries so it counts once."""
        sent = 0
        while self.queue:
            batch, self.queue = self.queue[:BEACON_BATCH], self.queue[BEACON_BATCH:]
            payload = {"batch_id": uuid.uuid4().hex, "beacons": batch}
            for attempt in range(3):
                try:
                    r = await http.post(self.url, json=payload, headers={"X-RUM-Key": self.key})
                except httpx.HTTPError:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if r.status_code in (200, 202, 422):
                    body = r.json()
                    self.sent += int(body.get("accepted", 0))
                    self.rejected += int(body.get("rejected", 0))
                    sent += len(batch)
                    break
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                self.queue[:0] = batch  # keep for the next round
                break
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every `flush_s` until stopped, then once more."""
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.flush_s)
                try:
                    await self.flush(http)
                except Exception:
                    log.exception("beacon shipping failed")
