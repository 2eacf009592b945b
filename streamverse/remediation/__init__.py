"""Runbooks, guardrails, policies and runs: the control center acting on the platform.

It reaches the platform only through its control endpoints (`remediation.control`).
"""
