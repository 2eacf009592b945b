"""One typed settings object (env prefix STREAMVERSE_), built once and passed in."""

from __future__ import annotations

import itertools
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamverse.durations import format_duration, parse_duration
from streamverse.errors import ConfigError, StreamVerseError


class Settings(BaseSettings):
    """Everything configurable; the defaults are the embedded single-machine setup."""

    model_config = SettingsConfigDict(env_prefix="STREAMVERSE_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path(".streamverse"), description="where the embedded store lives")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite file in data_dir when unset, "
        "e.g. postgresql+psycopg://user@127.0.0.1:5432/streamverse",
    )
    redis_url: str | None = Field(
        None, description="redis://host:port/db for rate limits and locks; in-process when unset"
    )
    ratelimit_fail_open: bool = Field(True, description="allow traffic when Redis is unreachable")
    metric_store: Literal["embedded", "prometheus"] = "embedded"
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    es_url: str | None = None
    topology_file: Path | None = Field(None, description="YAML topology; shipped default when unset")
    jwt_secret: str | None = Field(None, description="gateway JWT signing key; persisted in data_dir")
    host: str = "127.0.0.1"
    base_port: int = Field(8700, description="first port of the live services; 0 picks free ports")
    dashboard_port: int = 8501
    live_cache_bytes: int = Field(64 * 1024 * 1024, description="per-PoP cache in live runs")
    live_viewers: int = Field(24, description="live ABR players started by `up`")
    platform_control_url: str | None = Field(
        None, description="the platform's control endpoints; from data_dir/live.json when unset"
    )
    platform_control_key: str | None = Field(None, description="shared key for control endpoints")
    gateway_trusted_proxy_hops: int = Field(
        0, ge=0, description="proxies in front of the gateway whose X-Forwarded-For it believes"
    )
    default_client_region: str = Field("us-east", description="region of clients that do not say")
    revenue_per_minute_usd: float = Field(100_000.0, gt=0, description="revenue lost per minute down")
    prices_file: Path | None = Field(None, description="price catalog YAML; shipped default when unset")
    budgets_file: Path | None = Field(None, description="monthly budgets YAML; shipped default when unset")
    cost_check_interval_s: float = Field(
        300.0, ge=0, description="how often `up` checks budgets and spend anomalies; 0 turns it off")
    remediation_max_drained_share: float = Field(
        0.5, gt=0, le=1, description="most of the platform's capacity runbooks may drain at once")
    remediation_approval_share: float = Field(
        0.15, gt=0, le=1, description="runs touching this share of capacity need a second person")
    remediation_cooldown_s: float = Field(300.0, ge=0, description="pause between runs on one target")
    remediation_lock_ttl_s: float = Field(21600.0, gt=0, description="longest a run may hold its target")
    failback_auto: bool = Field(True, description="return a failed-over region's viewers by itself")
    failback_after_s: float = Field(600.0, ge=0, description="how long a region must be healthy first")
    failback_step: float = Field(0.1, gt=0, le=1, description="share of traffic returned per step")
    failback_interval_s: float = Field(600.0, ge=0, description="wait between failback steps")
    dashboard_public_status: bool = Field(
        False, description="let people read the dashboard's status page without logging in")
    metrics_raw_retention: float = Field(
        15 * 86400.0, description="embedded store: raw samples kept this long, then 5-minute points (15d)")
    metrics_5m_retention: float = Field(
        90 * 86400.0, description="embedded store: 5-minute points kept this long, then hourly (90d)")
    metrics_1h_retention: float = Field(
        730 * 86400.0, description="embedded store: hourly points kept this long, then dropped (2y)")
    metrics_compaction_interval: float = Field(
        600.0, description="how often `up` downsamples and applies retention (10m); 0 turns it off")
    log_level: str = "INFO"
    seed: int = 7

    @field_validator("metrics_raw_retention", "metrics_5m_retention", "metrics_1h_retention",
                     "metrics_compaction_interval", mode="before")
    @classmethod
    def _duration(cls, value: object, info: ValidationInfo) -> object:
        """Durations are written like people write them (`15d`); a bad one names its variable."""
        if not isinstance(value, str):
            return value
        name = info.field_name or ""
        try:
            return parse_duration(value)
        except StreamVerseError as exc:
            # Not a ValueError, so pydantic lets it through: the CLIs print it as one line.
            raise ConfigError(f"STREAMVERSE_{name.upper()}={value!r}: {exc}") from None

    @model_validator(mode="after")
    def _retention_order(self) -> Settings:
        """Each coarser tier must outlive the finer one, or downsampled data would be dropped unseen."""
        tiers = [("METRICS_RAW_RETENTION", self.metrics_raw_retention),
                 ("METRICS_5M_RETENTION", self.metrics_5m_retention),
                 ("METRICS_1H_RETENTION", self.metrics_1h_retention)]
        for name, value in tiers:
            if not value > 0:
                raise ConfigError(f"STREAMVERSE_{name} must be a positive duration like 15d, not {value:g}s")
        for (fine, a), (coarse, b) in itertools.pairwise(tiers):
            if not a < b:
                raise ConfigError(f"STREAMVERSE_{coarse} ({format_duration(b)}) must be longer than "
                                  f"STREAMVERSE_{fine} ({format_duration(a)}): "
                                  "each tier outlives the finer one")
        if self.metrics_compaction_interval < 0:
            raise ConfigError("STREAMVERSE_METRICS_COMPACTION_INTERVAL must be a duration like 10m, "
                              "or 0 to turn compaction off")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL actually used (SQLite file by default)."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'streamverse.db').resolve()}"

    @cached_property
    def resolved_jwt_secret(self) -> str:
        """The JWT key, created once per data dir so restarts keep sessions valid."""
        if self.jwt_secret:
            return self.jwt_secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "jwt.key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


    @cached_property
    def resolved_control_key(self) -> str:
        """The platform control key, created once per data dir like the JWT key."""
        if self.platform_control_key:
            return self.platform_control_key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "control.key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def get_settings() -> Settings:
    """Settings read from the environment; call once at the edge of the program."""
    return Settings()
