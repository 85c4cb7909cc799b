"""Likes, reposts, blocks and mutes in the PostgreSQL read models: exact counts whatever
the delivery (every event twice, the whole log again, a replay after a reset, the
writes of every event again in reverse order)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from commands.bus import CommandBus
from commands.messages import (
    Actor,
    DeletePost,
    SetBlock,
    SetFollow,
    SetLike,
    SetMute,
)
from infra.bootstrap import ProjectionServices
from infra.redis_keys import RedisKeys
from tests.integration.conftest import signup
from tests.integration.pipeline import (
    apply_all,
    cached_counts,
    dump_tables,
    post,
    post_counts,
    read_models,
    repost,
    stored_events,
    unrepost,
)


@dataclass
class History:
    author: Actor
    users: list[Actor]
    p: int
    q: int


def like(bus: CommandBus, actor: Actor, post_id: int, active: bool = True) -> None:
    bus.handle(SetLike(actor=actor, post_id=post_id, active=active))


def make_history(bus: CommandBus) -> History:
    author = signup(bus, "author")
    u1, u2, u3, u4 = (signup(bus, f"u{i}") for i in range(1, 5))
    p, q = post(bus, author, "p"), post(bus, author, "q")
    # likes: p by u1 and u3 (after an unlike and a relike); u2 took theirs back
    like(bus, u1, p)
    like(bus, u2, p)
    like(bus, u2, p, active=False)
    like(bus, u3, p)
    like(bus, u3, p, active=False)
    like(bus, u3, p)
    like(bus, u1, p)  # a repeated like appends nothing
    like(bus, u4, q)
    # reposts: p by u1 and u3 (again after an undo); u2 and u4 undid theirs
    repost(bus, u1, p)
    repost(bus, u2, p)
    unrepost(bus, u2, p)
    repost(bus, u3, p)
    unrepost(bus, u3, p)
    repost(bus, u3, p)
    repost(bus, u4, q)
    unrepost(bus, u4, q)
    # replies: one stays, one is deleted
    post(bus, u1, "a reply", reply_to_id=p)
    gone = post(bus, u2, "a deleted reply", reply_to_id=p)
    bus.handle(DeletePost(actor=u2, post_id=gone))
    # blocks end follows both ways; u3 blocks u4 again after an unblock; u4's is undone
    bus.handle(SetFollow(actor=u1, username="u2", active=True))
    bus.handle(SetFollow(actor=u2, username="u1", active=True))
    bus.handle(SetFollow(actor=u3, username="u1", active=True))
    bus.handle(SetBlock(actor=u1, username="u2", active=True))
    bus.handle(SetBlock(actor=u3, username="u4", active=True))
    bus.handle(SetBlock(actor=u3, username="u4", active=False))
    bus.handle(SetBlock(actor=u3, username="u4", active=True))
    bus.handle(SetBlock(actor=u4, username="u1", active=True))
    bus.handle(SetBlock(actor=u4, username="u1", active=False))
    # mutes
    bus.handle(SetMute(actor=u1, username="u3", active=True))
    bus.handle(SetMute(actor=u2, username="u3", active=True))
    bus.handle(SetMute(actor=u2, username="u3", active=False))
    bus.handle(SetMute(actor=u3, username="u1", active=True))
    bus.handle(SetMute(actor=u3, username="u1", active=False))
    bus.handle(SetMute(actor=u3, username="u1", active=True))
    return History(author, [u1, u2, u3, u4], p, q)


async def edges(services: ProjectionServices, table: str, ends: tuple[str, str]
                ) -> set[tuple[int, int, bool]]:
    async with services.pool.connection() as conn:
        cur = await conn.execute(f"SELECT {ends[0]}, {ends[1]}, active FROM {table}")
        return {(int(a), int(b), bool(active)) for a, b, active in await cur.fetchall()}


async def follow_counts(services: ProjectionServices, account_id: int) -> tuple[int, int]:
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT followers_count, following_count FROM rm_accounts WHERE id = %s",
            (account_id,))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def check(services: ProjectionServices, h: History) -> None:
    """The state the history must produce, however it was delivered."""
    u1, u2, u3, u4 = (u.account_id for u in h.users)
    assert await post_counts(services, h.p) == {
        "likes_count": 2, "replies_count": 1, "reposts_count": 2, "deleted": 0}
    assert await post_counts(services, h.q) == {
        "likes_count": 1, "replies_count": 0, "reposts_count": 0, "deleted": 0}
    assert await edges(services, "rm_likes", ("account_id", "post_id")) == {
        (u1, h.p, True), (u2, h.p, False), (u3, h.p, True), (u4, h.q, True)}
    assert await edges(services, "rm_reposts", ("account_id", "post_id")) == {
        (u1, h.p, True), (u2, h.p, False), (u3, h.p, True), (u4, h.q, False)}
    assert await edges(services, "rm_blocks", ("blocker_id", "blocked_id")) == {
        (u1, u2, True), (u3, u4, True), (u4, u1, False)}
    assert await edges(services, "rm_mutes", ("muter_id", "muted_id")) == {
        (u1, u3, True), (u2, u3, False), (u3, u1, True)}
    assert await edges(services, "rm_follows", ("follower_id", "followee_id")) == {
        (u1, u2, False), (u2, u1, False), (u3, u1, True)}  # the block ended both
    assert await follow_counts(services, u1) == (1, 0)
    assert await follow_counts(services, u2) == (0, 0)


async def test_edges_and_counts_are_exact_when_every_event_arrives_twice(
    bus: CommandBus, services: ProjectionServices, keys: RedisKeys
) -> None:
    h = make_history(bus)
    events = await stored_events(services.pool)
    types = {e.type for e in events}
    assert types >= {"Liked", "Unliked", "Reliked", "Reposted", "Unreposted", "Rereposted",
                     "Blocked", "Unblocked", "Reblocked", "Muted", "Unmuted", "Remuted"}
    await apply_all(services, events, times=2)
    await check(services, h)
    for post_id in (h.p, h.q):  # and the post cache has what PostgreSQL committed
        assert await cached_counts(services, keys, post_id) == await post_counts(
            services, post_id)
    once = await dump_tables(services.pool)

    await apply_all(services, events)  # the whole log redelivered
    assert await dump_tables(services.pool) == once


async def test_edges_and_counts_are_exact_after_a_reset_and_replay(
    bus: CommandBus, services: ProjectionServices, keys: RedisKeys
) -> None:
    h = make_history(bus)
    events = await stored_events(services.pool)
    await apply_all(services, events)
    once = await dump_tables(services.pool)

    projector = read_models(services)
    await projector.reset()
    assert await projector.position() == 0
    assert (await dump_tables(services.pool))["rm_likes"] == []
    for event in events:  # a rebuild where every event arrives twice in a row
        await projector.apply(event)
        await projector.apply(event)
    await check(services, h)
    assert await dump_tables(services.pool) == once
    for post_id in (h.p, h.q):
        assert await cached_counts(services, keys, post_id) == await post_counts(
            services, post_id)


async def test_replaying_every_write_again_in_reverse_order_changes_nothing(
    bus: CommandBus, services: ProjectionServices
) -> None:
    """``replay`` bypasses the position (parked events): the row versions alone must keep
    an old edge event from undoing a newer state, and a count from moving twice."""
    h = make_history(bus)
    events = await stored_events(services.pool)
    await apply_all(services, events)
    once = await dump_tables(services.pool)
    projector = read_models(services)
    for event in reversed(events):
        await projector.replay(event)
    for event in events:
        await projector.replay(event)
    await check(services, h)
    assert await dump_tables(services.pool) == once


@pytest.mark.parametrize("size", [2, 5, 1000])
async def test_batches_of_any_size_give_the_tables_of_one_event_at_a_time(
    bus: CommandBus, services: ProjectionServices, size: int
) -> None:
    """Edge events in a batch are applied in runs (a like, its unlike and its relike
    together): the rows and counts must be those of applying them one by one."""
    h = make_history(bus)
    events = await stored_events(services.pool)
    projector = read_models(services)
    for start in range(0, len(events), size):
        await projector.apply_batch(events[start:start + size])
    await check(services, h)
    batched = await dump_tables(services.pool)

    await projector.reset()
    for event in events:
        await projector.apply(event)
    assert await dump_tables(services.pool) == batched
