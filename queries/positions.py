"""Read-your-writes: wait until the projections a read uses reach a position.

Many requests may wait at once (each sent ``Roost-Min-Position``); one poller
per process reads each awaited projection's position (through the port
``ports.positions.ProjectionPositions``) and wakes them all, so waiting costs
the stores one small read per awaited projection per poll interval, however
many requests wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import Counter

from ports.positions import ProjectionPositions
from queries.context import QueryContext

POLL_S = 0.005


class PositionWatcher:
    """Shared, cached positions; positions only grow, so a cached one that is
    high enough answers at once."""

    def __init__(self, positions: ProjectionPositions) -> None:
        self.positions = positions
        self.known: dict[str, int] = {}
        self.waiting: Counter[str] = Counter()
        self.changed = asyncio.Condition()
        self.poller: asyncio.Task[None] | None = None

    async def wait(self, name: str, min_position: int, timeout_s: float) -> bool:
        if self.known.get(name, 0) >= min_position:
            return True
        self.waiting[name] += 1
        try:
            if self.poller is None or self.poller.done():
                # the process's poller, not this request's: none of its context
                # (a charge waiting to ride along, infra.ride_along) goes with it
                self.poller = asyncio.create_task(self._poll(), context=contextvars.Context())
            async with self.changed:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: self.known.get(name, 0) >= min_position),
                    timeout_s,
                )
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting[name] -= 1
            if self.waiting[name] <= 0:
                del self.waiting[name]

    async def _poll(self) -> None:
        while self.waiting:
            for name in list(self.waiting):
                with contextlib.suppress(Exception):  # a failed poll is retried next time
                    position = await self.positions.position(name)
                    self.known[name] = max(self.known.get(name, 0), position)
            async with self.changed:
                self.changed.notify_all()
            await asyncio.sleep(POLL_S)


async def wait_for_position(
    ctx: QueryContext, min_position: int | None, projections: tuple[str, ...], timeout_s: float
) -> bool:
    """True once every named projection has applied ``min_position``; False on timeout.

    Raises:
        ValueError: ``ctx`` has no ``positions`` to wait on.
    """
    if not min_position:
        return True
    watcher = ctx.position_watcher
    if watcher is None:
        if ctx.positions is None:
            raise ValueError("this QueryContext has no positions to wait on")
        watcher = PositionWatcher(ctx.positions)
    deadline = time.monotonic() + timeout_s
    for name in projections:
        remaining = max(0.0, deadline - time.monotonic())
        if not await watcher.wait(name, min_position, remaining):
            return False
    return True
