"""Telemetry in: metric store backends, scraper, probes, RUM beacons, logs, usage metering, import."""
