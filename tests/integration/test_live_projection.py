"""The home stream end to end below HTTP: the timeline projector's live applies publish
through Redis, the per-process reader delivers, the renderers hydrate for the reader;
a replay or a rebuild publishes nothing new.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from commands.bus import CommandBus
from commands.messages import Actor, DeletePost, SetBlock, SetFollow
from infra.bootstrap import ProjectionServices, build_command_bus, build_projections, build_runner
from infra.http.streaming import stream_renderers
from infra.live import RedisLiveHub, reader_client
from infra.operations import rebuild
from infra.settings import Settings
from ports.live import AUTHOR_CHANNEL, HOME_CHANNEL, Channel, ReceivedEvent
from ports.projectors import TIMELINES
from queries.context import QueryContext
from tests.contracts.live import nothing_more, receive
from tests.integration.conftest import SettingsFactory, close_bus, signup, store_max_position
from tests.integration.pipeline import keep, post, project_new, query_context, repost


@dataclass
class Env:
    settings: Settings
    bus: CommandBus
    services: ProjectionServices
    hub: RedisLiveHub
    ctx: QueryContext


@pytest.fixture
async def env(settings_factory: SettingsFactory) -> AsyncIterator[Env]:
    settings = settings_factory(celebrity_threshold=2)
    bus = build_command_bus(settings)
    services = await build_projections(settings, live=True)
    reader = reader_client(settings.redis_url, cluster=settings.redis_cluster)
    hub = RedisLiveHub(services.redis, reader, settings.redis_prefix, block_ms=2000)
    await hub.start()
    try:
        yield Env(settings, bus, services, hub, query_context(services, settings))
    finally:
        await hub.stop()
        await reader.aclose()
        await services.close()
        close_bus(bus)


async def shown(env: Env, reader: Actor, events: list[ReceivedEvent]) -> list[object]:
    """What each event shows the reader (the renderers the API uses)."""
    renderers = stream_renderers(env.ctx, wait_s=5.0)
    return [await renderers[(e.channel, e.event)](reader.account_id, e.data, e.key[0])
            for e in events]


async def test_followers_get_updates_and_deletes_and_a_rebuild_sends_nothing(env: Env) -> None:
    author, reader, blocked = (signup(env.bus, n) for n in ("author", "reader", "blocked"))
    env.bus.handle(SetFollow(actor=reader, username="author", active=True))
    env.bus.handle(SetFollow(actor=reader, username="blocked", active=True))
    await project_new(env.services)
    await keep(env.ctx, reader)
    stream = await env.hub.subscribe([(HOME_CHANNEL, reader.account_id)], None)

    first = post(env.bus, author, "hello readers")
    env.bus.handle(SetBlock(actor=reader, username="blocked", active=True))
    post(env.bus, blocked, "you will not see this")  # not even pushed: the block unfollowed
    await project_new(env.services)
    got = await receive(stream, 1)
    assert (got[0].event, got[0].data) == ("update", {"id": str(first)})
    (post_shown,) = await shown(env, reader, got)
    assert isinstance(post_shown, dict)
    assert (post_shown["id"], post_shown["text"], post_shown["author"]["username"]) == \
        (str(first), "hello readers", "author")

    env.bus.handle(DeletePost(actor=author, post_id=first))
    await project_new(env.services)
    got = await receive(stream, 1)
    assert (got[0].event, got[0].data) == ("delete", {"id": str(first)})
    assert await shown(env, reader, got) == [{"id": str(first)}]

    # A rebuild through a live worker's runner re-derives the same ids: nothing is resent.
    runner = build_runner(env.settings, env.services, TIMELINES)
    await runner.reset()
    await runner.catch_up(store_max_position(env.settings))
    # And the operator's rebuild publishes nothing at all.
    operator = await build_projections(env.settings)  # as `roost projections rebuild`
    try:
        await rebuild(env.settings, operator, TIMELINES, console=None)  # type: ignore[arg-type]
    finally:
        await operator.close()
    await nothing_more(stream)


async def test_a_repost_of_a_post_already_shown_is_skipped_and_a_celebrity_s_comes_via_its_channel(
        env: Env) -> None:
    author, reposter, reader = (signup(env.bus, n) for n in ("author", "reposter", "reader"))
    fans = [signup(env.bus, f"fan{n}") for n in range(2)]
    for follower in (reader, *fans):
        env.bus.handle(SetFollow(actor=follower, username="author", active=True))
    env.bus.handle(SetFollow(actor=reader, username="reposter", active=True))
    await project_new(env.services)  # author has 3 followers > 2: a celebrity
    await keep(env.ctx, reader)
    channels: list[tuple[Channel, int]] = [(HOME_CHANNEL, reader.account_id),
                                           (AUTHOR_CHANNEL, author.account_id)]
    stream = await env.hub.subscribe(channels, None)

    original = post(env.bus, author, "famous words")
    await project_new(env.services)
    got = await receive(stream, 1)
    assert (got[0].channel, got[0].data) == (AUTHOR_CHANNEL, {"id": str(original)})
    assert [p["id"] for p in await shown(env, reader, got)] == [str(original)]  # type: ignore[index]

    by_reposter = post(env.bus, reposter, "my own words")
    repost_id = repost(env.bus, reposter, by_reposter)
    await project_new(env.services)
    got = await receive(stream, 2)
    assert [e.data for e in got] == [{"id": str(by_reposter)},
                                     {"id": str(repost_id), "repost_of_id": str(by_reposter)}]
    first_shown, repost_shown = await shown(env, reader, got)
    assert repost_shown is None  # the post itself is already in the timeline
    assert first_shown is not None
