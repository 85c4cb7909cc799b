"""What query handlers read from, injected by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from infra.post_cache import RedisPostCache
from infra.redis_keys import RedisKeys
from infra.timeline_store import RedisTimelineStore
from ports.notifications import NotificationStore
from queries.hydration_cache import HydrationCache


@dataclass(frozen=True, slots=True)
class TimelinePolicy:
    max_entries: int = 800
    active_ttl_s: int = 7 * 24 * 3600
    rebuild_wait_s: float = 5.0


@dataclass(frozen=True, slots=True)
class QueryContext:
    pool: AsyncConnectionPool[AsyncConnection[TupleRow]]
    redis: Redis
    keys: RedisKeys
    post_cache: RedisPostCache | None = None
    timelines: RedisTimelineStore | None = None
    policy: TimelinePolicy = field(default_factory=TimelinePolicy)
    positions: Any = None
    """A shared ``queries.positions.PositionWatcher`` (one poller for all waiting reads)."""
    hydration: HydrationCache = field(default_factory=HydrationCache)
    """This process's hot post bodies and PostgreSQL loads under way (``queries.hydration``)."""
    notifications: NotificationStore | None = None
    """The notification groups (``queries.notifications``)."""
