"""The notifications projector on PostgreSQL and Redis, fed the events real commands
stored: what readers get, exactly once under redelivery, replay, concurrent
workers and a rebuild."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rich.console import Console

from commands.bus import CommandBus
from commands.messages import (
    Actor,
    CreatePost,
    MarkNotificationsRead,
    SetBlock,
    SetFollow,
    SetLike,
    SetMute,
    SetRepost,
    UpdateNotificationPreferences,
)
from domain.errors import ValidationFailed
from infra.bootstrap import ProjectionServices, build_projections, build_runner
from infra.notification_store import RELATION_QUERY
from infra.operations import rebuild
from infra.settings import Settings
from ports.live import LiveEvent
from ports.projectors import NOTIFICATIONS
from projections.notifications import NotificationProjector
from queries import notifications as nq
from queries.context import QueryContext
from queries.shapes import NotificationGroup
from tests.fakes.live_recorder import RecordingPublisher
from tests.integration.conftest import signup
from tests.integration.pipeline import (
    apply_all,
    dump_redis,
    post,
    project_everything,
    query_context,
    stored_events,
)

NTF_DUMPS = {
    "ntf_groups": "SELECT * FROM ntf_groups ORDER BY recipient_id, id",
    "ntf_members": "SELECT * FROM ntf_members ORDER BY recipient_id, kind, target_id, account_id",
    "ntf_preferences": "SELECT * FROM ntf_preferences ORDER BY account_id",
    "ntf_edges": "SELECT * FROM ntf_edges ORDER BY kind, a, b",
    "ntf_posts": "SELECT * FROM ntf_posts ORDER BY id",
    "ntf_accounts": "SELECT * FROM ntf_accounts ORDER BY id",
    "position": f"SELECT position FROM projection_positions WHERE name = '{NOTIFICATIONS}'",
}


async def snapshot(services: ProjectionServices, settings: Settings) -> dict[str, Any]:
    """Every row of the projection and its hot hashes in Redis."""
    dump: dict[str, Any] = {}
    async with services.pool.connection() as conn:
        for name, query in NTF_DUMPS.items():
            cur = await conn.execute(query)
            dump[name] = list(await cur.fetchall())
    dump["redis"] = {key: value for key, value in
                     (await dump_redis(services.redis, settings.redis_prefix)).items()
                     if key.startswith(f"{settings.redis_prefix}notif:")}
    return dump


def projector(services: ProjectionServices) -> NotificationProjector:
    found = services.projectors[NOTIFICATIONS]
    assert isinstance(found, NotificationProjector)
    return found


@pytest.fixture
def ctx(services: ProjectionServices, settings: Settings) -> QueryContext:
    return query_context(services, settings)


async def seen(ctx: QueryContext, reader: Actor, **query: Any) -> list[tuple[str, list[str],
                                                                               int, bool]]:
    """(type, usernames listed, accounts_count, read) of each group on the first page."""
    page = await nq.notifications_page(ctx, reader.account_id, query.get("types"), None, 50)
    return [(g["type"], [a["username"] for a in g["accounts"]], g["accounts_count"], g["read"])
            for g in page["items"]]


def post_id(group: NotificationGroup) -> str:
    """The id of the group's post (the group must have one)."""
    assert group["post"] is not None
    return group["post"]["id"]


def like(bus: CommandBus, actor: Actor, post_id: int, active: bool = True) -> int:
    return bus.handle(SetLike(actor=actor, post_id=post_id, active=active)).position


