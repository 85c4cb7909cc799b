"""ReadModelProjector (PostgreSQL) and TimelineProjector (Redis) fed real stored events.

Events are produced by the real command handlers, read back from the event
store with ``infra.eventlog.read_envelopes`` and handed to the projectors
directly, so each test sees exactly what a rebuild would.

Home timelines are pushed only to *kept* timelines (readers who have read
their home timeline within the active window). Tests make readers kept the
way the query side does (``queries.timelines.keep_timeline``) before the
events are projected, or check that a reader who is not kept receives
nothing and gets the complete timeline on the first read.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rich.console import Console

from commands.bus import CommandBus
from commands.messages import Actor, DeletePost, EraseAccount, SetFollow, UpdateProfile
from infra.bootstrap import ProjectionServices, build_command_bus, build_projections
from infra.database import AsyncPool
from infra.eventlog import max_position
from infra.operations import rebuild
from infra.redis_keys import RedisKeys, member, post_id_of
from infra.settings import Settings
from queries.context import QueryContext
from queries.hydration import hydrate
from queries.shapes import Page, Post
from queries.timelines import home_timeline
from tests.integration.conftest import SettingsFactory, close_bus, signup
from tests.integration.pipeline import (
    apply_all,
    dump_redis,
    dump_tables,
    flatten,
    home_ids,
    is_kept,
    keep,
    page_through,
    post,
    project_everything,
    query_context,
    read_models,
    repost,
    stored_events,
    timelines,
    unrepost,
    zset_ids,
)

# --- helpers -------------------------------------------------------------------------


async def snapshot(services: ProjectionServices, settings: Settings) -> dict[str, Any]:
    return {"tables": await dump_tables(services.pool),
            "redis": await dump_redis(services.redis, settings.redis_prefix)}


async def account_row(pool: AsyncPool, account_id: int) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT username, display_name, bio, followers_count, following_count, posts_count "
            "FROM rm_accounts WHERE id = %s", (account_id,))
        row = await cur.fetchone()
    assert row is not None, f"no rm_accounts row for {account_id}"
    names = ("username", "display_name", "bio", "followers", "following", "posts")
    return dict(zip(names, row, strict=True))


@dataclasses.dataclass
class World:
    alice: Actor
    bob: Actor
    carol: Actor
    dave: Actor
    posts: dict[str, int]


def build_world(bus: CommandBus) -> World:
    """A small social graph with every kind of event the projectors handle."""
    alice, bob, carol, dave = (signup(bus, n) for n in ("alice", "Bob", "carol", "dave"))
    posts: dict[str, int] = {}
    for follower, followee in [(alice, "bob"), (alice, "carol"), (bob, "alice"),
                               (carol, "alice"), (dave, "alice"), (dave, "bob")]:
        bus.handle(SetFollow(actor=follower, username=followee, active=True))
    posts["b1"] = post(bus, bob, "b1 #news")
    posts["c1"] = post(bus, carol, "c1")
    posts["a1"] = post(bus, alice, "a1 @Bob")
    posts["b2"] = post(bus, bob, "b2")
    posts["c2"] = post(bus, carol, "c2")
    bus.handle(SetFollow(actor=alice, username="carol", active=False))
    bus.handle(SetFollow(actor=dave, username="alice", active=False))
    bus.handle(SetFollow(actor=dave, username="alice", active=True))  # Refollowed
    bus.handle(DeletePost(actor=bob, post_id=posts["b1"]))
    bus.handle(UpdateProfile(actor=alice, changes={"bio": "hello", "display_name": "Al"}))
    posts["a2"] = post(bus, alice, "a2")
    posts["c3"] = post(bus, carol, "c3")
    bus.handle(SetFollow(actor=bob, username="alice", active=False))
    bus.handle(SetFollow(actor=bob, username="carol", active=True))  # backfills c1..c3
    return World(alice, bob, carol, dave, posts)


# --- counts and contents -------------------------------------------------------------------


async def test_read_models_and_timelines_match_the_commands(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    w = build_world(bus)
    events = await project_everything(services)
    last = events[-1].position
    async with services.pool.connection() as conn:
        assert last == await max_position(conn)
    # both advance past every event, including those that do not concern them
    assert await read_models(services).position() == last
    assert await timelines(services).position() == last

    alice = await account_row(services.pool, w.alice.account_id)
    assert alice == {"username": "alice", "display_name": "Al", "bio": "hello",
                     "followers": 2, "following": 1, "posts": 2}  # carol, dave; bob
    bob = await account_row(services.pool, w.bob.account_id)
    assert (bob["username"], bob["followers"], bob["following"], bob["posts"]) == ("Bob", 2, 1, 1)
    carol = await account_row(services.pool, w.carol.account_id)
    assert (carol["followers"], carol["following"], carol["posts"]) == (1, 1, 3)
    dave = await account_row(services.pool, w.dave.account_id)
    assert (dave["followers"], dave["following"], dave["posts"]) == (0, 2, 0)

    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, author_id, text, mentions, hashtags, deleted_at IS NOT NULL "
            "FROM rm_posts ORDER BY id")
        posts = await cur.fetchall()
    p = w.posts
    assert [row[0] for row in posts] == sorted(p.values())
    by_id = {row[0]: row[1:] for row in posts}
    assert by_id[p["a1"]] == (w.alice.account_id, "a1 @Bob", ["Bob"], [], False)
    assert by_id[p["b1"]] == (w.bob.account_id, "b1 #news", [], ["news"], True)


async def test_counts_are_exact(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    w = build_world(bus)
    await project_everything(services)
    expected = {  # followers, following, posts
        w.alice.account_id: (2, 1, 2),
        w.bob.account_id: (2, 1, 1),
        w.carol.account_id: (1, 1, 3),
        w.dave.account_id: (0, 2, 0),
    }
    for account_id, (followers, following, posts) in expected.items():
        row = await account_row(services.pool, account_id)
        assert (row["followers"], row["following"], row["posts"]) == (
            followers, following, posts), row["username"]
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT followee_id, count(*) FROM rm_follows WHERE active GROUP BY followee_id")
        active = {int(r[0]): int(r[1]) for r in await cur.fetchall()}
        cur = await conn.execute("SELECT count(*) FROM rm_posts WHERE deleted_at IS NOT NULL")
        deleted = await cur.fetchone()
    assert active == {k: v[0] for k, v in expected.items() if v[0]}
    assert deleted is not None and deleted[0] == 1
    # the timeline projector's own follower sets agree with the read model
    for account_id, (followers, _, _) in expected.items():
        assert await services.redis.scard(keys.followers(account_id)) == followers


def expected_homes(w: World) -> dict[int, list[int]]:
    p = w.posts
    return {
        w.alice.account_id: sorted([p["a1"], p["b2"], p["a2"]]),
        w.bob.account_id: sorted([p["b2"], p["c1"], p["c2"], p["c3"]]),  # backfilled carol
        w.carol.account_id: sorted([p["c1"], p["a1"], p["c2"], p["a2"], p["c3"]]),
        w.dave.account_id: sorted([p["a1"], p["b2"], p["a2"]]),  # refollowed: a1 backfilled
    }


async def test_kept_home_timelines_follow_the_graph(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    w = build_world(bus)
    ctx = query_context(services, settings)
    await keep(ctx, w.alice, w.bob, w.carol, w.dave)
    await project_everything(services)
    for account_id, expected in expected_homes(w).items():
        assert await home_ids(services.redis, keys, account_id) == expected


async def test_readers_not_kept_receive_nothing_and_get_it_all_on_their_first_read(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    w = build_world(bus)
    ctx = query_context(services, settings)
    await keep(ctx, w.alice, w.bob)
    await project_everything(services)
    expected = expected_homes(w)
    for reader in (w.alice, w.bob):
        assert await home_ids(services.redis, keys, reader.account_id) == expected[
            reader.account_id]
    for reader in (w.carol, w.dave):  # pushes skipped them entirely
        assert not await is_kept(services.redis, keys, reader.account_id)
        assert not await services.redis.exists(keys.home_index(reader.account_id))
    for reader in (w.carol, w.dave):  # the first read rebuilds the whole timeline
        page = await home_timeline(ctx, reader.account_id, None, 20)
        assert [int(i["id"]) for i in page["items"]] == expected[reader.account_id][::-1]
        assert page["next_cursor"] is None
        assert await home_ids(services.redis, keys, reader.account_id) == expected[
            reader.account_id]
        assert 0 < await services.redis.ttl(keys.home(reader.account_id)) <= int(
            settings.active_days * 86400)
    # and from now on they are kept: the next post reaches carol by push
    c4 = post(bus, w.carol, "c4")
    await project_everything(services)
    assert (await home_ids(services.redis, keys, w.carol.account_id))[-1] == c4


async def test_unfollow_removes_the_followees_posts_from_home(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    alice, bob, carol = (signup(bus, n) for n in ("alice", "bob", "carol"))
    await keep(query_context(services, settings), alice, bob)
    bus.handle(SetFollow(actor=alice, username="bob", active=True))
    bus.handle(SetFollow(actor=alice, username="carol", active=True))
    b = [post(bus, bob, f"b{i}") for i in range(3)]
    c = [post(bus, carol, f"c{i}") for i in range(2)]
    own = post(bus, alice, "mine")
    await project_everything(services)
    assert await home_ids(services.redis, keys, alice.account_id) == sorted([*b, *c, own])

    bus.handle(SetFollow(actor=alice, username="bob", active=False))
    events = await stored_events(services.pool)
    await apply_all(services, events)  # earlier ones are skipped as redeliveries
    assert await home_ids(services.redis, keys, alice.account_id) == sorted([*c, own])
    assert await home_ids(services.redis, keys, bob.account_id) == sorted(b)  # bob's own untouched

    bus.handle(SetFollow(actor=alice, username="bob", active=True))  # backfill brings them back
    await apply_all(services, await stored_events(services.pool))
    assert await home_ids(services.redis, keys, alice.account_id) == sorted([*b, *c, own])


async def test_delete_removes_the_post_from_every_timeline(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    ctx = query_context(services, settings)
    alice, bob, carol, dave = (signup(bus, n) for n in ("alice", "bob", "carol", "dave"))
    await keep(ctx, alice, bob, carol, dave)
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    bus.handle(SetFollow(actor=carol, username="alice", active=True))
    doomed = post(bus, alice, "doomed")
    kept = post(bus, alice, "kept")
    bus.handle(SetFollow(actor=dave, username="alice", active=True))  # gets doomed by backfill
    await project_everything(services)
    for reader in (alice, bob, carol, dave):
        assert await home_ids(services.redis, keys, reader.account_id) == [doomed, kept]

    bus.handle(DeletePost(actor=alice, post_id=doomed))
    await apply_all(services, await stored_events(services.pool))
    for reader in (alice, bob, carol, dave):
        assert await home_ids(services.redis, keys, reader.account_id) == [kept], reader.username
    assert await zset_ids(services.redis, keys.authored(alice.account_id)) == [kept]
    # a later follower does not get it back either
    erin = signup(bus, "erin")
    await keep(ctx, erin)
    bus.handle(SetFollow(actor=erin, username="alice", active=True))
    await apply_all(services, await stored_events(services.pool))
    assert await home_ids(services.redis, keys, erin.account_id) == [kept]
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT deleted_at IS NOT NULL FROM rm_posts WHERE id = %s",
                                 (doomed,))
        assert await cur.fetchone() == (True,)
    assert (await account_row(services.pool, alice.account_id))["posts"] == 1


Trimmed = tuple[Settings, CommandBus, ProjectionServices, RedisKeys, QueryContext]


@pytest.fixture
async def trimmed(settings_factory: SettingsFactory) -> AsyncIterator[Trimmed]:
    """Timelines of 5 entries: settings, command bus, projections, keys, query context."""
    small = settings_factory(timeline_max_entries=5)
    bus = build_command_bus(small)
    built = await build_projections(small)
    try:
        yield small, bus, built, RedisKeys(small.redis_prefix), query_context(built, small)
    finally:
        close_bus(bus)
        await built.close()


async def test_timelines_are_trimmed_to_the_configured_length(trimmed: Trimmed) -> None:
    _, bus, built, keys, ctx = trimmed
    alice, bob, carol = (signup(bus, n) for n in ("alice", "bob", "carol"))
    await keep(ctx, alice, bob, carol)
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    ids = [post(bus, alice, f"p{i}") for i in range(9)]
    bus.handle(SetFollow(actor=carol, username="alice", active=True))  # backfill is trimmed as well
    await project_everything(built)
    newest = sorted(ids)[-5:]
    for account_id in (alice.account_id, bob.account_id, carol.account_id):
        assert await home_ids(built.redis, keys, account_id) == newest
    assert await zset_ids(built.redis, keys.authored(alice.account_id)) == newest


# --- idempotency -----------------------------------------------------------------------------


async def test_redelivery_replay_and_rebuild_leave_identical_state(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    w = build_world(bus)
    ctx = query_context(services, settings)
    readers = (w.alice, w.bob, w.carol, w.dave)
    await keep(ctx, *readers)
    events = await project_everything(services)
    once = await snapshot(services, settings)
    assert all(once["redis"].get(keys.home(r.account_id)) for r in readers)
    assert once["tables"]["rm_posts"] and once["redis"]

    # 1. every event delivered again (redelivery): nothing changes
    await apply_all(services, events)
    assert await snapshot(services, settings) == once

    # 2. the writes of every event applied again, bypassing the position check
    for event in events:
        for projector in services.projectors.values():
            await projector.replay(event)
    assert await snapshot(services, settings) == once

    # 3. position forgotten, data kept: replay everything from position 0
    async with services.pool.connection() as conn:
        await conn.execute("DELETE FROM projection_positions")
    await services.redis.delete(keys.projection_position(timelines(services).name))
    assert await read_models(services).position() == 0
    assert await timelines(services).position() == 0
    await apply_all(services, events)
    assert await snapshot(services, settings) == once

    # 4. a rebuild from nothing where every event arrives twice in a row (the readers
    #    are back before it starts, so their timelines are kept again)
    for projector in services.projectors.values():
        await projector.reset()
    # what survives a reset: the caches the read-model projector keeps right as it
    # applies (the post cache's counts, the page facts), which the replay rewrites
    kept = tuple(settings.redis_prefix + cache
                 for cache in ("postcounts:", "acct:", "repost:", "rfacts:"))
    assert set(await dump_redis(services.redis, settings.redis_prefix)) == {
        k for k in once["redis"] if k.startswith(kept)}
    await keep(ctx, *readers)
    await apply_all(services, events, times=2)
    assert await snapshot(services, settings) == once


def trimmed_history(bus: CommandBus, prefix: str = "") -> tuple[Actor, list[int]]:
    """Alice follows bob and carol, carol's posts push bob's older ones out of alice's
    5-entry timeline, then alice unfollows carol: bob's newest are what is left."""
    alice, bob, carol = (signup(bus, prefix + n) for n in ("alice", "bob", "carol"))
    bus.handle(SetFollow(actor=alice, username=prefix + "bob", active=True))
    bus.handle(SetFollow(actor=alice, username=prefix + "carol", active=True))
    b1, b2 = post(bus, bob, "b1"), post(bus, bob, "b2")
    for i in range(3):
        post(bus, carol, f"c{i}")
    bus.handle(SetFollow(actor=alice, username=prefix + "carol", active=False))
    b3 = post(bus, bob, "b3")
    return alice, [b1, b2, b3]


