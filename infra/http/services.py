"""What the HTTP layer holds for its lifetime, built by ``create_app``'s lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from commands.bus import CommandBus
from infra.database import AsyncPool
from infra.redis_keys import RedisKeys
from infra.security import JwtTokens
from infra.settings import Settings
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
