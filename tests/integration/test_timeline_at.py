"""``roost timeline show USERNAME --at POSITION|TIME``: the home timeline rebuilt from the
events equals the live one (Redis, read models, the query's merge) as it was served at
a recorded position, through fan-out, celebrity pull, reposts, deletes, unfollows,
blocks and mutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import orjson
import pytest
from typer.testing import CliRunner

from commands.messages import Actor, SetBlock, SetMute
from infra.cli import app
from infra.event_reader import PostgresEventReader, open_event_reader
from infra.timeline_at import items_of, timeline_at
from ports.event_reader import EventFilter
from queries.timelines import home_timeline
from tests.contracts.event_reader import read_all
from tests.integration.conftest import SettingsFactory, close_bus, store_max_position
from tests.integration.pipeline import keep, post, repost
from tests.integration.test_fanout import Env, delete, follow, make_env, unfollow


@pytest.fixture
async def famous(settings_factory: SettingsFactory) -> AsyncIterator[Env]:
    """Celebrities from the third follower on (``celebrity_threshold=2``)."""
    made, services, bus = await make_env(settings_factory(celebrity_threshold=2))
    yield made  # teardown runs after a failed test too
    close_bus(bus)
    await services.close()


@pytest.fixture
async def reader(famous: Env) -> AsyncIterator[PostgresEventReader]:
    opened = await open_event_reader(famous.settings)
    try:
        yield opened
    finally:
        await opened.close()


async def live_page(e: Env, reader: Actor, limit: int = 50) -> list[tuple[int, int | None]]:
    await e.project()
    page = await home_timeline(e.ctx, reader.account_id, None, limit)
    return [(int(p["id"]), int(p["repost_of"]["id"]) if p["repost_of"] else None)
            for p in page["items"]]


async def rebuilt(e: Env, events: PostgresEventReader, reader: Actor, where: EventFilter
                  ) -> list[tuple[int, int | None]]:
    s = e.settings
    return items_of(await timeline_at(
        events, reader.account_id, where, limit=50, max_entries=s.timeline_max_entries,
        backfill=s.follow_backfill, celebrity_threshold=s.celebrity_threshold))


async def test_the_rebuilt_timeline_is_the_live_one_at_each_recorded_position(
        famous: Env, reader: PostgresEventReader) -> None:
    e = famous
    me, friend, other, star, fan1, fan2, stranger = e.signup(
        "reader", "friend", "other", "star", "fan1", "fan2", "stranger")
    await e.project()
    await keep(e.ctx, me)  # my timeline is kept from here on, as a reader's would be
    follow(e, me, friend, other, star)
    follow(e, fan1, star)
    follow(e, fan2, star)  # star: 3 followers, a celebrity (pulled at read time)
    early = post(e.bus, stranger, "before anyone followed")
    first = post(e.bus, friend, "first")
    post(e.bus, other, "from other")
    post(e.bus, star, "a star's post")
    repost(e.bus, other, early)  # a repost item shows the stranger's post
    repost(e.bus, friend, first)  # shown already by its own item
    mid = post(e.bus, friend, "second")
    recorded = [(store_max_position(e.settings), await live_page(e, me))]

    delete(e, friend, first)
    unfollow(e, me, other)  # the repost of `early` goes with it
    post(e.bus, star, "another star post")
    e.bus.handle(SetMute(actor=me, username="friend", active=True))
    recorded.append((store_max_position(e.settings), await live_page(e, me)))

    e.bus.handle(SetMute(actor=me, username="friend", active=False))
    e.bus.handle(SetBlock(actor=star, username="reader", active=True))  # blocked either way
    follow(e, me, other)  # backfill brings other's items back
    recorded.append((store_max_position(e.settings), await live_page(e, me)))

    pages = [page for _, page in recorded]
    assert all(pages) and len({tuple(p) for p in pages}) == 3  # the history changed it
    assert (mid, None) in pages[0] and (mid, None) not in pages[1]  # muted, then not
    for position, page in recorded:
        assert await rebuilt(e, reader, me, EventFilter(upto=position)) == page, position


async def test_show_by_time_and_on_the_command_line(famous: Env, reader: PostgresEventReader
                                                    ) -> None:
    e = famous
    me, friend = e.signup("reader", "friend")
    follow(e, me, friend)
    kept = post(e.bus, friend, "kept")
    whole = await read_all(reader, EventFilter())
    moment = datetime.fromisoformat(whole[-1].envelope.occurred_at)
    gone = post(e.bus, friend, "later")
    later = await read_all(reader, EventFilter(after=whole[-1].position))
    assert datetime.fromisoformat(later[0].envelope.occurred_at) > moment
    until = later[0].envelope.occurred_at  # events before the second post
    assert await rebuilt(e, reader, me, EventFilter(
        until=datetime.fromisoformat(until))) == [(kept, None)]

    def show(*args: str) -> list[dict[str, object]]:
        result = CliRunner().invoke(app, ["timeline", "show", "reader", "--json", *args],
                                    env=e.settings.as_env())
        assert result.exit_code == 0, (result.output, result.exception)
        return [orjson.loads(line) for line in result.stdout.splitlines()]

    assert [row["id"] for row in await asyncio.to_thread(show, "--at", until)] == [str(kept)]
    assert [row["id"] for row in await asyncio.to_thread(show)] == [str(gone), str(kept)]
    assert [row["text"] for row in await asyncio.to_thread(
        show, "--at", str(whole[-1].position))] == ["kept"]
    refused = await asyncio.to_thread(CliRunner().invoke, app, ["timeline", "show", "nobody"],
                                      env=e.settings.as_env())
    assert refused.exit_code == 2