@pytest.mark.xfail(
    reason="known limitation of projections/timelines.py (not idempotent over existing "
    "trimmed data): replaying from position 0 WITHOUT a reset, the Followed backfill of an "
    "account unfollowed later refills the 5-entry timeline, the Lua push trims bob's "
    "oldest post to make room, and the Unfollowed then leaves the timeline shorter than "
    "before. The supported path, `roost projections rebuild`, resets first (tested below)",
    strict=True, raises=AssertionError,
)
async def test_replay_from_zero_over_trimmed_timelines_without_a_reset(trimmed: Trimmed) -> None:
    small, bus, built, keys, ctx = trimmed
    alice, bobs = trimmed_history(bus)
    await keep(ctx, alice)
    events = await project_everything(built)
    before = await dump_redis(built.redis, small.redis_prefix)

    await built.redis.delete(keys.projection_position(timelines(built).name))
    for event in events:
        await timelines(built).apply(event)
    assert await home_ids(built.redis, keys, alice.account_id) == bobs
    assert await dump_redis(built.redis, small.redis_prefix) == before


async def test_reset_and_rebuild_give_identical_state_and_timelines(trimmed: Trimmed) -> None:
    """``roost projections rebuild`` (infra.operations.rebuild): reset, then replay the
    whole log. Read models and the timeline projector's own state come back identical,
    and every reader's first read serves the same timeline as before."""
    small, bus, built, keys, ctx = trimmed
    alice, bobs = trimmed_history(bus, "t_")
    w = build_world(bus)  # and a richer graph of its own
    readers = [alice, w.alice, w.bob, w.carol, w.dave]
    await keep(ctx, *readers)
    await project_everything(built)
    assert await home_ids(built.redis, keys, alice.account_id) == bobs

    async def served(reader: Actor) -> list[str]:
        async def fetch(cursor: str | None, limit: int) -> Page[Post]:
            return await home_timeline(ctx, reader.account_id, cursor, limit)
        return flatten(await page_through(fetch, 2))

    homes = ["home:", "homeidx:"]
    # what readers filled: caches, not projections
    cache = ["post:", "postcounts:", "acct:", "repost:", "rfacts:"]
    tables = await dump_tables(built.pool)
    state = await dump_redis(built.redis, small.redis_prefix, skip=(*homes, *cache))
    pushed = {r.account_id: await home_ids(built.redis, keys, r.account_id)
              for r in readers}
    pages = {r.account_id: await served(r) for r in readers}
    assert pages[alice.account_id] == [str(i) for i in reversed(bobs)]

    quiet = Console(file=io.StringIO())
    for name in ("read_models", "timelines", "notification_groups"):
        assert await rebuild(small, built, name, quiet) == len(await stored_events(built.pool))
    assert await dump_tables(built.pool) == tables
    async with built.pool.connection() as conn:  # planner statistics are fresh
        cur = await conn.execute("SELECT relname FROM pg_stat_user_tables "
                                 "WHERE relname LIKE 'rm\\_%' AND last_analyze IS NULL")
        assert await cur.fetchall() == []
    assert await dump_redis(built.redis, small.redis_prefix,
                            skip=(*homes, *cache)) == state
    for reader in readers:  # reset forgot who was kept: nothing was pushed
        assert not await is_kept(built.redis, keys, reader.account_id)
    for reader in readers:  # the first read rebuilds each timeline from the read models
        assert await served(reader) == pages[reader.account_id]
        assert await home_ids(built.redis, keys, reader.account_id) == pushed[
            reader.account_id]


