"""Idempotency-Keys are as durable as the events: through the real app, in-process.

Redis is only the fast path. These tests take it away at the worst moments --
the write after the append fails, the record expires, Redis is gone -- and a
retry must still answer the original result without appending again.
PostgreSQL gone: writes answer 503 with Retry-After at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError

from infra import devstack
from infra.event_store import PostgresEventStore
from infra.http.app import create_app
from infra.http.idempotency import _FINISH
from infra.redis_clients import async_redis
from infra.settings import Settings
from tests.integration.apphost import ApiUser, running_app, sign_up
from tests.integration.conftest import SettingsFactory, store_max_position


class FailingFinish:
    """The app's Redis client, except that storing an idempotency result fails
    (as when Redis drops right after the append)."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def eval(self, script: str, *args: Any) -> Any:
        if script == _FINISH:
            self.failed += 1
            raise RedisConnectionError("connection dropped")
        return await self.client.eval(script, *args)


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(min_position_wait_s=0.2)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as app_client:
        yield app_client


async def _forget_redis_records(settings: Settings) -> int:
    redis = async_redis(settings.redis_url, settings.redis_cluster)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}idempotency:*")]
        return int(await redis.delete(*keys)) if keys else 0
    finally:
        await redis.aclose()


async def _post(user: ApiUser, text: str, key: str) -> httpx.Response:
    return await user.request("POST", "/api/posts", json={"text": text},
                              headers={"Idempotency-Key": key})


def _services(client: httpx.AsyncClient) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.services  # type: ignore[attr-defined]


async def test_a_retry_after_redis_failed_to_store_the_result_is_not_posted_twice(
        settings: Settings, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    services = _services(client)
    failing = FailingFinish(services.redis)
    services.redis = failing
    first = await _post(alice, "exactly once", "k-1")
    assert first.status_code == 201 and failing.failed == 1
    after_first = store_max_position(settings)
    again = await _post(alice, "exactly once", "k-1")
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Roost-Position"] == first.headers["Roost-Position"]
    assert again.headers["Idempotency-Replayed"] == "true"
    assert store_max_position(settings) == after_first  # nothing appended


async def test_a_retry_after_the_redis_record_is_gone_still_answers_the_original(
        settings: Settings, client: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    posted = await _post(alice, "once", "k-2")
    followed = await alice.request("POST", "/api/accounts/bob/follow",
                                   headers={"Idempotency-Key": "k-3"})
    assert (posted.status_code, followed.status_code) == (201, 200)
    assert await _forget_redis_records(settings) == 2
    before = store_max_position(settings)
    # Between the two, alice unfollows: a replayed follow must not follow again.
    unfollowed = await alice.request("DELETE", "/api/accounts/bob/follow")
    assert unfollowed.json()["following"] is False
    after_unfollow = store_max_position(settings)
    assert after_unfollow > before
    again = await _post(alice, "once", "k-2")
    assert (again.status_code, again.json()["id"]) == (201, posted.json()["id"])
    follow_again = await alice.request("POST", "/api/accounts/bob/follow",
                                       headers={"Idempotency-Key": "k-3"})
    assert follow_again.status_code == 200
    assert follow_again.json() == followed.json()
    assert follow_again.headers["Roost-Position"] == followed.headers["Roost-Position"]
    assert store_max_position(settings) == after_unfollow  # nothing appended by either
    assert bob.username == "bob"


async def test_the_durable_record_refuses_the_key_for_another_request(
        settings: Settings, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    assert (await _post(alice, "first", "k-4")).status_code == 201
    await _forget_redis_records(settings)
    before = store_max_position(settings)
    other = await _post(alice, "second", "k-4")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert store_max_position(settings) == before


async def test_the_same_key_from_another_account_is_another_key(
        settings: Settings, client: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    a = await _post(alice, "same text", "shared")
    await _forget_redis_records(settings)
    b = await _post(bob, "same text", "shared")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


async def test_redis_down_a_keyed_write_answers_503_with_retry_after_not_500(
        settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{devstack.free_port()}/0"})
    async with running_app(down, create_app(down)) as client:
        started = time.monotonic()
        answer = await client.post("/api/accounts", headers={"Idempotency-Key": "k-5"},
                                   json={"username": "carol", "email": "c@example.com",
                                         "password": "correct horse battery"})
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"]
        assert time.monotonic() - started < 2


async def test_postgres_down_a_write_answers_503_with_retry_after_at_once(
        settings: Settings, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    # The event store's connections now lead to a port where nothing listens.
    store: PostgresEventStore = _services(client).bus.context.store
    pool = store.recorder.datastore.pool  # type: ignore[attr-defined]
    pool.kwargs["port"] = devstack.free_port()
    pool.drain()
    try:
        for headers in ({}, {"Idempotency-Key": "k-6"}):
            started = time.monotonic()
            answer = await alice.request("POST", "/api/posts", json={"text": "hello"},
                                         headers=headers)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"]
            assert time.monotonic() - started < 2.5
    finally:
        pool.kwargs["port"] = settings.postgres_port
