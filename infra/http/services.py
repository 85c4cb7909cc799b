"""What the HTTP layer holds for its lifetime, built by ``infra.bootstrap.build_api``."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from redis.asyncio import Redis

from commands.bus import CommandBus
from infra.database import AsyncPool
from infra.event_reader import PostgresEventReader
from infra.health import SharedProgress
from infra.http.streaming import LiveServices
from infra.media_processing import MediaProcessor
from infra.rate_limiter import RateLimiter
from infra.redis_keys import RedisKeys
from infra.search_index import ElasticsearchIndex
from infra.security import JwtTokens
from infra.settings import Settings
from infra.trend_counters import RedisTrendCounters
from ports.media_store import MediaStore
from ports.positions import ProjectionPositions
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
    positions: ProjectionPositions
    """Where each projector has got to (``/health``, ``/metrics``; the query side's
    read-your-writes polls the same)."""
    rate_limiter: RateLimiter
    search: ElasticsearchIndex
    """The search index (reads for /api/search; its client for /health)."""
    trends: RedisTrendCounters
    """The trend counters (reads for /api/trends/tags)."""
    events: PostgresEventReader
    """The stored events by filter (the admin events API)."""
    media_store: MediaStore
    """Where media bytes are written and read (``build_media_store``)."""
    media_processor: MediaProcessor
    """The process pool that validates and re-encodes uploads."""
    progress: SharedProgress
    """Since when each part has stood still, as every API process's /health saw it."""
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)
    """Closes what ``build_api`` opened (event store, pool, Redis clients), last first."""
    live: LiveServices | None = None
    """The live streams (``/api/streaming``): this process's reader, slots, renderers."""

    async def close(self) -> None:
        """Close every connection the services hold; safe to call twice."""
        await self.resources.aclose()
