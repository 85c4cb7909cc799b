"""The SSE sender over real HTTP (uvicorn in this process), on the notifications channel
with a test renderer: what the notifications projection will plug in (issue 10).

Events are published straight through the Redis publisher; nothing projects, so the
wait for the read models is made short.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from infra import devstack
from infra.http.app import create_app
from infra.live import RedisLivePublisher
from infra.redis_clients import async_redis, build_sync_redis
from infra.redis_keys import RedisKeys
from infra.security import RedisRevocations
from infra.settings import Settings
from ports.live import NOTIFICATIONS_CHANNEL, LiveEvent
from queries.context import QueryContext
from tests.integration.apphost import served_app, sign_up
from tests.integration.conftest import SettingsFactory
from tests.sse import Sse, SseParser


async def render_notification(reader_id: int, data: Mapping[str, Any], _position: int
                              ) -> dict[str, Any] | None:
    """A stand-in for ``queries.notifications.notification_for``: ``None`` hides a group."""
    if data["id"] == "hidden":
        return None
    return {"id": data["id"], "type": "like", "reader": str(reader_id)}


def renderers(_ctx: QueryContext) -> dict[tuple[str, str], Any]:
    return {(NOTIFICATIONS_CHANNEL, "notification"): render_notification}


@pytest.fixture
async def served(settings_factory: SettingsFactory) -> AsyncIterator[tuple[Settings, str]]:
    settings = settings_factory(api_port=devstack.free_port(), live_keepalive_s=0.2,
                                min_position_wait_s=0.01, live_max_streams_per_account=2)
    async with served_app(settings, create_app(settings, live_renderers=renderers)) as base:
        yield settings, base


class Reader:
    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.parser = SseParser()

    async def next(self, events: int = 1, timeout: float = 10.0) -> list[Sse]:
        got: list[Sse] = []
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                item = self.parser.feed(line)
                if item is not None and item.comment is None:
                    got.append(item)
                    if len(got) == events:
                        return got
        raise AssertionError(f"the stream ended after {got}")

    async def ping(self, timeout: float = 10.0) -> str:
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                item = self.parser.feed(line)
                if item is not None:
                    assert item.comment is not None, item
                    return item.comment
        raise AssertionError("the stream ended")


@contextlib.asynccontextmanager
async def stream(client: httpx.AsyncClient, token: str, last_event_id: str | None = None,
                 via_query: bool = False) -> AsyncIterator[Reader]:
    headers = {} if via_query else {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    params = {"access_token": token} if via_query else {}
    async with client.stream("GET", "/api/streaming/notifications", headers=headers,
                             params=params) as response:
        assert response.status_code == 200, await response.aread()
        yield Reader(response)


def note(account: int, position: int, group: str, seq: int = 0) -> LiveEvent:
    return LiveEvent(account, NOTIFICATIONS_CHANNEL, position, seq, "notification",
                     {"id": group})


async def test_notifications_stream_renders_skips_resumes_and_limits(
        served: tuple[Settings, str]) -> None:
    settings, base = served
    client_redis = async_redis(settings.redis_url, settings.redis_cluster)
    publisher = RedisLivePublisher(client_redis, settings.redis_prefix)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=20)) as client:
            user = await sign_up(client, "noted")
            me = int(user.id)
            async with stream(client, user.token) as reader:
                await publisher.publish([note(me, 3, "g1"), note(me, 3, "hidden", 1),
                                         note(me + 1, 4, "not mine"), note(me, 5, "g2")])
                first, second = await reader.next(2)
                assert (first.event, first.id, first.data) == \
                    ("notification", "3-0", {"id": "g1", "type": "like", "reader": user.id})
                assert (second.id, second.data["id"]) == ("5-0", "g2")
                assert "ping" in await reader.ping()  # the keep-alive comment
            await publisher.publish([note(me, 6, "g3"), note(me, 7, "g4")])
            async with stream(client, user.token, "5-0", via_query=True) as reader:
                assert [(e.id, e.data["id"]) for e in await reader.next(2)] == \
                    [("6-0", "g3"), ("7-0", "g4")]
                async with stream(client, user.token, "not-an-id") as too_old:
                    (reset,) = await too_old.next(1)
                    assert (reset.event, reset.id) == ("reset", "7-0")
                    limited = await client.get("/api/streaming/notifications",
                                               headers={"Authorization": f"Bearer {user.token}"})
                    assert limited.status_code == 429
                    assert limited.headers["Retry-After"].isdigit()
                    assert limited.json()["error"]["code"] == "rate_limited"
                    await publisher.publish([note(me, 8, "g5")])
                    assert (await too_old.next(1))[0].id == "8-0"
                    assert (await reader.next(1))[0].id == "8-0"
            for bad in ({}, {"Authorization": "Bearer nope"}):
                refused = await client.get("/api/streaming/notifications", headers=bad)
                assert refused.status_code == 401
                assert set(refused.json()["error"]) == {"code", "message", "details"}
    finally:
        await client_redis.aclose()


async def test_a_logout_or_a_suspension_ends_open_streams_before_any_later_event(
        settings_factory: SettingsFactory) -> None:
    """The token was checked when the stream opened; an open stream asks again before
    each batch and while idle, so a session ended (logout) or an account suspended
    stops getting events at once and is told why."""
    settings = settings_factory(api_port=devstack.free_port(), live_keepalive_s=0.2,
                                min_position_wait_s=0.01, live_session_recheck_s=0.2)
    client_redis = async_redis(settings.redis_url, settings.redis_cluster)
    publisher = RedisLivePublisher(client_redis, settings.redis_prefix)
    revocations = RedisRevocations(build_sync_redis(settings),
                                   RedisKeys(settings.redis_prefix))
    try:
        async with served_app(settings, create_app(settings, live_renderers=renderers)
                              ) as base, httpx.AsyncClient(
                base_url=base, timeout=httpx.Timeout(10, read=20)) as client:
            leaving, suspended = (await sign_up(client, "leaving"),
                                  await sign_up(client, "suspended"))
            async with stream(client, leaving.token) as reader:
                await publisher.publish([note(int(leaving.id), 3, "before")])
                assert (await reader.next(1))[0].data["id"] == "before"
                out = await client.delete("/api/sessions/current",
                                          headers={"Authorization": f"Bearer {leaving.token}"})
                assert out.status_code == 204, out.text
                await publisher.publish([note(int(leaving.id), 4, "after")])
                (gone,) = await reader.next(1)
                assert (gone.event, gone.data["reason"]) == ("disconnect", "session_ended")
            async with stream(client, suspended.token) as reader:
                await reader.ping()  # open, and idle
                revocations.set_account_suspended(int(suspended.id), True)
                (gone,) = await reader.next(1)  # while idle: within the recheck
                assert (gone.event, gone.data["reason"]) == ("disconnect", "account_suspended")
    finally:
        await client_redis.aclose()
        revocations.close()
