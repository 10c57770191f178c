"""Hostile tests: load, faults and abuse."""
