"""Background tasks that survive their dependencies: catch, log, back off, resume.

Every long-lived loop of the relay and the worker (a projection agent, the
catch-up sweep, a heartbeat) runs its steps through a ``Guard``: an exception
in a step is logged as JSON with the task's name, and the task waits a
bounded, exponentially growing delay before its next step. Nothing but
cancellation (a stop) leaves the task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Guard:
    """Runs the steps of one named task; ``initial_s`` doubles per consecutive failure
    up to ``max_s`` seconds, and is reset by a success. ``clock`` (seconds, monotonic)
    times ``once``; ``sleep(seconds)`` waits out the backoff in ``until_done``."""

    def __init__(self, task: str, initial_s: float = 0.5, max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.task = task
        self.clock = clock
        self.sleep = sleep
        self.initial_s = initial_s
        self.max_s = max_s
        self.failures = 0
        self._not_before = 0.0

    def failed(self, error: Exception) -> float:
        """Count and log a failure of a step; the delay to wait before the next (s)."""
        delay = min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 32))
        self.failures += 1
        log.error("task.failed", task=self.task, error=repr(error)[:1000],
                  error_type=type(error).__name__, failures=self.failures, retry_in_s=delay)
        return delay

    def succeeded(self) -> None:
        """A step of a task that runs its own loop got through: the next failure
        starts the backoff again from ``initial_s`` (logged ``task.recovered``)."""
        self._succeeded()

    def _succeeded(self) -> None:
        if self.failures:
            log.info("task.recovered", task=self.task, after_failures=self.failures)
        self.failures = 0
        self._not_before = 0.0

    async def once(self, step: Callable[[], Awaitable[object]]) -> bool:
        """For periodic steps (timers): run ``step`` unless still backing off from a
        failure; True if it ran and succeeded. Never raises but ``CancelledError``."""
        if self.clock() < self._not_before:
            return False
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._not_before = self.clock() + self.failed(error)
            return False
        self._succeeded()
        return True

    async def until_done(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step`` until it succeeds, sleeping the backoff after each failure."""
        while True:
            try:
                result = await step()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self.sleep(self.failed(error))
                continue
            self._succeeded()
            return result
