"""What query handlers read from, injected by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from infra.redis_keys import RedisKeys


@dataclass(frozen=True, slots=True)
class QueryContext:
    pool: AsyncConnectionPool[AsyncConnection[TupleRow]]
    redis: Redis
    keys: RedisKeys