async def kept_accounts(bus: CommandBus, services: ProjectionServices, settings: Settings,
                        *names: str) -> list[Actor]:
    """Accounts of ``names``, each with a kept (pushed to) timeline."""
    actors = [signup(bus, name) for name in names]
    await keep(query_context(services, settings), *actors)
    return actors


async def bob_follows_alice(bus: CommandBus, services: ProjectionServices,
                            settings: Settings) -> tuple[Actor, Actor]:
    """alice and bob, both kept, bob following alice."""
    alice, bob = await kept_accounts(bus, services, settings, "alice", "bob")
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    return alice, bob


async def bob_reposts_for_carol(bus: CommandBus, services: ProjectionServices,
                                settings: Settings) -> tuple[Actor, Actor, Actor, int, int]:
    """alice, bob and carol, all kept, carol following bob, and bob's repost of a post
    of alice's: ``(alice, bob, carol, post id, repost id)``."""
    alice, bob, carol = await kept_accounts(bus, services, settings, "alice", "bob", "carol")
    bus.handle(SetFollow(actor=carol, username="bob", active=True))
    post_id = post(bus, alice, "shared by bob")
    return alice, bob, carol, post_id, repost(bus, bob, post_id)


async def apply_with_created_parked(services: ProjectionServices,
                                    kind: str = "PostCreated") -> int:
    """Project the log, parking (skipping) the first event of type ``kind`` as the runner
    does after its attempts fail, then replay it as an operator would; the post id it
    names (0: none)."""
    events = await stored_events(services.pool)
    created = next(e for e in events if e.type == kind)
    for event in events:
        for projector in services.projectors.values():
            if event is created:
                await projector.advance(event.position)
            else:
                await projector.apply(event)
    for projector in services.projectors.values():
        await projector.replay(created)
    return int(created.payload.get("post_id", 0))


