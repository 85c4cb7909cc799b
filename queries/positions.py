"""Read-your-writes: wait until the projections a read uses reach a position."""

from __future__ import annotations

import asyncio
import time

from queries.context import QueryContext

POLL_S = 0.01


async def projection_position(ctx: QueryContext, name: str) -> int:
    if name == "timelines":
        value = await ctx.redis.get(ctx.keys.projection_position(name))
        return int(value) if value else 0
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT position FROM projection_positions WHERE name = %s", (name,)
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def wait_for_position(
    ctx: QueryContext, min_position: int | None, projections: tuple[str, ...], timeout_s: float
) -> bool:
    """True once every named projection has applied ``min_position``; False on timeout."""
    if not min_position:
        return True
    deadline = time.monotonic() + timeout_s
    pending = list(projections)
    while True:
        pending = [n for n in pending if await projection_position(ctx, n) < min_position]
        if not pending:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
