"""Tests of the SLO area."""
