"""Projectors: events in, idempotent writes out, each with its own checkpoint."""
