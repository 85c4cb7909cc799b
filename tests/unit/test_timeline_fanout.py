"""The fan-out policy of ``TimelineProjector``, on the in-memory timeline store.

Events are hand-made envelopes; the store is ``tests.fakes.timelines``, held to
the Redis adapter's behaviour by ``tests/contracts/timelines.py``. The
same rules are checked end to end (commands, PostgreSQL, Redis) by
``tests/integration/test_fanout.py``.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from ports.events import EventEnvelope
from ports.timelines import Reposts, TimelineItem
from projections.timelines import TimelineProjector
from tests.fakes.timelines import FakeTimelineStore

TTL_S = 3600
STAR, A, B, C = 1, 2, 3, 4
READERS = (11, 12, 13, 14)


class World:
    """A projector over a fake store, fed events as the runner would."""

    def __init__(self, threshold: int = 10) -> None:
        self.positions, self.ids = itertools.count(1), itertools.count(1000)
        self.store = FakeTimelineStore(max_entries=20)
        self.projector = TimelineProjector(self.store, backfill=5, celebrity_threshold=threshold)

    def envelope(self, type_: str, **payload: Any) -> EventEnvelope:
        position = next(self.positions)
        return EventEnvelope(position=position, event_id=f"e{position}", type=type_,
                             aggregate_id=f"a{position}", aggregate_version=1,
                             occurred_at="2026-11-30T10:00:00.000Z", schema_version=1,
                             payload=payload)

    def follow(self, follower: int, followee: int) -> EventEnvelope:
        return self.envelope("Followed", follower_id=follower, followee_id=followee)

    def unfollow(self, follower: int, followee: int) -> EventEnvelope:
        return self.envelope("Unfollowed", follower_id=follower, followee_id=followee)

    async def keep(self, *readers: int) -> None:
        for reader in readers:
            await self.store.mark_kept(reader, TTL_S)

    async def apply(self, *events: EventEnvelope) -> None:
        await self.projector.apply_batch(list(events))

    async def post(self, author: int) -> int:
        post_id = next(self.ids)
        await self.apply(self.envelope("PostCreated", author_id=author, post_id=post_id))
        return post_id

    async def repost(self, account: int, post_id: int, author: int) -> int:
        repost_id = next(self.ids)
        await self.apply(self.envelope("Reposted", account_id=account, post_id=post_id,
                                       repost_id=repost_id, post_author_id=author))
        return repost_id

    async def home(self, reader: int) -> list[TimelineItem]:
        [items] = await self.store.slices(reader, [], None, 1000)
        return items[::-1]


async def test_a_post_reaches_its_author_and_kept_followers_only() -> None:
    w = World()
    await w.keep(A, 11, 12)
    await w.apply(w.follow(11, A), w.follow(13, A))  # 13 is not kept
    p = await w.post(A)
    assert await w.home(A) == [(p, None)]
    assert await w.home(11) == [(p, None)]
    assert await w.home(12) == []
    assert not await w.store.is_kept(13)
    assert await w.projector.position() == await w.store.position() > 0


async def test_events_applied_again_change_nothing() -> None:
    w = World()
    await w.keep(11, 12)
    events = [w.follow(11, A), w.follow(12, B), w.follow(11, B)]
    await w.apply(*events)
    p = await w.post(A)
    events.append(w.envelope("Reposted", account_id=B, post_id=p, repost_id=next(w.ids),
                             post_author_id=A))
    events.append(w.unfollow(12, B))
    await w.apply(*events[-2:])
    once = copy.deepcopy(w.store.dump())
    await w.apply(*events)  # redelivered: at or below the position
    assert w.store.dump() == once
    for event in events:  # the writes again, position aside
        await w.projector.replay(event)
    assert w.store.dump() == once


async def test_unfollowing_a_reposter_keeps_the_post_of_a_followed_author() -> None:
    w = World()
    await w.keep(11)
    await w.apply(w.follow(11, B))
    p = await w.post(A)
    await w.repost(B, p, A)
    await w.apply(w.follow(11, A), w.unfollow(11, B))
    assert await w.home(11) == [(p, None)]


async def test_undoing_one_of_two_followed_reposts_leaves_the_other_shown() -> None:
    w = World()
    await w.keep(11)
    await w.apply(w.follow(11, B), w.follow(11, C))
    p = await w.post(A)
    rb = await w.repost(B, p, A)
    rc = await w.repost(C, p, A)
    assert await w.home(11) == [(rb, p)]
    await w.apply(w.envelope("Unreposted", account_id=B, post_id=p, repost_id=rb))
    assert await w.home(11) == [(rc, p)]


async def test_deleting_a_post_takes_every_repost_of_it_away() -> None:
    w = World()
    await w.keep(11, 12)
    await w.apply(w.follow(11, B), w.follow(12, C))
    p = await w.post(A)
    await w.repost(B, p, A)
    await w.repost(C, p, A)
    await w.apply(w.envelope("PostDeleted", author_id=A, post_id=p))
    assert await w.home(11) == [] and await w.home(12) == []
    assert await w.store.recent_authored(B, 10) == []
    assert await w.store.reposts_of([p]) == [Reposts(None, {})]


async def test_a_celebrity_is_pulled_from_the_follow_that_crosses_the_threshold() -> None:
    w = World(threshold=2)
    await w.keep(*READERS)
    before = await w.post(STAR)
    await w.apply(w.follow(11, STAR), w.follow(12, STAR))
    assert not await w.store.is_celebrity(STAR)
    await w.apply(w.follow(13, STAR))
    assert await w.store.is_celebrity(STAR)
    assert await w.store.celebrity_since(STAR) == (before, None)
    assert await w.home(13) == []  # no backfill from a celebrity
    famous = await w.post(STAR)
    for reader in (11, 12, 13):
        assert (famous, None) not in await w.home(reader)
    await w.apply(w.unfollow(11, STAR))  # back to 2: demoted, the missed posts pushed
    assert not await w.store.is_celebrity(STAR)
    assert await w.home(12) == [(before, None), (famous, None)]
    assert await w.home(13) == [(before, None), (famous, None)]
    assert await w.home(11) == []


@pytest.mark.parametrize("batch", [3, 8])
async def test_follows_in_one_batch_leave_what_one_at_a_time_leaves(batch: int) -> None:
    async def state(batch: int) -> dict[str, object]:
        w = World(threshold=2)
        await w.keep(*READERS)
        a1, b1 = await w.post(A), await w.post(B)
        await w.repost(B, a1, A)
        c1 = await w.post(C)
        follows = [w.follow(reader, followee) for reader, followee in (
            (11, A), (11, B), (11, C), (12, A), (12, B), (13, A), (14, A), (14, C))]
        for start in range(0, len(follows), batch):
            await w.apply(*follows[start:start + batch])
        assert await w.home(11) == [(a1, None), (b1, None), (c1, None)]
        assert await w.home(14) == [(c1, None)]  # A became a celebrity at 13's follow
        return w.store.dump()

    assert await state(batch) == await state(1)


async def test_an_erased_account_s_posts_and_reposts_leave_every_timeline() -> None:
    """A erased: her posts leave her followers' timelines and take others' reposts of
    them along (the delete-post path); her repost of B's post goes, and B's post stays
    where B is followed (the unrepost path)."""
    world = World()
    reader, other, fan = READERS[0], READERS[1], READERS[2]
    await world.keep(reader, other, fan)
    await world.apply(world.follow(reader, A), world.follow(reader, B),
                      world.follow(other, C), world.follow(fan, A))
    mine = await world.post(A)
    theirs = await world.post(B)
    await world.repost(C, mine, A)
    shared = await world.repost(A, theirs, B)
    assert sorted(await world.home(fan)) == [(mine, None), (shared, theirs)]
    assert sorted(await world.home(reader)) == [(mine, None), (theirs, None)]
    assert len(await world.home(other)) == 1  # C's repost of A's post
    await world.apply(world.envelope("AccountErased", account_id=A, erased_by="operator"))
    assert await world.home(reader) == [(theirs, None)]
    assert await world.home(other) == []
    assert await world.home(fan) == []
    assert await world.store.recent_authored(A, 100) == []
