"""Stopping a background task without trusting its cancellation to arrive.

``Task.cancel()`` only asks: a library may lose the ``CancelledError`` on the way.
redis-py's reads under a timeout are known to (redis/redis-py#2028, #2551: a cancel
that lands inside ``async with timeout(...)`` comes out as a ``TimeoutError``, which
its retry turns into another attempt, or as nothing at all). Seen here: a projector
lease's renewal task outlived its cancel, went on renewing the lease every 1.7 s, and
the holder's ``await keeper`` waited for ever -- the timelines projection stopped for
good under a 200 posts/s load. So a loop that must end also checks a flag of its own,
and whoever stops it waits a bounded time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def stop_task(task: asyncio.Task[Any], within_s: float) -> BaseException | None:
    """Cancel ``task`` and wait at most ``within_s`` seconds for it to end.

    Returns the error the task ended with (``None`` when it was cancelled, returned,
    or is still running after ``within_s``: that is logged as ``task.not_stopped``,
    and the task is left running, to end on its own flag once the await it is in
    returns). Never raises but the caller's own ``CancelledError``.
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        log.error("task.not_stopped", task=task.get_name(), waited_s=within_s)
        return None
    if task.cancelled():
        return None
    return task.exception()
