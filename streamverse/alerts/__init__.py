"""Alerting: rules evaluated on the metric store, grouping, silences, inhibition, notifiers.

It defines the AlertEvent that incidents and remediation consume.
"""
