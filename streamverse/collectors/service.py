"""Pick the metric store named in the settings (embedded by default)."""

from __future__ import annotations

from streamverse.errors import ConfigError
from streamverse.metricstore import MetricStore
from streamverse.settings import Settings

METRICS_FILE = "metrics.db"
PROMETHEUS_DIR = "prometheus"


def make_store(settings: Settings) -> MetricStore:
    """The configured MetricStore; the embedded one lives in data_dir/metrics.db."""
    if settings.metric_store == "embedded":
        from streamverse.collectors.embedded import EmbeddedStore, Retention

        retention = Retention(raw_s=settings.metrics_raw_retention, res_5m_s=settings.metrics_5m_retention,
                              res_1h_s=settings.metrics_1h_retention)
        return EmbeddedStore.at_path(settings.data_dir / METRICS_FILE, retention=retention)
    if settings.metric_store == "prometheus":
        if not settings.prometheus_url:
            raise ConfigError("metric_store is 'prometheus' but no Prometheus URL is set; set "
                              "STREAMVERSE_PROMETHEUS_URL=http://127.0.0.1:9090", field="prometheus_url")
        from streamverse.collectors.prometheus_store import PrometheusStore

        tsdb = settings.data_dir / PROMETHEUS_DIR / "tsdb"
        return PrometheusStore(settings.prometheus_url, tsdb_path=tsdb if tsdb.exists() else None)
    raise ConfigError(f"unknown metric store {settings.metric_store!r}; use embedded or prometheus",
                      field="metric_store")