async def test_readers_get_groups_with_accounts_and_posts(
        bus: CommandBus, services: ProjectionServices, ctx: QueryContext) -> None:
    alice, bob, carol = signup(bus, "alice"), signup(bus, "bob"), signup(bus, "carol")
    hello = post(bus, alice, "hello")
    like(bus, bob, hello)
    like(bus, carol, hello)
    answer = post(bus, bob, "@carol and @alice, see", reply_to_id=hello)
    bus.handle(SetFollow(actor=carol, username="alice", active=True))
    await project_everything(services)

    page = await nq.notifications_page(ctx, alice.account_id, None, None, 20)
    follow, reply, likes = page["items"]
    assert (follow["type"], follow["post"], follow["accounts_count"]) == ("follow", None, 1)
    assert follow["accounts"][0]["username"] == "carol"
    assert reply["post"] is not None and likes["post"] is not None
    assert (reply["type"], reply["post"]["id"], reply["post"]["author"]["username"]) == (
        "reply", str(answer), "bob")
    assert (likes["type"], likes["post"]["id"], likes["accounts_count"]) == (
        "like", str(hello), 2)
    assert [a["username"] for a in likes["accounts"]] == ["carol", "bob"]
    assert set(likes) == {"id", "type", "post", "accounts", "accounts_count", "latest_at",
                          "read"}
    assert await seen(ctx, carol) == [("mention", ["bob"], 1, False)]
    assert await nq.unread_count(ctx, alice.account_id) == {"count": 3}
    assert await seen(ctx, alice, types={"like", "follow"}) == [
        ("follow", ["carol"], 1, False), ("like", ["carol", "bob"], 2, False)]
    one = await nq.notification_for(ctx, alice.account_id, likes["id"])
    assert one == likes
    assert await nq.notification_for(ctx, bob.account_id, likes["id"]) is None
    assert await nq.notification_for(ctx, alice.account_id, "not-an-id") is None


