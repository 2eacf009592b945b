"""The platform's control API schema: the request bodies `/control/*` accepts.

Published apart from the app so the control center can validate a request exactly as the
platform will, without importing the platform's running parts (faults, caches, DNS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamverse.durations import parse_duration
from streamverse.errors import UsageError

CONTROL_KEY_HEADER = "X-Control-Key"
# A video's objects for prewarming: (key, size) of its playlists and segments.
VideoObjects = Callable[[int], list[tuple[str, int]]]
SizeOf = Callable[[str], int]
# A whole title is gigabytes; the first minute of every rung is what startup needs.
DEFAULT_PREWARM_SEGMENTS = 10


def _seconds(text: str) -> float:
    """A duration inside a validator: a bad one must be a 422 naming the field, not a 400."""
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightBody(_Body):
    """A GeoDNS weight: 0 drains, 1 is normal, more attracts extra traffic."""

    weight: float = Field(ge=0, le=100)


class PrewarmBody(_Body):
    """What to copy into PoP caches ahead of demand: one video's objects or explicit keys."""

    video_id: int | None = Field(None, ge=1)
    keys: list[str] | None = Field(None, min_length=1, max_length=100_000)
    pops: list[str] | None = Field(None, min_length=1)
    max_segments: int = Field(DEFAULT_PREWARM_SEGMENTS, ge=1, le=100_000,
                              description="by video: the first N segments of each rendition")

    @model_validator(mode="after")
    def _one_source(self) -> PrewarmBody:
        if (self.video_id is None) == (self.keys is None):
            raise ValueError("give exactly one of video_id or keys")
        return self


class TtlBody(_Body):
    """How long cached objects under a key prefix stay fresh."""

    prefix: str = Field(min_length=1, max_length=500)
    ttl_s: float | None = Field(None, ge=0)
    ttl: str | None = Field(None, description='a duration such as "30s" or "1h"')
    pops: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _ttl(self) -> TtlBody:
        if self.ttl_s is None and self.ttl is None:
            raise ValueError("give ttl_s (seconds) or ttl (e.g. \"1h\")")
        if self.ttl_s is None:
            self.ttl_s = _seconds(str(self.ttl))
        return self


class PurgeBody(_Body):
    """Drop cached objects under a key prefix."""

    prefix: str = Field(min_length=1, max_length=500)
    pops: list[str] | None = Field(None, min_length=1)


class ScaleBody(_Body):
    """Multiply origin capacity (1 is the configured capacity)."""

    factor: float = Field(gt=0, le=100)


class SwitchBody(_Body):
    """Which origin serves cache misses."""

    origin: str = Field(min_length=1, max_length=100)


class RateLimitBody(_Body):
    """A gateway limit: a scope default ("user", "ip") or one key ("ip:10.0.0.1")."""

    key: str = Field(min_length=1, max_length=200)
    rate_per_s: float = Field(gt=0)
    burst: int = Field(ge=1)


class FaultBody(_Body):
    """A fault to inject: scenario, target, how long (`duration_s` or `duration`) and parameters."""

    scenario: str = Field(min_length=1, max_length=60)
    target: str | None = Field(None, max_length=200)
    duration_s: float | None = Field(None, gt=0, le=30 * 86400)
    duration: str | None = Field(None, description='e.g. "5m"')
    params: dict[str, Any] = Field(default_factory=dict)
    start: float | None = Field(None, description="UTC epoch seconds; now when omitted")

    @model_validator(mode="after")
    def _duration(self) -> FaultBody:
        if self.duration_s is None:
            self.duration_s = _seconds(self.duration) if self.duration else 300.0
        if self.duration_s <= 0:
            raise ValueError("duration must be positive")
        return self


