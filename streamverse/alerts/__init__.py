"""Alerting: rules evaluated on the metric store, grouping, silences, inhibition, notifiers; defines AlertEvent."""
