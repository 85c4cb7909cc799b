"""What the HTTP layer holds for its lifetime, built by ``create_app``'s lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from commands.bus import CommandBus
from infra.database import AsyncPool
from infra.health import ProgressTracker
from infra.redis_keys import RedisKeys
from infra.search_index import ElasticsearchIndex
from infra.security import JwtTokens
from infra.settings import Settings
from infra.trend_counters import RedisTrendCounters
from queries.context import QueryContext


@dataclass
class ApiServices:
    settings: Settings
    bus: CommandBus
    queries: QueryContext
    tokens: JwtTokens
    pool: AsyncPool
    redis: Redis
    keys: RedisKeys
    search: ElasticsearchIndex
    """The search index (its position for /health, reads for /api/search)."""
    trends: RedisTrendCounters
    """The trend counters (reads for /api/trends/tags)."""
    progress: ProgressTracker = field(default_factory=ProgressTracker)
    """Since when each part has stood still, as this API process's /health saw it."""
