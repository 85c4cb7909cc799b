"""Waiting on a condition in a test: poll it, fail after a bounded time, never sleep
a fixed time for an effect."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05,
               failure: Callable[[], str] | None = None) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds, with ``failure()``
    as the message when given (it may describe the state the wait ended in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(failure() if failure else f"condition not met within {timeout}s")
