"""Alerts whose condition another area checks itself (cost budgets, spend anomalies).

A checker reports its current findings under a `source` name; the report replaces the
previous one and is stored (`ExternalReport`), so a check run from the CLI or the API
reaches the live loop. Every cycle turns the unexpired findings into conditions that hold
now, so they walk the same state machine as rule alerts (fingerprints, pending/firing,
grouping, silences, notifications, history) and resolve when a later report leaves them out
or the report expires: a checker that stopped running cannot hold an alert forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streamverse.alerts.enums import RuleKind
from streamverse.alerts.evaluator import fingerprint
from streamverse.alerts.models import ExternalFinding, ExternalReport
from streamverse.alerts.rules import Rule
from streamverse.errors import UsageError


def parse_finding(raw: ExternalFinding | dict[str, Any]) -> ExternalFinding:
    """A finding from a checker; it must name its alert (`alertname` label)."""
    f = raw if isinstance(raw, ExternalFinding) else ExternalFinding.model_validate(raw)
    if not f.labels.get("alertname"):
        raise UsageError(f"a reported finding needs an `alertname` label, got {sorted(f.labels)}")
    f.labels = {str(k): str(v) for k, v in f.labels.items()}
    f.annotations = {str(k): str(v) for k, v in f.annotations.items()}
    return f


def rule_of(f: ExternalFinding, source: str) -> Rule:
    """The rule (kind external) whose one alert series is this finding."""
    labels = {k: v for k, v in f.labels.items() if k != "alertname"}
    return Rule(
        name=f.labels["alertname"],
        kind=RuleKind.external,
        labels=labels,
        severity=labels.get("severity", "ticket"),
        annotations=dict(f.annotations),
        incident=f.incident,
        source_file=f"reported by {source}",
        **{"for": f.for_s},
    )


def fingerprint_of(f: ExternalFinding, source: str) -> str:
    """The fingerprint the finding's alert gets (the same as any alert with these labels)."""
    return fingerprint(rule_of(f, source).alert_labels())


def _ts(d: datetime) -> float:
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def conditions(reports: Iterable[ExternalReport], now: float) -> list[tuple[Rule, float | None]]:
    """The rules of every finding in unexpired reports, with the value each finding measured."""
    out = []
    for rep in sorted(reports, key=lambda r: r.source):
        if _ts(rep.expires_at) <= now:
            continue
        for raw in rep.findings:
            f = ExternalFinding.model_validate(raw)
            out.append((rule_of(f, rep.source), f.value))
    return out
