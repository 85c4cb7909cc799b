"""What several API processes (or parts starting together) share, on the real servers:
/health's memory of stalls in Redis, and migrations run at once on a new database."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
import redis.asyncio as aredis

from infra.database import drop_database, migrate
from infra.health import SharedProgress
from tests.conftest import make_settings


@pytest.fixture
async def progress_key(redis_client: aredis.Redis) -> AsyncIterator[str]:
    key = f"roost-test-{uuid.uuid4().hex[:10]}:health:progress"
    yield key
    await redis_client.delete(key)


async def test_a_stall_counts_from_the_first_look_of_any_process(
        redis_client: aredis.Redis, progress_key: str) -> None:
    first, second = (SharedProgress(redis_client, progress_key) for _ in range(2))
    assert await first.stalled({"p": (7, 0)}, 0, now=500.0) == {"p": 0.0}  # idle
    # Events wait from 501 on; the second process never looked before, yet knows.
    assert await first.stalled({"p": (7, 3)}, 0, now=501.0) == {"p": 1.0}
    assert await second.stalled({"p": (7, 3), "q": (2, 9)}, 0, now=530.0) == \
        {"p": 30.0, "q": 0.0}
    assert await first.stalled({"p": (7, 3), "q": (2, 9)}, 0, now=540.0) == \
        {"p": 40.0, "q": 10.0}
    assert await second.stalled({"p": (8, 2)}, 0, now=541.0) == {"p": 0.0}  # it moved
    assert await first.stalled({"p": (8, 2)}, 0, now=545.0) == {"p": 4.0}
    assert 0 < await redis_client.ttl(progress_key) <= SharedProgress.TTL_S


async def test_without_redis_each_process_judges_from_its_own_looks() -> None:
    unreachable = aredis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens
    progress = SharedProgress(unreachable, "roost-test:health:progress")
    try:
        assert await progress.stalled({"p": (7, 3)}, 0, now=10.0) == {"p": 0.0}
        assert await progress.stalled({"p": (7, 3)}, 0, now=25.0) == {"p": 15.0}
    finally:
        await unreachable.aclose()


def _migrate(dbname: str) -> None:
    migrate(make_settings(postgres_dbname=dbname))


def test_parts_migrating_a_new_database_at_once_all_succeed_and_apply_it_once() -> None:
    settings = make_settings()
    spawn = multiprocessing.get_context("spawn")
    migrators = [spawn.Process(target=_migrate, args=(settings.postgres_dbname,))
                 for _ in range(4)]
    try:
        for process in migrators:
            process.start()
        for process in migrators:
            process.join(120)
        assert [p.exitcode for p in migrators] == [0] * len(migrators)
        with psycopg.connect(settings.postgres_conninfo) as conn:
            applied = conn.execute("SELECT count(*) FROM schema_applied").fetchone()
        assert applied == (1,)
    finally:
        for process in migrators:
            if process.is_alive():
                process.kill()
        drop_database(settings)
