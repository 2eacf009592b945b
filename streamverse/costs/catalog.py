"""The price catalog (YAML anyone can read and edit) and the budgets, loaded and validated.

The whole file is checked before a single price is used: an unknown region or storage
class, a negative or missing price, or tiers out of order is an error naming the file,
line and field, because a cost report built on a typo is worse than none.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streamverse.errors import ConfigError
from streamverse.yamlfile import compose, line_of

STORAGE_CLASSES = ("hot", "warm", "cold", "archive")
CATEGORIES = ("cdn_egress", "cache_fill", "requests", "compute", "transcode", "storage", "fixed")
DEFAULT_PRICES = "prices.yaml"
DEFAULT_BUDGETS = "budgets.yaml"

Money = Decimal


def _dec(value: Any) -> Decimal:
    """YAML floats become exact decimals through their shortest text (0.085 stays 0.085)."""
    if isinstance(value, bool) or value is None:
        raise ValueError("a price must be a number")
    if isinstance(value, int | float | str | Decimal):
        try:
            out = Decimal(str(value))
        except ArithmeticError:
            raise ValueError(f"{value!r} is not a number") from None
        if not out.is_finite():
            raise ValueError("a price must be finite")
        if out < 0:
            raise ValueError(f"price {value} is negative")
        return out
    raise ValueError("a price must be a number")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """One volume tier: everything up to `up_to_gb` of the month (None: no end) at one price."""

    up_to_gb: Decimal | None = None
    usd_per_gb: Decimal

    _d = field_validator("usd_per_gb", mode="before")(_dec)

    @field_validator("up_to_gb", mode="before")
    @classmethod
    def _bound(cls, v: Any) -> Decimal | None:
        return None if v is None else _dec(v)


class Transfer(_Strict):
    """Data moved between our own tiers."""

    origin_egress_usd_per_gb: Decimal
    shield_egress_usd_per_gb: Decimal
    cache_fill_usd_per_gb: Decimal

    _d = field_validator("*", mode="before")(_dec)


class Compute(_Strict):
    """CPU for the API, GPUs for transcoding."""

    vcpu_hour_usd: Decimal
    api_vcpu_seconds_per_request: Decimal
    gpu_hour_on_demand_usd: Decimal
    gpu_hour_spot_usd: Decimal
    transcode_spot_share: Decimal = Field(le=1)
    transcode_gpu_seconds_per_job: Decimal

    _d = field_validator("*", mode="before")(_dec)


class Database(_Strict):
    """Managed database storage."""

    usd_per_gb_month: Decimal

    _d = field_validator("*", mode="before")(_dec)


def _per_class(value: Any) -> Any:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(STORAGE_CLASSES))
        if unknown:
            raise ValueError(
                f"unknown storage class {unknown[0]!r}; the classes are {', '.join(STORAGE_CLASSES)}"
            )
        return {k: _dec(v) for k, v in value.items()}
    return value


class PriceCatalog(_Strict):
    """Every price the cost code uses; regions are the topology's."""

    currency: str = "USD"
    checked: str | None = None
    cdn_egress: dict[str, list[Tier]]
    transfer: Transfer
    compute: Compute
    storage: dict[str, Decimal]
    database: Database
    lifecycle: dict[str, Decimal]
    requests: dict[str, Decimal]
    fixed_monthly: dict[str, Decimal] = Field(default_factory=dict)
    source: str = "<memory>"

    _classes = field_validator("storage", "lifecycle", mode="before")(_per_class)

    @field_validator("checked", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return None if v is None else str(v)

    @field_validator("requests", "fixed_monthly", mode="before")
    @classmethod
    def _money_map(cls, v: Any) -> Any:
        return {k: _dec(x) for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("cdn_egress")
    @classmethod
    def _tiers(cls, v: dict[str, list[Tier]]) -> dict[str, list[Tier]]:
        for region, tiers in v.items():
            if not tiers:
                raise ValueError(f"region {region!r} has no tiers")
            bounds = [t.up_to_gb for t in tiers]
            if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
                raise ValueError(f"region {region!r}: only the last tier may omit up_to_gb, and it must")
            if any(a >= b for a, b in zip(bounds[:-2], bounds[1:-1], strict=False)):  # type: ignore[operator]
                raise ValueError(f"region {region!r}: tier bounds must increase")
        return v

    @model_validator(mode="after")
    def _complete(self) -> PriceCatalog:
        missing = [c for c in STORAGE_CLASSES if c not in self.storage]
        if missing:
            raise ValueError(f"storage: missing price for class {missing[0]!r}")
        return self

    def storage_price(self, storage_class: str) -> Decimal:
        """USD per GB-month of a storage class."""
        return self.storage[storage_class]

    def transcode_gpu_hour_usd(self) -> Decimal:
        """The blended GPU-hour price at today's spot share."""
        c = self.compute
        return (
            c.gpu_hour_on_demand_usd * (1 - c.transcode_spot_share)
            + c.gpu_hour_spot_usd * c.transcode_spot_share
        )


class Budgets(_Strict):
    """Monthly budget per cost category."""

    budgets: dict[str, Decimal]
    source: str = "<memory>"

    @field_validator("budgets", mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        if isinstance(v, dict):
            unknown = sorted(set(v) - set(CATEGORIES))
            if unknown:
                raise ValueError(
                    f"unknown category {unknown[0]!r}; the categories are {', '.join(CATEGORIES)}"
                )
            return {k: _dec(x) for k, x in v.items()}
        return v


def _raise(exc: ValidationError, node: yaml.Node | None, source: str) -> None:
    err = exc.errors()[0]
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    field = ".".join(str(x) for x in loc) or None
    msg = str(err["msg"]).removeprefix("Value error, ")
    raise ConfigError(msg, file=source, line=line_of(node, loc), field=field) from None


def parse_prices(text: str, source: str = "<memory>", *, regions: list[str] | None = None) -> PriceCatalog:
    """Validate price YAML; `regions` (the topology's) must each have egress and request prices."""
    node, data = compose(text, source)
    if not isinstance(data, dict):
        raise ConfigError("the price catalog must be a mapping", file=source, line=1)
    for section in ("storage", "lifecycle"):  # point at the offending key, not its section
        table = data.get(section)
        for name in table if isinstance(table, dict) else ():
            if name not in STORAGE_CLASSES:
                raise ConfigError(
                    f"unknown storage class {name!r}; the classes are {', '.join(STORAGE_CLASSES)}",
                    file=source,
                    line=line_of(node, (section, name)),
                    field=f"{section}.{name}",
                )
    try:
        cat = PriceCatalog.model_validate({**data, "source": source})
    except ValidationError as exc:
        _raise(exc, node, source)
        raise  # unreachable; keeps type checkers calm
    if regions is not None:
        known = set(regions)
        for section in ("cdn_egress", "requests"):
            table: dict[str, Any] = getattr(cat, section)
            for name in table:
                if name not in known:
                    raise ConfigError(
                        f"unknown region {name!r}; the topology's regions are {', '.join(regions)}",
                        file=source,
                        line=line_of(node, (section, name)),
                        field=f"{section}.{name}",
                    )
            for name in regions:
                if name not in table:
                    raise ConfigError(
                        f"missing price for region {name!r}",
                        file=source,
                        line=line_of(node, (section,)),
                        field=f"{section}.{name}",
                    )
    return cat


def _read(path: Path | str | None, default: str) -> tuple[str, str]:
    if path is None:
        return resources.files("streamverse.costs").joinpath(
            "data", default
        ).read_text(), f"<default>/{default}"
    p = Path(path)
    try:
        return p.read_text(), str(p)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(p)) from None


def load_prices(path: Path | str | None = None, *, regions: list[str] | None = None) -> PriceCatalog:
    """The price catalog from a file, or the shipped default."""
    text, source = _read(path, DEFAULT_PRICES)
    return parse_prices(text, source, regions=regions)


def load_budgets(path: Path | str | None = None) -> Budgets:
    """Monthly budgets per category from a file, or the shipped default."""
    text, source = _read(path, DEFAULT_BUDGETS)
    node, data = compose(text, source)
    if not isinstance(data, dict):
        raise ConfigError("the budgets file must be a mapping with `budgets:`", file=source, line=1)
    try:
        return Budgets.model_validate({**data, "source": source})
    except ValidationError as exc:
        _raise(exc, node, source)
        raise
