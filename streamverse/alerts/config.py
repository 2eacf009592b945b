"""Alerting configuration: notification targets, routes, grouping, inhibition, retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamverse.alerts.rules import _seconds
from streamverse.collectors.selector import Matcher, parse_matcher
from streamverse.errors import ConfigError
from streamverse.yamlfile import parse_yaml

DEFAULT_FILE = Path(__file__).parent / "data" / "alerting.yaml"


def _matchers(value: list[str]) -> list[Matcher]:
    return [parse_matcher(v) for v in value]


def matches(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    """Every matcher holds (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


class Target(BaseModel):
    """Somewhere notifications go."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["alertmanager", "pagerduty", "webhook"]
    url: str = ""
    routing_key: str = ""
    send_resolved: bool = True
    timeout: float = Field(5.0, description="seconds per attempt")

    @model_validator(mode="after")
    def _complete(self) -> Target:
        if self.kind == "pagerduty":
            self.url = self.url or "https://events.pagerduty.com/v2/enqueue"
            if not self.routing_key:
                raise ValueError("a pagerduty target needs `routing_key` (the integration key)")
        elif not self.url:
            raise ValueError(f"a {self.kind} target needs `url`")
        return self


class Route(BaseModel):
    """Alerts matching `match` go to `targets`, grouped by `group_by`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    match: list[str] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 14400.0
    continue_: bool = Field(False, alias="continue")

    _d = field_validator("group_wait", "group_interval", "repeat_interval", mode="before")(
        classmethod(lambda cls, v: _seconds(v))
    )

    @field_validator("match")
    @classmethod
    def _m(cls, v: list[str]) -> list[str]:
        _matchers(v)
        return v

    def matchers(self) -> list[Matcher]:
        """Parsed matchers."""
        return _matchers(self.match)


class InhibitRule(BaseModel):
    """While a source alert fires, matching target alerts with equal labels are not notified."""

    model_config = ConfigDict(extra="forbid")
    source_match: list[str]
    target_match: list[str]
    equal: list[str] = Field(default_factory=list)

    def inhibits(self, source: dict[str, str], target: dict[str, str]) -> bool:
        """Does a firing `source` mute `target`?"""
        return (
            matches(_matchers(self.source_match), source)
            and matches(_matchers(self.target_match), target)
            and all(source.get(k, "") == target.get(k, "") for k in self.equal)
            and source != target
        )


class Retry(BaseModel):
    """Attempts per notification and the exponential backoff between them."""

    model_config = ConfigDict(extra="forbid")
    attempts: int = Field(5, ge=1, le=50)
    backoff: float = 1.0
    max_backoff: float = 30.0

    _d = field_validator("backoff", "max_backoff", mode="before")(classmethod(lambda cls, v: _seconds(v)))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1))


class AlertingConfig(BaseModel):
    """The whole alerting.yaml."""

    model_config = ConfigDict(extra="forbid")
    version: str = "streamverse/v1"
    evaluation_interval: float = 10.0
    targets: list[Target] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=lambda: [Route()])
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    retry: Retry = Field(default_factory=Retry)

    _d = field_validator("evaluation_interval", mode="before")(classmethod(lambda cls, v: _seconds(v)))

    @model_validator(mode="after")
    def _known_targets(self) -> AlertingConfig:
        names = {t.name for t in self.targets}
        for route in self.routes:
            for t in route.targets:
                if t not in names:
                    raise ValueError(f"route names target {t!r} that is not defined in `targets`")
        return self

    def target(self, name: str) -> Target:
        """One target by name."""
        for t in self.targets:
            if t.name == name:
                return t
        raise ConfigError(f"no notification target {name!r}")


def parse_config(text: str, source: str = "<memory>") -> AlertingConfig:
    """A validated config, or a ConfigError naming file, line and field."""
    return parse_yaml(text, AlertingConfig, source)[0]


def load_config(path: Path | str | None = None, **overrides: Any) -> AlertingConfig:
    """The config file (shipped default when None), with fields overridden."""
    p = Path(path) if path else DEFAULT_FILE
    cfg = parse_config(p.read_text(), str(p))
    return cfg.model_copy(update=overrides) if overrides else cfg
