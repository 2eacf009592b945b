"""Alert rules of three kinds (SLO burn rate, threshold over any PromQL, no data), from YAML or SLOs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamverse.alerts.enums import RuleKind
from streamverse.durations import parse_duration
from streamverse.errors import ConfigError, UsageError
from streamverse.slo import engine as slo_engine
from streamverse.slo.models import SLO
from streamverse.slo.queries import counter_parts, window_ratio_expr
from streamverse.slo.windows import alert_conditions
from streamverse.yamlfile import line_of, parse_yaml

Op = Literal[">", ">=", "<", "<=", "==", "!="]
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_:.\-]*$")


def _seconds(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_duration(str(value))
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class Rule(BaseModel):
    """One rule; its alerts are named `name` and carry `labels` on top of the series' own."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: RuleKind = RuleKind.threshold
    expr: str = ""
    op: Op = ">"
    threshold: float = 0.0
    for_s: float = Field(0.0, alias="for")
    severity: str = "ticket"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # SLO burn-rate rules: the window ratio expressions and the SRE-workbook conditions.
    windows: dict[str, str] = Field(default_factory=dict)
    conditions: list[tuple[float, str, str]] = Field(default_factory=list)
    error_budget: float = 0.0
    # False: the alert notifies but is not handed to incidents (no incident, no runbook).
    incident: bool = True
    source_file: str = ""
    source_line: int | None = None

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"rule name {v!r} must be letters, digits, _ : . -")
        return v

    @field_validator("for_s", mode="before")
    @classmethod
    def _for(cls, v: Any) -> float:
        return _seconds(v)

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        if self.kind in (RuleKind.threshold, RuleKind.nodata) and not self.expr.strip():
            raise ValueError(f"a {self.kind.value} rule needs `expr`")
        if self.kind == RuleKind.slo and not (self.windows and self.conditions):
            raise ValueError("an slo rule is made from an SLO (use `slo:` with its id)")
        if self.kind == RuleKind.external and self.source_file == "":
            raise ValueError("external rules come from findings another area reports, not from rule files")
        return self

    def alert_labels(self) -> dict[str, str]:
        """Labels every alert of the rule carries."""
        return {**self.labels, "alertname": self.name, "severity": self.labels.get("severity", self.severity)}


class _SloRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slo: str
    severity: Literal["page", "ticket"] | None = None
    for_s: float = Field(0.0, alias="for")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    _f = field_validator("for_s", mode="before")(classmethod(lambda cls, v: _seconds(v)))


class RuleFile(BaseModel):
    """A rules file: `rules` (threshold and nodata) and `slo_rules` (burn-rate alerts of named SLOs)."""

    model_config = ConfigDict(extra="forbid")
    version: str = "streamverse/v1"
    rules: list[Rule] = Field(default_factory=list)
    slo_rules: list[_SloRef] = Field(default_factory=list)


def _camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^a-zA-Z0-9]+", text) if p)


def ratio_expr(slo: SLO, window: str) -> str:
    """Error ratio over a window in the PromQL both stores answer (no `or`: no bad series, no alert)."""
    if slo.indicator.kind in ("ratio", "latency"):
        bad, good, total = counter_parts(slo)
        by = f" by ({', '.join(slo.slice_by)})" if slo.slice_by else ""
        tot = f"sum{by} (rate({total}[{window}]))"
        if bad is not None:
            return f"sum{by} (rate({bad}[{window}])) / {tot}"
        return f"1 - sum{by} (rate({good}[{window}])) / {tot}"
    return " ".join(window_ratio_expr(slo, window).split())


def slo_rules(slos: Iterable[SLO], *, for_s: float = 0.0) -> list[Rule]:
    """The page and ticket burn-rate rules of each SLO (Google SRE workbook, multiwindow)."""
    out = []
    for slo in slos:
        for severity in ("page", "ticket"):
            if severity in slo.disabled_alerts:
                continue
            conds = [(f, lw, sw) for sev, f, lw, sw in alert_conditions(slo) if sev == severity]
            needed = sorted({w for _, lw, sw in conds for w in (lw, sw)}, key=lambda w: slo_engine.WINDOWS[w])
            custom = slo.page_alert if severity == "page" else slo.ticket_alert
            labels = {
                **slo.labels,
                **slo.alert_labels,
                "sloth_id": slo.id,
                "sloth_service": slo.service,
                "sloth_slo": slo.name,
                "sloth_severity": severity,
                "severity": severity,
            }
            out.append(
                Rule(
                    name=custom or f"{_camel(slo.name)}{_camel(severity)}BurnRate",
                    kind=RuleKind.slo,
                    severity=severity,
                    labels=labels,
                    error_budget=slo.error_budget,
                    annotations={
                        "summary": f"{slo.name} is burning its error budget ({severity})",
                        "description": slo.description,
                        **slo.alert_annotations,
                    },
                    windows={w: ratio_expr(slo, w) for w in needed},
                    conditions=conds,
                    source_file=slo.source_file,
                    source_line=slo.source_line,
                    **{"for": for_s},
                )
            )
    return out


def parse_rules(text: str, source: str = "<memory>", slos: Sequence[SLO] = ()) -> list[Rule]:
    """Rules of a YAML file; errors name the file, line and field."""
    parsed, node = parse_yaml(text, RuleFile, source)
    rules = []
    for i, rule in enumerate(parsed.rules):
        rule.source_file, rule.source_line = source, line_of(node, ("rules", i))
        rules.append(rule)
    by_id = {s.id: s for s in slos} | {s.name: s for s in slos}
    for i, ref in enumerate(parsed.slo_rules):
        slo = by_id.get(ref.slo)
        if slo is None:
            raise ConfigError(
                f"no SLO {ref.slo!r} loaded (known: {', '.join(sorted(by_id)) or 'none'})",
                file=source,
                line=line_of(node, ("slo_rules", i, "slo")),
                field=f"slo_rules.{i}.slo",
            )
        for r in slo_rules([slo], for_s=ref.for_s):
            if ref.severity and r.severity != ref.severity:
                continue
            r.labels.update(ref.labels)
            r.annotations.update(ref.annotations)
            r.source_file, r.source_line = source, line_of(node, ("slo_rules", i))
            rules.append(r)
    seen: dict[str, int] = {}
    for i, r in enumerate(rules):
        if r.name in seen and r.kind != RuleKind.slo:
            raise ConfigError(
                f"duplicate rule name {r.name!r}", file=source, line=r.source_line, field=f"rules.{i}.name"
            )
        seen[r.name] = i
    return rules


def load_rules(paths: Iterable[Path | str], slos: Sequence[SLO] = ()) -> list[Rule]:
    """Rules from files."""
    out: list[Rule] = []
    for p in paths:
        try:
            text = Path(p).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
        out.extend(parse_rules(text, str(p), slos))
    return out


def default_rules(slos: Sequence[SLO] | None = None) -> list[Rule]:
    """The shipped SLOs' burn-rate rules plus the shipped threshold and no-data rules."""
    if slos is None:
        from streamverse.slo.loader import default_slo_file, load_files

        slos = load_files([default_slo_file()]).slos
    path = Path(__file__).parent / "data" / "rules.yaml"
    return slo_rules(slos) + parse_rules(path.read_text(), str(path), slos)
