"""The generated `prometheus.yml`: every platform /metrics target, rule files, Alertmanager.

Targets are (job, url, labels). One scrape config per job; each target carries its own
`__scheme__` and `__metrics_path__`, so services with different paths share a job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import yaml

from streamverse.durations import format_duration
from streamverse.errors import ConfigError


class ScrapeTarget(NamedTuple):
    """One /metrics endpoint: its job, full URL and extra target labels."""

    job: str
    url: str
    labels: Mapping[str, str] = {}


def as_targets(targets: Iterable[ScrapeTarget | Sequence[Any]]) -> list[ScrapeTarget]:
    """Accept ScrapeTargets or plain (job, url[, labels]) tuples."""
    out = []
    for t in targets:
        if isinstance(t, ScrapeTarget):
            out.append(t)
        else:
            job, url, *rest = t
            out.append(ScrapeTarget(str(job), str(url), dict(rest[0]) if rest else {}))
    return out


def _seconds(value: float) -> str:
    return format_duration(value) if value >= 1 and value == int(value) else f"{int(value * 1000)}ms"


def prometheus_config(*, targets: Iterable[ScrapeTarget | Sequence[Any]], scrape_interval_s: float = 15.0,
                      evaluation_interval_s: float | None = None, rule_files: Sequence[Path | str] = (),
                      alertmanager_urls: Sequence[str] = (),
                      external_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration as a dict (dump it with yaml)."""
    jobs: dict[str, list[dict[str, Any]]] = {}
    for t in as_targets(targets):
        parts = urlsplit(t.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"scrape target {t.url!r} of job {t.job!r} is not an http(s) URL",
                              field="targets")
        labels = {"__scheme__": parts.scheme, "__metrics_path__": parts.path or "/metrics",
                  **{k: str(v) for k, v in t.labels.items()}}
        jobs.setdefault(t.job, []).append({"targets": [parts.netloc], "labels": labels})
    interval = _seconds(scrape_interval_s)
    glob: dict[str, Any] = {"scrape_interval": interval,
                            "evaluation_interval": _seconds(evaluation_interval_s or scrape_interval_s),
                            "scrape_timeout": _seconds(min(10.0, scrape_interval_s))}
    if external_labels:
        glob["external_labels"] = dict(external_labels)
    config: dict[str, Any] = {
        "global": glob,
        "scrape_configs": [{"job_name": job, "static_configs": statics} for job, statics in jobs.items()],
    }
    if rule_files:
        config["rule_files"] = [str(Path(p).resolve()) for p in rule_files]
    if alertmanager_urls:
        config["alerting"] = {"alertmanagers": [
            {"scheme": urlsplit(u).scheme or "http", "static_configs": [{"targets": [urlsplit(u).netloc]}]}
            for u in alertmanager_urls]}
    return config


def write_prometheus_config(path: Path, **kwargs: Any) -> Path:
    """Write `prometheus.yml` (see prometheus_config for the arguments)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(prometheus_config(**kwargs), sort_keys=False))
    return path


def alertmanager_config(*, webhook_url: str | None = None) -> dict[str, Any]:
    """A minimal Alertmanager config: everything to one webhook receiver (or nowhere)."""
    receiver: dict[str, Any] = {"name": "default"}
    if webhook_url:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    return {"route": {"receiver": "default", "group_wait": "1s", "group_interval": "5s",
                      "repeat_interval": "1h"},
            "receivers": [receiver]}
