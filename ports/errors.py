"""The errors an adapter raises through a port."""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """Raised by an adapter whose store failed for a reason of its own (down, out of
    memory, read-only): retried with backoff, never a reason to park the event."""
