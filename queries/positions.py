"""Read-your-writes: wait until the projections a read uses reach a position.

Many requests may wait at once (each sent ``Roost-Min-Position``); one poller
per process reads each awaited projection's position and wakes them all, so
waiting costs PostgreSQL and Redis one small read per poll interval, however
many requests wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from ports.projectors import TIMELINES, TRENDS
from queries.context import QueryContext

POLL_S = 0.005


async def projection_position(ctx: QueryContext, name: str) -> int:
    if name in (TIMELINES, TRENDS):  # kept in Redis
        value = await ctx.redis.get(ctx.keys.projection_position(name))
        return int(value) if value else 0
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT position FROM projection_positions WHERE name = %s", (name,)
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


class PositionWatcher:
    """Shared, cached positions; positions only grow, so a cached one that is
    high enough answers at once."""

    def __init__(self, read: Callable[[str], Awaitable[int]]) -> None:
        self.read = read
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
                self.poller = asyncio.create_task(self._poll())
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
                    self.known[name] = max(self.known.get(name, 0), await self.read(name))
            async with self.changed:
                self.changed.notify_all()
            await asyncio.sleep(POLL_S)


async def wait_for_position(
    ctx: QueryContext, min_position: int | None, projections: tuple[str, ...], timeout_s: float
) -> bool:
    """True once every named projection has applied ``min_position``; False on timeout."""
    if not min_position:
        return True
    watcher = ctx.positions or PositionWatcher(lambda name: projection_position(ctx, name))
    deadline = time.monotonic() + timeout_s
    for name in projections:
        remaining = max(0.0, deadline - time.monotonic())
        if not await watcher.wait(name, min_position, remaining):
            return False
    return True
