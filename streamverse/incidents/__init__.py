"""Incidents: opened or joined from alert events, severity, timeline, postmortem; runs reach them via IncidentActions."""
