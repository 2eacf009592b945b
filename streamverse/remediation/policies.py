"""Automation policies: alert matchers -> runbooks, run at once (`auto`) or offered (`suggest`).

Matchers are Alertmanager-style strings (`severity="page"`, `alertname=~"Origin.*"`, `!=`, `!~`)
over the alert's labels plus `alertname`. Targets and params are templates over the same
labels (`"{region}"`, `"video:{video_id}"`). Errors name the file, line and field.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from streamverse.alerts.models import AlertEvent
from streamverse.collectors.selector import Matcher, parse_matcher
from streamverse.errors import ConfigError, UsageError
from streamverse.remediation.enums import PolicyMode
from streamverse.remediation.runbooks import RUNBOOKS
from streamverse.yamlfile import line_of, parse_yaml

DEFAULT_FILE = "policies.yaml"


def _render(template: str, alert: AlertEvent) -> str:
    labels = {**alert.labels, "alertname": alert.name}
    try:
        return template.format_map(labels)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            f"template {template!r} needs label {exc} that alert {alert.name} does not have"
        ) from None


class Action(BaseModel):
    """A runbook to run for a matching alert."""

    model_config = ConfigDict(extra="forbid")

    runbook: str
    target: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("runbook")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in RUNBOOKS:
            raise ValueError(f"unknown runbook {v!r}; choose one of {sorted(RUNBOOKS)}")
        return v

    def render_target(self, alert: AlertEvent) -> str:
        """The target with the alert's labels filled in."""
        return _render(self.target, alert)

    def render_params(self, alert: AlertEvent) -> dict[str, Any]:
        """Params with string templates filled in."""
        return {k: _render(v, alert) if isinstance(v, str) else v for k, v in self.params.items()}


class Policy(BaseModel):
    """Alert matchers -> actions, auto or suggest."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    match: list[Matcher] = Field(min_length=1)
    mode: PolicyMode = PolicyMode.suggest
    require_approval: bool = Field(False, description="auto runs still wait for a person")
    actions: list[Action] = Field(min_length=1)

    @field_validator("match", mode="before")
    @classmethod
    def _parse_matchers(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError('match is a list of matchers such as severity="page"')
        return [parse_matcher(x) if isinstance(x, str) else x for x in v]

    def matches(self, alert: AlertEvent) -> bool:
        """Every matcher holds for the alert's labels (plus alertname)."""
        labels = {**alert.labels, "alertname": alert.name}
        if alert.severity and "severity" not in labels:
            labels["severity"] = alert.severity
        return all(m.matches(labels) for m in self.match)


class PolicyFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    version: str = "streamverse/v1"
    policies: list[Policy]


def parse_policies(text: str, source: str = "<memory>") -> list[Policy]:
    """Validated policies, or a ConfigError naming file, line and field."""
    parsed, node = parse_yaml(text, PolicyFile, source,
                              top_message="a policy file is a mapping with a `policies` list")
    names = [p.name for p in parsed.policies]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ConfigError(
                f"duplicate policy name {name!r}",
                file=source,
                line=line_of(node, ("policies", i, "name")),
                field=f"policies.{i}.name",
            )
    return parsed.policies


def load_policies(path: Path | str | None = None) -> list[Policy]:
    """Policies from a file, or the shipped defaults."""
    if path is None:
        text = resources.files("streamverse.remediation").joinpath("data", DEFAULT_FILE).read_text()
        return parse_policies(text, source=f"<default>/{DEFAULT_FILE}")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read policies: {exc.strerror}", file=str(p)) from None
    return parse_policies(text, source=str(p))
