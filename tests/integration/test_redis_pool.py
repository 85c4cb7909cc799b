"""A process's async Redis client (``build_async_redis``): when every connection of its
pool is in use, a command waits for one (redis-py's default pool raises at once), and
gives up after ``ROOST_REDIS_POOL_TIMEOUT_S`` with an error counted as an outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError

from infra.failures import is_transient
from infra.redis_clients import async_redis, build_async_redis
from infra.settings import Settings
from tests.conftest import REDIS_CLUSTER, make_settings
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.skipif(
    REDIS_CLUSTER, reason="a single Redis's pool: redis-py's cluster client keeps a pool "
    "per node, which raises when exhausted (infra/redis_clients.py)")


@pytest.fixture
async def observer() -> AsyncIterator[aredis.Redis]:
    client = async_redis(make_settings().redis_url, make_settings().redis_cluster)
    try:
        yield client
    finally:
        await client.aclose()


async def _hold_both(client: aredis.Redis, observer: aredis.Redis, key: str
                     ) -> list[asyncio.Task[object]]:
    """Both pooled connections of ``client`` blocked in ``BLPOP key`` until pushed."""
    async def pop() -> object:
        got = await client.blpop([key], timeout=30)
        assert got is not None
        return got[1]

    held = [asyncio.create_task(pop()) for _ in range(2)]

    async def blocked() -> bool:
        listed = await observer.client_list()
        return sum(1 for c in listed if c.get("name") == name and c.get("cmd") == "blpop") == 2

    name = client.connection_pool.connection_kwargs["client_name"]

    await wait_until(blocked, message="both connections blocked")
    return held


def _settings(**overrides: object) -> Settings:
    """Two connections, each named for this test (``CLIENT LIST`` shows them)."""
    base = make_settings()
    return make_settings(redis_url=f"{base.redis_url}?client_name=pool-{uuid.uuid4().hex}",
                         redis_max_connections=2, **overrides)


async def test_a_command_waits_for_a_free_connection_instead_of_failing(
        observer: aredis.Redis) -> None:
    settings = _settings(redis_pool_timeout_s=20)
    client = build_async_redis(settings)
    key = f"{settings.redis_prefix}pool-wait"
    assert isinstance(client.connection_pool, aredis.BlockingConnectionPool)
    assert client.connection_pool.max_connections == 2
    try:
        held = await _hold_both(client, observer, key)
        async def ping() -> bool:
            return bool(await client.ping())

        pinged = asyncio.create_task(ping())
        for _ in range(5):  # a few turns of the loop: the default pool would raise here
            await asyncio.sleep(0)
        assert not pinged.done()
        await observer.rpush(key, "a", "b")  # frees both connections
        assert await asyncio.wait_for(pinged, 10) is True
        popped = await asyncio.gather(*held)
        assert sorted(map(str, popped)) == [str(b"a"), str(b"b")]
    finally:
        await observer.unlink(key)
        await client.aclose()


async def test_a_command_gives_up_after_the_pool_timeout_as_an_outage(
        observer: aredis.Redis) -> None:
    settings = _settings(redis_pool_timeout_s=0.2)
    client = build_async_redis(settings)
    key = f"{settings.redis_prefix}pool-timeout"
    try:
        held = await _hold_both(client, observer, key)
        with pytest.raises(RedisConnectionError) as refused:
            await asyncio.wait_for(client.ping(), 10)
        assert is_transient(refused.value)  # 503 at the API, a retry in a worker
        await observer.rpush(key, "a", "b")
        await asyncio.gather(*held)
    finally:
        await observer.unlink(key)
        await client.aclose()
