"""Aggregates, their events and the rules of the platform. Pure Python, no I/O."""
