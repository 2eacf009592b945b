"""Telemetry in: the metric store backends, scraper, probes, RUM beacons, logs, usage metering, history import."""
