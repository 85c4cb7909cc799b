"""The store ports' contracts (``tests/contracts``) against the real adapters: the post
cache on Redis, the projectors' positions where the projectors record them (PostgreSQL
and Redis), the parking lot on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis

from infra import devstack
from infra.bootstrap import ProjectionServices
from infra.database import AsyncPool
from infra.parking import PostgresParkingLot
from infra.positions import RecordedPositions
from infra.post_cache import RedisPostCache
from infra.redis_keys import RedisKeys
from infra.timeline_store import RedisTimelineStore
from ports.timelines import TimelineStore
from tests.conftest import clear_redis_prefix, make_settings
from tests.contracts.parking import ParkingLotContract
from tests.contracts.positions import ProjectionPositionsContract, Record
from tests.contracts.post_cache import PostCacheContract
from tests.contracts.timelines import MAX_ENTRIES, TimelineStoreContract


class TestRedisPostCache(PostCacheContract):
    @pytest.fixture
    def cache(self, services: ProjectionServices, keys: RedisKeys) -> RedisPostCache:
        return RedisPostCache(services.redis, keys, ttl_s=60)

    @pytest.fixture
    async def unreachable(self, keys: RedisKeys) -> AsyncIterator[RedisPostCache]:
        client = aredis.Redis(port=devstack.free_port(), socket_connect_timeout=1)
        yield RedisPostCache(client, keys)
        await client.aclose()


class TestRecordedPositions(ProjectionPositionsContract):
    @pytest.fixture
    def positions(self, services: ProjectionServices, keys: RedisKeys) -> RecordedPositions:
        return RecordedPositions(services.pool, services.redis, keys, services.search)

    @pytest.fixture
    def record(self, services: ProjectionServices) -> Record:
        async def record(projector: str, position: int) -> None:
            await services.projectors[projector].advance(position)  # its own write
        return record


class TestPostgresParkingLot(ParkingLotContract):
    @pytest.fixture
    def lot(self, pool: AsyncPool) -> PostgresParkingLot:
        return PostgresParkingLot(pool)


class TestRedisTimelineStore(TimelineStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[TimelineStore]:
        settings = make_settings()  # a key prefix of this test's own
        client = aredis.Redis.from_url(settings.redis_url)
        try:
            yield RedisTimelineStore(client, RedisKeys(settings.redis_prefix),
                                     max_entries=MAX_ENTRIES, batch=3)
        finally:
            await client.aclose()
            clear_redis_prefix(settings)
