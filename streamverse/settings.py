"""One typed settings object (env prefix STREAMVERSE_), built once and passed in."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    log_level: str = "INFO"
    seed: int = 7

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
