"""Trends on Redis: the counters' contract (``tests/contracts/trends.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis

from infra import devstack
from infra.redis_keys import RedisKeys
from infra.trend_counters import RedisTrendCounters
from tests.contracts.trends import TrendCountersContract


class TestRedisTrendCounters(TrendCountersContract):
    @pytest.fixture
    def counters(self, redis_client: aredis.Redis, keys: RedisKeys) -> RedisTrendCounters:
        return RedisTrendCounters(redis_client, keys)

    @pytest.fixture
    async def unreachable(self, keys: RedisKeys) -> AsyncIterator[RedisTrendCounters]:
        client = aredis.Redis(port=devstack.free_port(), socket_connect_timeout=1)
        yield RedisTrendCounters(client, keys)
        await client.aclose()