async def test_pages_continue_with_the_cursor(
        bus: CommandBus, services: ProjectionServices, ctx: QueryContext) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    hello = post(bus, alice, "hello")
    replies = [post(bus, bob, f"reply {i}", reply_to_id=hello) for i in range(30)]
    await project_everything(services)
    seen_ids: list[str] = []
    cursor = None
    while True:
        page = await nq.notifications_page(ctx, alice.account_id, None, cursor, 7)
        seen_ids += [post_id(g) for g in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen_ids == [str(r) for r in reversed(replies)]
    with pytest.raises(ValidationFailed):
        await nq.notifications_page(ctx, alice.account_id, None, "nonsense", 7)


async def test_preferences_and_read_marks_are_commands_applied_in_order(
        bus: CommandBus, services: ProjectionServices, ctx: QueryContext) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    hello = post(bus, alice, "hello")
    changed = bus.handle(UpdateNotificationPreferences(alice, {"like": "off"}))
    assert changed.data == {"follow": "everyone", "like": "off", "repost": "everyone",
                            "reply": "everyone", "mention": "everyone", "quote": "everyone"}
    same = bus.handle(UpdateNotificationPreferences(alice, {"like": "off"}))
    assert same.position == changed.position  # nothing changed, nothing appended
    with pytest.raises(ValidationFailed):
        bus.handle(UpdateNotificationPreferences(alice, {"like": "sometimes"}))
    like(bus, bob, hello)
    bus.handle(SetRepost(actor=bob, post_id=hello, active=True))
    await project_everything(services)
    assert await seen(ctx, alice) == [("repost", ["bob"], 1, False)]
    assert (await nq.preferences(ctx, alice.account_id))["like"] == "off"

    bus.handle(UpdateNotificationPreferences(alice, {"like": "everyone", "repost": "off"}))
    like(bus, bob, hello, active=False)
    like(bus, bob, hello)
    await project_everything(services)
    assert await seen(ctx, alice) == [("like", ["bob"], 1, False)]  # reposts: off now
    assert await nq.unread_count(ctx, alice.account_id) == {"count": 1}
    [group] = (await nq.notifications_page(ctx, alice.account_id, None, None, 5))["items"]
    bus.handle(MarkNotificationsRead(alice, up_to_id=int(group["id"])))
    await project_everything(services)
    assert await nq.unread_count(ctx, alice.account_id) == {"count": 0}
    assert await seen(ctx, alice) == [("like", ["bob"], 1, True)]


async def test_blocks_mutes_and_undos_take_accounts_out(
        bus: CommandBus, services: ProjectionServices, ctx: QueryContext) -> None:
    alice, bob, carol, dave = (signup(bus, n) for n in ("alice", "bob", "carol", "dave"))
    hello = post(bus, alice, "hello")
    for actor in (bob, carol, dave):
        like(bus, actor, hello)
        bus.handle(SetFollow(actor=actor, username="alice", active=True))
    await project_everything(services)
    assert await seen(ctx, alice) == [("follow", ["dave", "carol", "bob"], 3, False),
                                      ("like", ["dave", "carol", "bob"], 3, False)]
    bus.handle(SetBlock(actor=alice, username="bob", active=True))  # ends bob's follow too
    bus.handle(SetMute(actor=alice, username="carol", active=True))
    bus.handle(SetFollow(actor=dave, username="alice", active=False))
    await project_everything(services)
    assert await seen(ctx, alice) == [("like", ["dave"], 1, False)]
    bus.handle(CreatePost(actor=carol, text="@alice hi"))  # muted: nothing
    await project_everything(services)
    assert await seen(ctx, alice) == [("like", ["dave"], 1, False)]


async def test_redelivery_and_replay_change_nothing(
        bus: CommandBus, services: ProjectionServices, settings: Settings) -> None:
    alice, bob, carol = signup(bus, "alice"), signup(bus, "bob"), signup(bus, "carol")
    hello = post(bus, alice, "hello")
    for actor in (bob, carol):
        like(bus, actor, hello)
    post(bus, bob, "@alice hi")
    bus.handle(MarkNotificationsRead(alice, up_to_id=None, ids=()))
    like(bus, carol, hello, active=False)
    events = await stored_events(services.pool)
    await apply_all(services, events, times=2)  # each event twice in a row
    once = await snapshot(services, settings)
    await apply_all(services, events)  # the whole log again
    for start in range(0, len(events), 3):  # and in overlapping batches
        await projector(services).apply_batch(events[max(0, start - 2):start + 3])
    assert await snapshot(services, settings) == once
    for event in events:  # a replay of parked events writes what is already there
        await projector(services).replay(event)
    assert await snapshot(services, settings) == once


async def test_a_rebuild_gives_identical_groups_read_states_and_counts(
        bus: CommandBus, services: ProjectionServices, settings: Settings,
        ctx: QueryContext) -> None:
    people = [signup(bus, f"user{i}") for i in range(6)]
    alice = people[0]
    posts = [post(bus, alice, f"post {i}") for i in range(3)]
    for i, actor in enumerate(people[1:]):
        for target in posts[: i % 3 + 1]:
            like(bus, actor, target)
        bus.handle(SetFollow(actor=actor, username=alice.username, active=True))
        post(bus, actor, f"@{alice.username} number {i}", reply_to_id=posts[i % 3])
    bus.handle(UpdateNotificationPreferences(people[1], {"mention": "following"}))
    await project_everything(services)
    page = await nq.notifications_page(ctx, alice.account_id, None, None, 4)
    bus.handle(MarkNotificationsRead(alice, up_to_id=int(page["items"][2]["id"])))
    like(bus, people[2], posts[0], active=False)
    await project_everything(services)
    before = await snapshot(services, settings)
    counts = await nq.unread_count(ctx, alice.account_id)
    assert 0 < counts["count"] < len(before["ntf_groups"])

    applied = await rebuild(settings, services, NOTIFICATIONS, Console(file=io.StringIO()))
    assert applied == len(await stored_events(services.pool))
    assert await snapshot(services, settings) == before
    assert await nq.unread_count(ctx, alice.account_id) == counts


async def test_a_rebuild_announces_nothing(settings: Settings) -> None:
    """``roost projections rebuild`` and ``replay-parked`` build the projectors without a
    live publisher; one that had announced already refuses the re-derived ids."""
    quiet = await build_projections(settings)
    try:
        assert projector(quiet).live is None
    finally:
        await quiet.close()
    live = RecordingPublisher()
    await live.publish([LiveEvent(1, "notifications", 5, 0, "notification", {"id": "5"})])
    await live.publish([LiveEvent(1, "notifications", 5, 0, "notification", {"id": "5"}),
                        LiveEvent(1, "notifications", 3, 0, "notification", {"id": "3"})])
    assert len(live.events) == 1


async def test_concurrent_workers_apply_each_event_once(
        bus: CommandBus, settings: Settings, services: ProjectionServices,
        ctx: QueryContext) -> None:
    """Two worker processes' runners (own connections) race over the same log, with
    marks and likes interleaved: the unread count and every group are exact."""
    alice = signup(bus, "alice")
    fans = [signup(bus, f"fan{i}") for i in range(8)]
    hello = post(bus, alice, "hello")
    for i, fan in enumerate(fans):
        like(bus, fan, hello)
        post(bus, fan, f"@alice {i}")
        if i % 3 == 2:
            bus.handle(MarkNotificationsRead(alice, up_to_id=2**63 - 1))
    head = (await stored_events(services.pool))[-1].position
    others = [await build_projections(settings) for _ in range(2)]
    try:
        runners = [build_runner(settings, built, NOTIFICATIONS) for built in others]
        await asyncio.gather(*(runner.catch_up(head) for runner in runners))
    finally:
        for built in others:
            await built.close()
    assert await projector(services).position() == head
    await project_everything(services)  # the read models, for the accounts and posts shown
    groups = await seen(ctx, alice)
    assert [g for g in groups if g[0] == "like"] == [
        ("like", [f"fan{i}" for i in range(7, -1, -1)], 8, False)]
    assert len(groups) == 9
    # read up to the 6th fan's mark: the mentions of fans 0-5 and the like before it
    assert await nq.unread_count(ctx, alice.account_id) == {"count": 3}


@pytest.fixture
async def big(settings_factory: Any) -> AsyncIterator[tuple[Settings, ProjectionServices]]:
    small = settings_factory(notifications_max_groups=5)
    built = await build_projections(small)
    try:
        yield small, built
    finally:
        await built.close()


async def test_each_account_keeps_at_most_max_groups(
        big: tuple[Settings, ProjectionServices]) -> None:
    from infra.bootstrap import build_command_bus
    from tests.integration.conftest import close_bus

    small, built = big
    bus = build_command_bus(small)
    try:
        alice, bob = signup(bus, "alice"), signup(bus, "bob")
        hello = post(bus, alice, "hello")
        replies = [post(bus, bob, f"r{i}", reply_to_id=hello) for i in range(8)]
        await project_everything(built)
        ctx = query_context(built, small)
        page = await nq.notifications_page(ctx, alice.account_id, None, None, 20)
        assert [post_id(g) for g in page["items"]] == [str(r) for r in replies[:2:-1]]
    finally:
        close_bus(bus)


async def test_the_relation_lookup_uses_the_edges_key(services: ProjectionServices) -> None:
    """Deciding who is notified reads the edges between two accounts once per event: by
    the primary key, not a scan of every edge (a rebuild over a million follows slowed
    to 200 events/s as the table grew)."""
    async with services.pool.connection() as conn:
        await conn.execute("INSERT INTO ntf_edges (kind, a, b, active, version) "
                           "SELECT 'follow', g, g + 1, true, 1 FROM generate_series(1, 20000) g")
        await conn.execute("ANALYZE")
        cur = await conn.execute("EXPLAIN " + RELATION_QUERY, {"r": 500, "x": 501})
        plan = "\n".join(str(row[0]) for row in await cur.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "ntf_edges_pkey" in plan, plan
