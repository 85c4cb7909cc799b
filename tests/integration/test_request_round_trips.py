"""The Redis round trips of a warm home-timeline read over HTTP (the real app in this
process, the real Redis and PostgreSQL), counted on every Redis connection
(``tests.redis_round_trips``), and what sharing round trips must not change: a
revoked session or a suspended account is still refused, a spent budget is still
429 with ``Retry-After``.

A warm read sends the request's overhead (the rate-limit charge and the token's
revocation check) in one pipeline, then the timeline's first reads (the live-copy
pointer, keep-alive, celebrities, the followed ones, the slices) in one more; what
hydration sends after is not counted here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aredis

from commands.bus import CommandBus
from commands.messages import Actor, SetFollow
from infra.bootstrap import build_command_bus, build_projections, close_command_bus
from infra.lua import PipelinedScript, loading
from infra.redis_keys import RedisKeys
from infra.security import JwtTokens, RedisRevocations
from infra.settings import Settings
from tests.conftest import REDIS_CLUSTER
from tests.integration.apphost import running_app
from tests.integration.conftest import signup
from tests.integration.pipeline import post, project_everything
from tests.redis_round_trips import RoundTrips, counting_round_trips

pytestmark = pytest.mark.skipif(
    REDIS_CLUSTER, reason="counts one Redis's round trips: a cluster pipeline is one per "
    "node, scripts go as EVAL, and a home read's first reads are apart "
    "(docs/architecture.md, \"Redis key layout and hash tags\")")

HOME = "/api/timelines/home?limit=5"
TIMELINE_READS = {"EXPIRE", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "ZRANGE"}
"""Commands of the timeline's first reads, sent one by one before (the script sends
them inside Redis now: none of them may appear as a command of its own)."""


@dataclass
class World:
    settings: Settings
    bus: CommandBus
    reader: Actor
    star: Actor
    headers: dict[str, str]


@pytest.fixture
async def world(settings_factory: Callable[..., Settings]) -> AsyncIterator[World]:
    """A reader following an author and a celebrity (two followers: above the
    threshold of 1), both of whom posted; every projection applied."""
    settings = settings_factory(celebrity_threshold=1)
    bus = build_command_bus(settings)
    try:
        reader, author, star, fan = (signup(bus, name) for name in
                                     ("reader", "author", "star", "fan"))
        for follower, followee in ((reader, author), (reader, star), (fan, star)):
            bus.handle(SetFollow(actor=follower, username=followee.username, active=True))
        for n in range(3):
            post(bus, author, f"author post {n}")
            post(bus, star, f"star post {n}")
        services = await build_projections(settings)
        try:
            await project_everything(services)
            assert await services.redis.sismember(RedisKeys(settings.redis_prefix)
                                                  .celebrities(), str(star.account_id))
        finally:
            await services.close()
        token = JwtTokens(settings).access_token(reader.account_id, reader.username,
                                                 reader.session_id)
        yield World(settings, bus, reader, star, {"Authorization": f"Bearer {token}"})
    finally:
        close_command_bus(bus)


async def warm_read(client: httpx.AsyncClient, world: World) -> tuple[RoundTrips, Any]:
    """Two reads to warm (the timeline kept, scripts loaded, posts cached), then one
    counted: its round trips and its answer."""
    for _ in range(2):
        assert (await client.get(HOME, headers=world.headers)).status_code == 200
    with counting_round_trips() as trips:
        answer = await client.get(HOME, headers=world.headers)
    assert answer.status_code == 200, answer.text
    return trips, answer.json()


async def test_a_warm_home_read_spends_one_round_trip_on_overhead_and_one_on_the_timeline(
        world: World) -> None:
    async with running_app(world.settings) as client:
        trips, page = await warm_read(client, world)
    texts = [item["text"] for item in page["items"]]
    assert texts[:2] == ["star post 2", "author post 2"]  # the celebrity's merged in
    overhead, timeline, *rest = trips.sent
    assert sorted(overhead) == ["EVALSHA", "EXISTS", "EXISTS"], trips  # charge + token
    assert sorted(timeline) == ["EVALSHA", "GET"], trips  # pointer + open_home
    assert not [names for names in rest if TIMELINE_READS & set(names)], trips
    assert not [names for names in rest if {"EXISTS", "SCRIPT"} & set(names)], trips


async def test_a_held_page_is_hydrated_in_one_round_trip(world: World) -> None:
    """A page whose bodies the process holds (warm): its counts in one script call and
    the authors', reposts' and reader's facts in one MGET and one HMGET, all in one
    pipeline -- not a command per post (each reply costs redis-py a timeout), and not
    a round trip per cache. So a warm read is three round trips in all."""
    async with running_app(world.settings) as client:
        trips, page = await warm_read(client, world)
    assert len(page["items"]) == 5
    _, _, *hydration = trips.sent
    assert [sorted(names) for names in hydration] == [["EVALSHA", "HMGET", "MGET"]], trips


async def test_a_page_below_a_cursor_is_read_the_same_way(world: World) -> None:
    async with running_app(world.settings) as client:
        first = (await client.get("/api/timelines/home?limit=2",
                                  headers=world.headers)).json()
        with counting_round_trips() as trips:
            answer = await client.get("/api/timelines/home?limit=2&cursor="
                                      + first["next_cursor"], headers=world.headers)
    assert [item["text"] for item in answer.json()["items"]] == ["star post 1",
                                                                 "author post 1"]
    assert sorted(trips.sent[1]) == ["EVALSHA", "GET"], trips


async def test_a_revoked_session_is_still_refused(world: World) -> None:
    client_redis = redis.Redis.from_url(world.settings.redis_url)
    revocations = RedisRevocations(client_redis, RedisKeys(world.settings.redis_prefix))
    try:
        async with running_app(world.settings) as client:
            assert (await client.get(HOME, headers=world.headers)).status_code == 200
            revocations.revoke(world.reader.session_id, 60)
            refused = await client.get(HOME, headers=world.headers)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] == "session_ended"
            revocations.set_account_suspended(world.reader.account_id, True)
            suspended = await client.get(HOME, headers=world.headers)
            assert suspended.status_code == 403, suspended.text
            assert suspended.json()["error"]["code"] == "account_suspended"
    finally:
        revocations.close()


async def test_a_spent_request_budget_is_still_429_with_retry_after(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(rate_limit_requests="2/60", rate_limit_multiplier=1.0)
    bus = build_command_bus(settings)
    try:
        reader = signup(bus, "reader")
    finally:
        close_command_bus(bus)
    token = JwtTokens(settings).access_token(reader.account_id, reader.username,
                                             reader.session_id)
    headers = {"Authorization": f"Bearer {token}"}
    async with running_app(settings) as client:
        answers = [await client.get(HOME, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
    assert answers[1].headers["X-RateLimit-Remaining"] == "0"
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert answers[2].json()["error"]["code"] == "rate_limited"


async def test_a_script_redis_lacks_is_loaded_and_its_pipeline_sent_again(
        settings: Settings) -> None:
    """A script new to Redis (as after a restart): the pipeline meets NOSCRIPT, the
    script is loaded, the pipeline runs again; the next run is one round trip."""
    script = PipelinedScript(f"-- {uuid.uuid4()}\nreturn redis.call('INCR', KEYS[1])")
    key = f"{settings.redis_prefix}counter"
    client = aredis.Redis.from_url(settings.redis_url)

    async def run() -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            script.queue(pipe, [key], [])
            found: list[Any] = await pipe.execute()
            return found

    try:
        await client.ping()  # connected: its handshake is no round trip of the run
        with counting_round_trips() as trips:
            assert await loading(client, [script], run) == [0, 1]  # INCR ran once
        assert [names[0] for names in trips.sent] == ["EXISTS", "SCRIPT", "EXISTS"]
        with counting_round_trips() as trips:
            assert await loading(client, [script], run) == [1, 2]
        assert len(trips) == 1
    finally:
        await client.aclose()
