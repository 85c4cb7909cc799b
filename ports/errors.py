"""The errors an adapter raises through a port."""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """Raised by an adapter whose store failed for a reason of its own (down, out of
    memory, read-only): retried with backoff, never a reason to park the event."""


class Overloaded(DependencyUnavailable):
    """Raised by an adapter at its capacity (a bounded queue is full) before it did
    anything: the caller may retry after ``retry_after_s`` seconds (at least 1)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)
