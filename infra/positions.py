"""Where each projector records its position, read back (port
``ports.positions.ProjectionPositions``).

The projectors write their positions themselves, with the writes they stand
for (``projections.read_models`` in its transaction, ``projections.timelines``
by its advance script); this adapter only reads them, from where each one
writes: the timelines in Redis (``RedisKeys.projection_position``), every
other projector in PostgreSQL (``projection_positions``). A projector that
records its position somewhere new is added here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from redis.asyncio import Redis

from infra.database import AsyncPool
from infra.redis_keys import RedisKeys
from ports.projectors import PROJECTORS, TIMELINES

RECORDED_IN_REDIS: Final = frozenset({TIMELINES})
"""Projectors whose position is a Redis string; the others' is a row of
``projection_positions``."""


class RecordedPositions:
    """``ProjectionPositions``: one ``GET`` or one ``SELECT`` per projector read."""

    def __init__(self, pool: AsyncPool, redis: Redis, keys: RedisKeys) -> None:
        self.pool = pool
        self.redis = redis
        self.keys = keys

    async def position(self, projector: str) -> int:
        if projector in RECORDED_IN_REDIS:
            value = await self.redis.get(self.keys.projection_position(projector))
            return int(value) if value else 0
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s", (projector,)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def positions(self, projectors: Sequence[str] = PROJECTORS) -> dict[str, int]:
        return {name: await self.position(name) for name in projectors}
