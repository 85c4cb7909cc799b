"""The PostgreSQL + Redis notifications store keeps the port's contract; every read
is checked from its Redis hashes and again from PostgreSQL alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aredis

from infra.database import AsyncPool
from infra.notification_store import PostgresNotificationStore
from infra.settings import Settings
from tests.contracts.notification_store import NotificationStoreContract


class TestPostgresNotificationStore(NotificationStoreContract):
    @pytest.fixture
    async def store(self, pool: AsyncPool, redis_client: aredis.Redis, settings: Settings
                    ) -> AsyncIterator[PostgresNotificationStore]:
        yield PostgresNotificationStore(pool, redis_client, settings.redis_prefix,
                                        hot_groups=3)

    async def forget_cache(self, store: Any) -> None:
        keys = [key async for key in store.redis.scan_iter(match=f"{store.prefix}notif:*")]
        if keys:
            await store.redis.unlink(*keys)
