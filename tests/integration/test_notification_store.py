"""The PostgreSQL + Redis notifications store keeps the port's contract; every read
is checked from its Redis hashes and again from PostgreSQL alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aredis

from infra.database import AsyncPool
from infra.notification_store import PostgresNotificationStore, schema_sql
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


def test_migrating_again_locks_none_of_its_tables(settings: Settings) -> None:
    """``migrate`` runs at every process start, while workers write these tables: when
    all is there it must take no lock on them (a SHARE lock of CREATE INDEX IF NOT
    EXISTS, held to the end of the migration, can deadlock with a projector)."""
    with psycopg.connect(settings.postgres_conninfo) as conn:
        conn.execute(schema_sql().encode())
        locked = conn.execute(
            "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'ntf%%'").fetchall()
        conn.rollback()
    assert locked == []
