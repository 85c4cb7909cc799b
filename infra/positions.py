"""Where each projector records its position, read back (port
``ports.positions.ProjectionPositions``).

The projectors write their positions themselves, with the writes they stand
for (``projections.read_models`` in its transaction, ``projections.timelines``
by its advance script); this adapter only reads them, from where each one
writes: the timelines and the trends in Redis (``RedisKeys.projection_position``),
the search index in Elasticsearch (its own state document, read through the
index's adapter), every other projector in PostgreSQL (``projection_positions``).
A projector that records its position somewhere new is added here. A Redis
position is the live copy's (``infra.redis_copies``): the pointer is read in the
same pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from redis.asyncio import Redis

from infra.database import AsyncPool
from infra.redis_copies import LivePointer
from infra.redis_keys import RedisKeys
from ports.projectors import PROJECTORS, SEARCH, TIMELINES, TRENDS
from ports.search import SearchIndexReader

RECORDED_IN_REDIS: Final = frozenset({TIMELINES, TRENDS})
"""Projectors whose position is a Redis string; the others' is a row of
``projection_positions``."""


class RecordedPositions:
    """``ProjectionPositions``: one round trip (``GET`` pointer and position, or one
    ``SELECT``) per projector read."""

    def __init__(self, pool: AsyncPool, redis: Redis, keys: RedisKeys,
                 search: SearchIndexReader | None = None) -> None:
        self.pool = pool
        self.redis = redis
        self.keys = keys
        self.search = search
        """The search index, which keeps its own position (0 without one)."""
        self.pointers = {name: LivePointer(redis, keys, name) for name in RECORDED_IN_REDIS}

    async def position(self, projector: str) -> int:
        """Raises ``ports.errors.DependencyUnavailable`` when the search index does not
        answer (for ``search_index``), psycopg / redis-py errors otherwise."""
        if projector == SEARCH:
            return await self.search.position() if self.search is not None else 0
        if projector in RECORDED_IN_REDIS:
            pointer = self.pointers[projector]
            _, [value] = await pointer.checked(lambda pipe, label: pipe.get(
                pointer.keys(label).projection_position(projector)))
            return int(value) if value else 0
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s", (projector,)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def positions(self, projectors: Sequence[str] = PROJECTORS) -> dict[str, int]:
        return {name: await self.position(name) for name in projectors}
