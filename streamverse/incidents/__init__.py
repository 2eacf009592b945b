"""Incidents: opened or joined from alert events, severity, timeline, postmortem.

Runbook runs reach an incident through the IncidentActions interface.
"""
