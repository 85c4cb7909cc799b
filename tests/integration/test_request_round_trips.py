"""The Redis round trips of a warm home-timeline read over HTTP (the real app in this
process, the real Redis and PostgreSQL), counted on every Redis connection
(``tests.redis_round_trips``), and what sharing round trips must not change: a
revoked session or a suspended account is still refused, a spent budget is still
429 with ``Retry-After``.

Every test here runs twice: with the home read's hot path (``infra.http.hot_home``) and
with the FastAPI route alone (``ROOST_API_HOT_HOME=false``).

A warm read sends the request's overhead (the rate-limit charge and the token's
revocation check) with the timeline's first reads (the live-copy pointer,
keep-alive, celebrities, the followed ones, the slices) in one pipeline
(``infra.ride_along``), then hydrates the page in one more: two round trips.
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
from infra.rate_limiter import RateLimiter
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


@pytest.fixture(params=[True, False], ids=["hot_home", "fastapi_home"])
def settings_factory(settings_factory: Callable[..., Settings], request: pytest.FixtureRequest
                     ) -> Callable[..., Settings]:
    """The settings of every test here, with the hot path on, then off."""
    def factory(**overrides: object) -> Settings:
        return settings_factory(api_hot_home=request.param, **overrides)
    return factory


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


async def test_a_warm_home_read_sends_its_overhead_with_the_timelines_first_reads(
        world: World) -> None:
    async with running_app(world.settings) as client:
        trips, page = await warm_read(client, world)
    texts = [item["text"] for item in page["items"]]
    assert texts[:2] == ["star post 2", "author post 2"]  # the celebrity's merged in
    first, *rest = trips.sent
    # charge + token check, then pointer + open_home: one pipeline
    assert first == ["EVALSHA", "EXISTS", "EXISTS", "GET", "EVALSHA"], trips
    assert not [names for names in rest if TIMELINE_READS & set(names)], trips
    assert not [names for names in rest if {"EXISTS", "SCRIPT"} & set(names)], trips


async def test_a_held_page_is_hydrated_in_one_round_trip(world: World) -> None:
    """A page whose bodies the process holds (warm): its counts in one script call and
    the authors', reposts' and reader's facts in one MGET and one HMGET, all in one
    pipeline -- not a command per post (each reply costs redis-py a timeout), and not
    a round trip per cache. So a warm read is two round trips in all."""
    async with running_app(world.settings) as client:
        trips, page = await warm_read(client, world)
    assert len(page["items"]) == 5
    _, *hydration = trips.sent
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
    assert sorted(trips.sent[0]) == ["EVALSHA", "EVALSHA", "EXISTS", "EXISTS", "GET"], trips


async def test_a_revoked_session_is_still_refused(world: World) -> None:
    client_redis = redis.Redis.from_url(world.settings.redis_url)
    revocations = RedisRevocations(client_redis, RedisKeys(world.settings.redis_prefix))
    try:
        async with running_app(world.settings) as client:
            assert (await client.get(HOME, headers=world.headers)).status_code == 200
            revocations.revoke(world.reader.session_id, 60)
            with counting_round_trips() as trips:
                refused = await client.get(HOME, headers=world.headers)
            assert refused.status_code == 401, refused.text
            assert len(trips) == 1, trips  # no page hydrated for a revoked token
            assert refused.json()["error"]["code"] == "session_ended"
            # the check rode along, yet comes before the route's own refusals, as it
            # did when it was made first
            for path in ("/api/timelines/home?limit=x", "/api/timelines/home?cursor=bad"):
                refused = await client.get(path, headers=world.headers)
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
    """And the refused read goes no further than the round trip its charge rode in (a
    refused request must stay cheap: rate limits protect the API's CPU)."""
    settings, headers = await budget_world(settings_factory, "2/86400")
    async with running_app(settings) as client:
        answers = [await client.get(HOME, headers=headers) for _ in range(2)]
        with counting_round_trips() as trips:
            answers.append(await client.get(HOME, headers=headers))
    assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
    assert len(trips) == 1 and "EVALSHA" in trips.sent[0], trips
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


async def budget_world(settings_factory: Callable[..., Settings], budget: str,
                       **overrides: object) -> tuple[Settings, dict[str, str]]:
    """Settings (with ``overrides``) with a ``requests`` budget of ``budget`` per
    account, and a signed-up reader's bearer headers."""
    settings = settings_factory(rate_limit_requests=budget, rate_limit_multiplier=1.0,
                                **overrides)
    bus = build_command_bus(settings)
    try:
        reader = signup(bus, "reader")
    finally:
        close_command_bus(bus)
    token = JwtTokens(settings).access_token(reader.account_id, reader.username,
                                             reader.session_id)
    return settings, {"Authorization": f"Bearer {token}"}


async def test_a_read_refused_before_its_first_round_trip_is_still_charged(
        settings_factory: Callable[..., Settings]) -> None:
    """Its charge waited for a round trip that never came (a bad page size is refused
    before the route runs, a bad cursor before the timeline is read): it is sent on
    its own, so such requests spend the budget like any other and end in 429."""
    settings, headers = await budget_world(settings_factory, "3/86400")
    async with running_app(settings) as client:
        answers = [await client.get(path, headers=headers) for path in (
            "/api/timelines/home?limit=x", "/api/timelines/home?cursor=not-a-cursor",
            HOME, "/api/timelines/home?limit=x")]
    assert [a.status_code for a in answers] == [422, 422, 200, 429], answers[-1].text
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[-1].json()["error"]["code"] == "rate_limited"


async def test_a_charge_is_made_once_when_redis_lost_its_scripts(
        settings_factory: Callable[..., Settings]) -> None:
    """After a Redis restart (its scripts flushed) the read's pipeline meets NOSCRIPT and
    is sent again after loading; the charge that rode in it is counted once: whether
    its own script was missing too (it is sent alone, after loading) or had been
    loaded again by another request meanwhile (it ran in the first pipeline, and the
    read's second try goes without it)."""
    settings, headers = await budget_world(settings_factory, "20/86400")
    client_redis = aredis.Redis.from_url(settings.redis_url)
    try:
        async with running_app(settings) as client:
            remaining = [int((await client.get(HOME, headers=headers))
                             .headers["X-RateLimit-Remaining"])]
            await client_redis.script_flush()
            for path in (HOME, "/api/accounts/me", HOME):  # both lost; the charge's loaded
                answer = await client.get(path, headers=headers)
                assert answer.status_code == 200, answer.text
                remaining.append(int(answer.headers["X-RateLimit-Remaining"]))
                if path == HOME:
                    await client_redis.script_flush()
                    await client_redis.script_load(_gcra_text())
    finally:
        await client_redis.aclose()
    assert remaining == [19, 18, 17, 16]


def _gcra_text() -> str:
    from infra.lua import load_script

    return load_script("infra", "rate_limiter_gcra")


async def test_a_read_that_waits_for_a_position_is_charged_before_it_waits(
        settings_factory: Callable[..., Settings]) -> None:
    """With ``Roost-Min-Position`` the read may wait seconds before its first round
    trip: its charge goes first, on its own, so a refused one is answered at once
    (neither held for the wait nor reading the timeline)."""
    settings, headers = await budget_world(settings_factory, "1/86400",
                                           min_position_wait_s=30.0)
    waiting = {**headers, "Roost-Min-Position": str(2 ** 62)}
    async with running_app(settings) as client:
        assert (await client.get(HOME, headers=headers)).status_code == 200
        with counting_round_trips() as trips:
            refused = await client.get(HOME, headers=waiting)
    assert refused.status_code == 429, refused.text
    assert trips.sent == [["EVALSHA", "EXISTS", "EXISTS"]], trips


UNREAD = "/api/notifications/unread_count"


async def test_an_unread_count_sends_its_overhead_with_its_first_read(
        settings_factory: Callable[..., Settings]) -> None:
    """The other route that declares ``RIDING_CHARGE`` (clients poll it): the charge and
    the token check go with the first read of the notifications' hot hash; refused,
    it costs that one round trip."""
    settings, headers = await budget_world(settings_factory, "3/86400")
    async with running_app(settings) as client:
        assert (await client.get(UNREAD, headers=headers)).status_code == 200
        with counting_round_trips() as trips:
            answer = await client.get(UNREAD, headers=headers)
        assert answer.status_code == 200 and answer.json() == {"count": 0}, answer.text
        assert answer.headers["X-RateLimit-Remaining"] == "1"
        first, *rest = trips.sent
        assert first == ["EVALSHA", "EXISTS", "EXISTS", "GET", "HMGET"], trips
        assert not [names for names in rest if {"EVALSHA", "EXISTS"} & set(names)], trips
        assert (await client.get(UNREAD, headers=headers)).status_code == 200
        with counting_round_trips() as trips:
            refused = await client.get(UNREAD, headers=headers)
    assert refused.status_code == 429, refused.text
    assert len(trips) == 1, trips



async def test_a_posts_two_charges_and_token_check_are_one_round_trip(
        settings_factory: Callable[..., Settings]) -> None:
    """``requests`` and the route's own ``posts`` limit in one script call (and the
    token's check beside it): a write's overhead is one round trip, not two."""
    settings, headers = await budget_world(settings_factory, "100/86400")
    async with running_app(settings) as client:
        assert (await client.post("/api/posts", json={"text": "warm"},
                                  headers=headers)).status_code == 201
        with counting_round_trips() as trips:
            answer = await client.post("/api/posts", json={"text": "one"}, headers=headers)
    assert answer.status_code == 201, answer.text
    assert trips.sent == [["EVALSHA", "EXISTS", "EXISTS"]], trips


@pytest.mark.parametrize("refusing", ["requests", "posts"])
async def test_a_request_refused_by_either_limit_is_charged_to_neither(
        settings_factory: Callable[..., Settings], refusing: str) -> None:
    """All or none across the two actions, as across an action's scopes: the 429 names
    the refusing action, and the other's bucket lost nothing to the refused request."""
    other = "posts" if refusing == "requests" else "requests"
    settings, headers = await budget_world(
        settings_factory, "1/86400" if refusing == "requests" else "50/86400",
        rate_limit_posts="1/86400" if refusing == "posts" else "50/86400")
    client_redis = aredis.Redis.from_url(settings.redis_url)
    limiter = RateLimiter(client_redis, settings)
    account = str(JwtTokens(settings).verify(headers["Authorization"][7:]).account_id)
    try:
        async with running_app(settings) as client:
            answers = [await client.post("/api/posts", json={"text": f"post {n}"},
                                         headers=headers) for n in range(2)]
        assert [a.status_code for a in answers] == [201, 429], answers[-1].text
        assert answers[1].json()["error"]["details"]["action"] == refusing
        assert int(answers[1].headers["Retry-After"]) >= 1
        assert (await limiter.peek(other, "account", account)).remaining == 49
    finally:
        await client_redis.aclose()


@pytest.mark.parametrize("longest", ["requests", "posts"])
async def test_a_request_both_limits_refuse_names_the_one_that_lasts_longest(
        settings_factory: Callable[..., Settings], longest: str) -> None:
    """Both buckets refuse: the 429's body, ``Retry-After`` and ``X-RateLimit-*`` all
    describe the bucket that refuses longest, since a retry passes only when both allow
    it (a client honouring a shorter ``Retry-After`` would only be refused again)."""
    windows = {"requests": "1/60", "posts": "1/60", longest: "1/86400"}
    settings, headers = await budget_world(settings_factory, windows["requests"],
                                           rate_limit_posts=windows["posts"])
    async with running_app(settings) as client:
        answers = [await client.post("/api/posts", json={"text": f"post {n}"},
                                     headers=headers) for n in range(2)]
    assert [a.status_code for a in answers] == [201, 429], answers[-1].text
    refused = answers[1]
    details = refused.json()["error"]["details"]
    retry = int(refused.headers["Retry-After"])
    assert details["action"] == longest, details
    assert details["retry_after_s"] == retry
    assert 86400 - 60 <= retry <= 86400, retry  # the other's would be at most 60 s
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 86400 - 60 <= int(refused.headers["X-RateLimit-Reset"]) <= 86400, refused.headers


async def test_a_read_whose_redis_is_gone_answers_503_after_one_attempt(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis unreachable under the read its charge rode with: the 503 goes out at once,
    and the charge is not sent again alone -- that would double the wait for the 503
    (a second connect timeout) in an outage, and charge twice a pipeline that Redis ran
    before its reply was lost."""
    async with running_app(world.settings) as client:
        assert (await client.get(HOME, headers=world.headers)).status_code == 200
        sent: list[int] = []

        async def unreachable(self: Any, raise_on_error: bool = True) -> list[Any]:
            sent.append(len(self))
            raise redis.exceptions.ConnectionError("Redis went away")

        monkeypatch.setattr(aredis.client.Pipeline, "execute", unreachable)
        answer = await client.get(HOME, headers=world.headers)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "service_unavailable"
    assert len(sent) == 1, sent  # the read's first pipeline, the charge aboard


async def test_a_read_that_fails_before_its_charge_boarded_is_still_charged(
        settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    """The route failed on a Redis call of its own before any pipeline took the charge
    (here: at once): the charge is sent alone, its first attempt, so an outage of one
    client or an exhausted pool does not make requests free."""
    settings, headers = await budget_world(settings_factory, "20/86400")

    async def failing(*_: Any, **__: Any) -> None:
        raise redis.exceptions.ConnectionError("another client's outage")

    async with running_app(settings) as client:
        assert (await client.get(HOME, headers=headers)).status_code == 200
        for route in ("infra.http.routes.timelines", "infra.http.hot_home"):
            monkeypatch.setattr(f"{route}.home_timeline", failing)
        answer = await client.get(HOME, headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["X-RateLimit-Remaining"] == "18"  # charged: 20, 19 after the first
