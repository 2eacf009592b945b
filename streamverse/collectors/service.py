"""Pick the metric store named in the settings (embedded by default)."""

from __future__ import annotations

from streamverse.collectors.store import MetricStore
from streamverse.errors import ConfigError
from streamverse.settings import Settings

METRICS_FILE = "metrics.db"


def make_store(settings: Settings) -> MetricStore:
    """The configured MetricStore; the embedded one lives in data_dir/metrics.db."""
    if settings.metric_store == "embedded":
        from streamverse.collectors.embedded import EmbeddedStore

        return EmbeddedStore.at_path(settings.data_dir / METRICS_FILE)
    raise ConfigError(
        f"metric store {settings.metric_store!r} is not available yet; use "
        "STREAMVERSE_METRIC_STORE=embedded", field="metric_store",
    )
