"""Deleting a family of Redis keys (a projection's reset)."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis


async def unlink_matching(redis: Redis, pattern: str, batch_size: int = 1000,
                          where: Callable[[bytes], bool] | None = None) -> None:
    """``UNLINK`` every key matching ``pattern`` (a ``SCAN`` glob) and, if given, ``where``,
    ``batch_size`` keys a call. Keys written while it scans may be left; redis-py
    errors propagate."""
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=batch_size):
        if where is not None and not where(key):
            continue
        batch.append(key)
        if len(batch) >= batch_size:
            await redis.unlink(*batch)
            batch.clear()
    if batch:
        await redis.unlink(*batch)
