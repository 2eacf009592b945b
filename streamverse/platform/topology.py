"""The platform's shape (regions, shields, PoPs, origins) loaded from YAML.

Errors name the file, line and field, and nothing starts half-configured: the whole
file is validated before any component is built from it.
"""

from __future__ import annotations

import math
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streamverse.errors import ConfigError
from streamverse.sizes import parse_size
from streamverse.yamlfile import compose, line_of

DEFAULT_TOPOLOGY = "topology.yaml"
FIBER_KM_PER_MS = 200.0  # light in fibre covers ~200 km per millisecond
ROUTE_STRETCH = 1.4  # real paths are longer than great circles


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Origin(_Strict):
    """Where every segment ultimately comes from."""

    name: str
    label: str
    city: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    role: Literal["primary", "backup"]
    capacity_gbps: float = Field(gt=0)


class Shield(_Strict):
    """The regional mid-tier cache between the PoPs and the origin."""

    city: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    cache_size: int

    _size = field_validator("cache_size", mode="before")(parse_size)


class PoP(_Strict):
    """An edge point of presence serving viewers from its cache."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    city: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    capacity_gbps: float = Field(gt=0)
    cache_size: int = Field(gt=0)
    region: str = ""

    _size = field_validator("cache_size", mode="before")(parse_size)


class Region(_Strict):
    """A geographic region: its audience, its shield and its PoPs."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    city: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    utc_offset_h: float = Field(ge=-12, le=14)
    users_share: float = Field(gt=0, le=1)
    shield: Shield
    pops: list[PoP] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _tag_pops(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("pops"), list):
            data = dict(data)
            data["pops"] = [
                {**p, "region": data.get("name", "")} if isinstance(p, dict) else p
                for p in data["pops"]
            ]
        return data


class Topology(_Strict):
    """The validated platform layout."""

    origins: list[Origin] = Field(min_length=1)
    regions: list[Region] = Field(min_length=1)
    source: str = "<memory>"

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique, got {names}")
        pops = [p.name for r in self.regions for p in r.pops]
        dup = {p for p in pops if pops.count(p) > 1}
        if dup:
            raise ValueError(f"PoP names must be unique, repeated: {sorted(dup)}")
        roles = [o.role for o in self.origins]
        if roles.count("primary") != 1:
            raise ValueError("exactly one origin must have role: primary")
        return self

    @cached_property
    def pops(self) -> dict[str, PoP]:
        """Every PoP by name."""
        return {p.name: p for r in self.regions for p in r.pops}

    @cached_property
    def region_by_name(self) -> dict[str, Region]:
        """Every region by name."""
        return {r.name: r for r in self.regions}

    @property
    def primary_origin(self) -> Origin:
        """The origin used unless remediation switches to the backup."""
        return next(o for o in self.origins if o.role == "primary")

    @property
    def backup_origin(self) -> Origin | None:
        """The standby origin, if one is configured."""
        return next((o for o in self.origins if o.role == "backup"), None)

    def rtt_ms(self, region: str, pop: str) -> float:
        """Round-trip time from a region's viewers to a PoP, from the distance between them."""
        r = self.region_by_name[region]
        p = self.pops[pop]
        return rtt_between(r.lat, r.lon, p.lat, p.lon)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a spherical Earth."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def rtt_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Round trip over fibre with route stretch, plus a few ms of last mile."""
    one_way = great_circle_km(lat1, lon1, lat2, lon2) * ROUTE_STRETCH / FIBER_KM_PER_MS
    return 2 * one_way + 8.0


def parse_topology(text: str, source: str = "<memory>") -> Topology:
    """Validate topology YAML text, raising ConfigError with file, line and field."""
    node, data = compose(text, source)
    if not isinstance(data, dict):
        raise ConfigError("the topology must be a mapping with origins and regions",
                          file=source, line=1)
    try:
        return Topology.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(x for x in err["loc"] if x not in ("function-after",))
        field = ".".join(str(x) for x in loc) or None
        raise ConfigError(err["msg"], file=source, line=line_of(node, loc), field=field) from None


def load_topology(path: Path | str | None = None) -> Topology:
    """The topology from a file, or the shipped default when no path is given."""
    if path is None:
        text = resources.files("streamverse.platform").joinpath("data", DEFAULT_TOPOLOGY)
        return parse_topology(text.read_text(), source=f"<default>/{DEFAULT_TOPOLOGY}")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read topology: {exc.strerror}", file=str(p)) from None
    return parse_topology(text, source=str(p))