async def test_replaying_a_parked_post_created_after_its_deletion_keeps_it_deleted(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    ctx = query_context(services, settings)
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    await keep(ctx, alice, bob)
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    doomed = post(bus, alice, "doomed")
    bus.handle(DeletePost(actor=alice, post_id=doomed))
    other = post(bus, alice, "other")
    assert await apply_with_created_parked(services) == doomed
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT deleted_at IS NOT NULL, text FROM rm_posts WHERE id = %s", (doomed,))
        assert await cur.fetchone() == (True, "")  # the tombstone PostDeleted left
    assert (await account_row(services.pool, alice.account_id))["posts"] == 1
    assert await hydrate(ctx, [(doomed, None)], bob.account_id) == []
    page = await home_timeline(ctx, bob.account_id, None, 20)
    assert [int(i["id"]) for i in page["items"]] == [other]


async def test_replaying_a_parked_post_created_after_its_deletion_leaves_timelines_alone(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    alice, bob = await bob_follows_alice(bus, services, settings)
    doomed = post(bus, alice, "doomed")
    bus.handle(DeletePost(actor=alice, post_id=doomed))
    assert await apply_with_created_parked(services) == doomed
    assert doomed not in await zset_ids(services.redis, keys.authored(alice.account_id))
    assert doomed not in await home_ids(services.redis, keys, bob.account_id)


async def test_replaying_a_parked_repost_after_the_post_was_deleted_leaves_timelines_alone(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    alice, bob, carol, doomed, shared = await bob_reposts_for_carol(bus, services, settings)
    bus.handle(DeletePost(actor=alice, post_id=doomed))
    assert await apply_with_created_parked(services, "Reposted") == doomed
    assert shared not in await zset_ids(services.redis, keys.authored(bob.account_id))
    assert await home_ids(services.redis, keys, carol.account_id) == []
    assert await home_ids(services.redis, keys, bob.account_id) == []


async def test_replaying_a_parked_post_of_an_erased_account_leaves_timelines_alone(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    alice, bob = await bob_follows_alice(bus, services, settings)
    gone = post(bus, alice, "gone with the account")
    bus.handle(EraseAccount(username=alice.username, requested_by="operator"))
    assert await apply_with_created_parked(services) == gone
    assert await home_ids(services.redis, keys, bob.account_id) == []


async def test_replaying_a_parked_follow_after_its_unfollow_leaves_it_undone(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    """Known limitation 9, closed for the timelines: the unfollow made the edge what it
    is, so the parked follow replayed later neither follows again nor backfills."""
    alice, bob = await kept_accounts(bus, services, settings, "alice", "bob")
    post(bus, alice, "before")
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    bus.handle(SetFollow(actor=bob, username="alice", active=False))
    await apply_with_created_parked(services, "Followed")
    assert await home_ids(services.redis, keys, bob.account_id) == []
    assert bob.account_id not in await timelines(services).store.followers(alice.account_id)
    post(bus, alice, "after")  # not pushed to bob
    await project_everything(services)
    assert await home_ids(services.redis, keys, bob.account_id) == []


async def test_replaying_a_parked_unfollow_after_a_refollow_keeps_the_follow(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    alice, bob = await kept_accounts(bus, services, settings, "alice", "bob")
    first = post(bus, alice, "first")
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    bus.handle(SetFollow(actor=bob, username="alice", active=False))
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    await apply_with_created_parked(services, "Unfollowed")
    assert await home_ids(services.redis, keys, bob.account_id) == [first]
    assert bob.account_id in await timelines(services).store.followers(alice.account_id)


async def test_replaying_a_parked_repost_after_its_unrepost_leaves_it_undone(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    _, bob, carol, shown, shared = await bob_reposts_for_carol(bus, services, settings)
    unrepost(bus, bob, shown)
    await apply_with_created_parked(services, "Reposted")
    assert shared not in await zset_ids(services.redis, keys.authored(bob.account_id))
    assert await home_ids(services.redis, keys, carol.account_id) == []


async def test_replaying_a_parked_post_that_was_not_deleted_publishes_it(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    """The tombstone check lets through what no deletion buried."""
    alice, bob = await bob_follows_alice(bus, services, settings)
    kept = post(bus, alice, "kept")
    other = post(bus, alice, "deleted")
    bus.handle(DeletePost(actor=alice, post_id=other))
    assert await apply_with_created_parked(services) == kept
    assert await home_ids(services.redis, keys, bob.account_id) == [kept]


# --- home timeline paging --------------------------------------------------------------------


class CountingIds:
    """Snowflake-like ids just below 2**63, where doubles cannot tell them apart."""

    def __init__(self, start: int) -> None:
        self.value = start

    def next_id(self) -> int:
        self.value += 1
        return self.value


async def test_home_timeline_paging_is_exact_for_ids_near_2_pow_63(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    reader, late = signup(bus, "reader"), signup(bus, "late_reader")
    a, b = signup(bus, "author_a"), signup(bus, "author_b")
    ctx = query_context(services, settings)
    await keep(ctx, reader)  # pushed; late_reader's timeline is rebuilt on its first read
    for follower in (reader, late):
        bus.handle(SetFollow(actor=follower, username="author_a", active=True))
        bus.handle(SetFollow(actor=follower, username="author_b", active=True))
    total = 130
    big = CommandBus(dataclasses.replace(bus.context, ids=CountingIds(2**63 - 1 - total)))
    authors = [a if i % 3 else b for i in range(total)]
    ids = [post(big, author, f"post {i}") for i, author in enumerate(authors)]
    assert ids[-1] == 2**63 - 1
    assert len({float(i) for i in ids}) < 5  # as Redis scores these would all tie
    deleted = set(ids[5:130:17])
    for post_id, author in zip(ids, authors, strict=True):
        if post_id in deleted:
            big.handle(DeletePost(actor=author, post_id=post_id))
    await project_everything(services)
    expected = [str(i) for i in sorted(set(ids) - deleted, reverse=True)]
    assert len(expected) == 122

    for who in (reader, late):
        async def fetch(cursor: str | None, limit: int, who: Actor = who) -> Page[Post]:
            return await home_timeline(ctx, who.account_id, cursor, limit)

        for limit in (3, 7, 20, 100):  # 122 is no multiple of these: see the xfail below
            pages = await page_through(fetch, limit)
            assert flatten(pages) == expected, f"{who.username} limit={limit}"
            assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1)
            assert len(pages) == -(-len(expected) // limit)
        first = await fetch(None, 3)
        assert [item["id"] for item in first["items"]] == expected[:3]
        assert first["items"][0]["author"]["username"] in ("author_a", "author_b")


async def test_a_page_that_takes_the_last_items_has_no_next_cursor(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    reader, author = signup(bus, "reader"), signup(bus, "author")
    ctx = query_context(services, settings)
    await keep(ctx, reader)
    bus.handle(SetFollow(actor=reader, username="author", active=True))
    ids = [str(post(bus, author, f"p{i}")) for i in range(4)]
    await project_everything(services)
    page = await home_timeline(ctx, reader.account_id, None, 4)
    assert [i["id"] for i in page["items"]] == ids[::-1]
    assert page["next_cursor"] is None


async def test_home_timeline_members_sort_exactly_in_redis(
    services: ProjectionServices, keys: RedisKeys
) -> None:
    """The ordering the paging relies on, checked on the server itself."""
    ids = [2**63 - 1 - k for k in range(0, 64, 3)] + [1, 10, 10**17, 2**53 + 1, 2**53]
    key = keys.home(999)
    await services.redis.zadd(key, {member(i): 0 for i in ids})
    members = await services.redis.zrange(key, "+", "-", desc=True, bylex=True)
    assert [post_id_of(m) for m in members if isinstance(m, bytes | str)] == sorted(
        ids, reverse=True)
    assert len(members) == len(ids)

