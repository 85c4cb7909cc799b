"""The search projection's policy (``projections.search``) on the in-memory index: which
events change which document, at which version, and what applying them again,
late or out of order does."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from ports.events import EventEnvelope
from ports.search import AccountSearch, Change, PostSearch, PutAccount, WriteOutcome
from projections.search import SearchProjector
from tests.fakes.search import MemorySearchIndex

ALICE, BOB, CAROL = 11, 22, 33


def event(position: int, type_: str, aggregate: str = "agg", **payload: Any) -> EventEnvelope:
    return EventEnvelope(position=position, event_id=f"e{position}", type=type_,
                         aggregate_id=aggregate, aggregate_version=1,
                         occurred_at=f"2026-03-{1 + position % 28:02d}T10:00:00.000Z",
                         schema_version=1, payload=payload)


def registered(position: int, account_id: int, username: str, name: str) -> EventEnvelope:
    return event(position, "AccountRegistered", f"acc-{username}", account_id=account_id,
                 username=username, display_name=name)


def created(position: int, post_id: int, author: int, username: str, text: str,
            tags: Sequence[str] = ()) -> EventEnvelope:
    return event(position, "PostCreated", f"post-{post_id}", post_id=post_id,
                 author_id=author, author_username=username, text=text, mentions=[],
                 hashtags=list(tags), reply_to_id=None, quote_of_id=None)


def renamed(position: int, username: str, name: str) -> EventEnvelope:
    return event(position, "ProfileUpdated", f"acc-{username}", display_name=name, bio="",
                 avatar_url="")


def follow(position: int, type_: str, follower: int, followee: int) -> EventEnvelope:
    return event(position, type_, f"f-{follower}-{followee}", follower_id=follower,
                 followee_id=followee)


LOG = [
    registered(1, ALICE, "alice", "Alice Liddell"),
    registered(2, BOB, "bob", "Bob"),
    created(3, 100, ALICE, "alice", "down the rabbit hole", ["wonderland"]),
    event(4, "Liked", "like", account_id=BOB, post_id=100),  # nothing to index
    follow(5, "Followed", BOB, ALICE),
    created(6, 101, ALICE, "alice", "a mad tea party"),
    renamed(7, "alice", "Alice Pleasance"),
    created(8, 102, ALICE, "alice", "the queen's croquet ground"),
    follow(9, "Unfollowed", BOB, ALICE),
    follow(10, "Refollowed", BOB, ALICE),
    event(11, "PostDeleted", "post-101", post_id=101, author_id=ALICE),
]


async def found(index: MemorySearchIndex, **search: Any) -> list[int]:
    return [h.id for h in await index.search_posts(PostSearch(order="newest", size=100,
                                                              **search))]


async def state(index: MemorySearchIndex) -> dict[str, Any]:
    posts = {i: (p.version, p.doc) for i, p in index.posts.items()}
    return {"posts": posts, "accounts": dict(index.account_docs), "position": index.recorded}


@pytest.fixture
def index() -> MemorySearchIndex:
    return MemorySearchIndex()


async def test_the_log_in_one_batch_and_one_by_one_make_the_same_index(
    index: MemorySearchIndex,
) -> None:
    await SearchProjector(index).apply_batch(LOG)
    one_by_one = MemorySearchIndex()
    for each in LOG:
        await SearchProjector(one_by_one).apply(each)
    assert await state(index) == await state(one_by_one)
    assert index.recorded == 11
    alice = index.stored_account(ALICE)
    assert alice is not None
    assert (alice.display_name, alice.followers_count, alice.profile_position) == (
        "Alice Pleasance", 1, 7)
    assert await found(index) == [102, 100]  # 101 deleted
    assert await found(index, words=("pleasance",)) == [102, 100]  # renamed everywhere
    assert await found(index, words=("liddell",)) == []
    assert await found(index, tags=("wonderland",)) == [100]


async def test_applying_again_changes_nothing_counts_included(index: MemorySearchIndex
                                                              ) -> None:
    projector = SearchProjector(index)
    await projector.apply_batch(LOG)
    before = await state(index)
    await projector.apply_batch(LOG)  # a redelivery: below the position
    assert await state(index) == before
    index.recorded = 4  # a crash after the writes, before the position was recorded
    await projector.apply_batch(LOG[4:])
    after = await state(index)
    assert after["accounts"] == before["accounts"] and after["posts"] == before["posts"]
    for each in LOG:  # replay-parked of every event: versions refuse them all
        await projector.replay(each)
    assert (await state(index))["accounts"] == before["accounts"]


async def test_a_delete_that_arrives_before_its_post_wins(index: MemorySearchIndex) -> None:
    projector = SearchProjector(index)
    await projector.apply_batch(LOG[:2])
    await projector.replay(event(9, "PostDeleted", "post-7", post_id=7, author_id=ALICE))
    await projector.replay(created(5, 7, ALICE, "alice", "out of order"))
    assert await found(index, words=("order",)) == []


async def test_a_crash_between_the_renames_and_the_accounts_renames_again(
    index: MemorySearchIndex,
) -> None:
    """The rename is re-issued exactly when its account was not written: posts never
    keep an old name behind an account that shows the new one."""

    class CrashOnAccounts(MemorySearchIndex):
        crash = True

        async def write(self, changes: Sequence[Change], upto: int | None) -> WriteOutcome:
            if self.crash and any(isinstance(c, PutAccount) for c in changes):
                await super().write([c for c in changes if not isinstance(c, PutAccount)],
                                    upto=None)
                raise ConnectionError("crashed before the accounts")
            return await super().write(changes, upto)

    crashing = CrashOnAccounts()
    projector = SearchProjector(crashing)
    crashing.crash = False
    await projector.apply_batch(LOG[:3])
    crashing.crash = True
    with pytest.raises(ConnectionError):
        await projector.apply_batch([renamed(4, "alice", "Renamed Once")])
    assert await found(crashing, words=("renamed",)) == [100]  # posts first
    stored = crashing.stored_account(ALICE)
    assert stored is not None and stored.display_name == "Alice Liddell"
    crashing.crash = False
    await projector.apply_batch([renamed(4, "alice", "Renamed Once"),
                                 created(5, 103, ALICE, "alice", "after")])
    assert await found(crashing, words=("renamed",)) == [103, 100]
    stored = crashing.stored_account(ALICE)
    assert stored is not None and stored.display_name == "Renamed Once"


async def test_events_of_no_concern_only_move_the_position(index: MemorySearchIndex) -> None:
    await SearchProjector(index).apply_batch([
        event(1, "SessionStarted", "s"), event(2, "Liked", "l", account_id=1, post_id=2)])
    assert index.recorded == 2 and index.posts == {} and index.account_docs == {}
    await SearchProjector(index).advance(9)
    assert await index.position() == 9


async def test_a_follow_of_an_account_the_index_lacks_is_skipped(index: MemorySearchIndex
                                                                 ) -> None:
    await SearchProjector(index).apply_batch([follow(1, "Followed", BOB, CAROL),
                                              renamed(2, "nobody", "Nobody")])
    assert index.account_docs == {} and index.recorded == 2


@pytest.mark.parametrize("bad", [
    event(1, "PostCreated", "p", post_id=5, author_id=ALICE),
    event(1, "PostDeleted", "p", post_id="not a number", author_id=ALICE),
    event(1, "Followed", "f", followee_id=ALICE),
    event(1, "PostCreated", "p", post_id=5, author_id=ALICE, author_username="a",
          text=["not", "text"], mentions=[], hashtags=[]),
], ids=["missing fields", "wrong types", "missing follower", "text not a string"])
async def test_an_event_of_the_wrong_shape_raises_and_writes_nothing(
    index: MemorySearchIndex, bad: EventEnvelope,
) -> None:
    with pytest.raises((KeyError, TypeError)):
        await SearchProjector(index).apply(bad)
    assert await index.position() == 0 and index.posts == {}


async def test_an_erased_account_leaves_the_index_in_a_batch_or_later(
    index: MemorySearchIndex,
) -> None:
    """Its account document goes and every post of it becomes a tombstone, whether the
    posts were indexed in earlier batches or in the erasure's own batch; an older write
    of one of them, redelivered, cannot bring it back."""
    erased = event(12, "AccountErased", "acc-alice", account_id=ALICE, erased_by="operator")
    for split in (len(LOG), 3):
        index = MemorySearchIndex()
        projector = SearchProjector(index)
        await projector.apply_batch(LOG[:split])
        await projector.apply_batch([*LOG[split:], erased])
        assert index.stored_account(ALICE) is None
        assert index.stored_account(BOB) is not None
        assert await found(index) == []
        assert all(post.doc is None for post in index.posts.values())
        await projector.replay(created(8, 102, ALICE, "alice", "the queen's croquet ground"))
        assert await found(index) == []
        assert index.recorded == 12


def suspension(position: int, type_: str, account_id: int, username: str) -> EventEnvelope:
    extra = {"reason": "spam"} if type_ == "AccountSuspended" else {}
    return event(position, type_, f"acc-{username}", account_id=account_id, by="cli:ops",
                 **extra)


SUSPENDED_LOG = [
    *LOG,
    suspension(12, "AccountSuspended", ALICE, "alice"),
    created(13, 103, ALICE, "alice", "posted as the suspension landed", ["wonderland"]),
    follow(14, "Followed", CAROL, ALICE),
    renamed(15, "alice", "Alice Hidden"),
]
UNSUSPENDED = suspension(16, "AccountUnsuspended", ALICE, "alice")


async def test_a_suspended_account_and_its_posts_leave_search_until_lifted() -> None:
    """Every split of the log into batches (one batch, one event each, any cut) makes the
    same index: the account and all its posts (those indexed before and the one created
    after the suspension) found by nothing; Bob untouched; lifting it brings them all
    back with what happened meanwhile (the rename, the follow)."""
    states = []
    for splits in ([len(SUSPENDED_LOG)], list(range(1, len(SUSPENDED_LOG))), [3], [12],
                   [13]):
        index = MemorySearchIndex()
        projector = SearchProjector(index)
        bounds = [0, *splits, len(SUSPENDED_LOG)]
        for start, end in itertools.pairwise(bounds):
            if start < end:
                await projector.apply_batch(SUSPENDED_LOG[start:end])
        states.append(await state(index))
        alice = index.stored_account(ALICE)
        assert alice is not None and alice.suspended and alice.followers_count == 2
        assert await found(index) == []
        assert await found(index, tags=("wonderland",)) == []
        assert await found(index, authors=("alice",)) == []
        assert await found(index, words=("hidden",)) == []
        assert [h.id for h in await index.search_accounts(AccountSearch("ali"))] == []
        assert [h.id for h in await index.search_accounts(AccountSearch("bob"))] == [BOB]
        await projector.apply_batch([UNSUSPENDED])
        assert await found(index) == [103, 102, 100]
        assert await found(index, words=("hidden",)) == [103, 102, 100]
        assert await found(index, tags=("wonderland",)) == [103, 100]
        assert [h.id for h in await index.search_accounts(AccountSearch("ali"))] == [ALICE]
    assert all(each == states[0] for each in states)


async def test_a_stale_or_repeated_suspension_event_changes_nothing(
    index: MemorySearchIndex,
) -> None:
    """Redelivered below the position, replayed from the parking lot after the lift, or
    applied again after a crash before the position was recorded: the account stays as
    its newest event left it, and so do its posts."""
    projector = SearchProjector(index)
    await projector.apply_batch([*SUSPENDED_LOG, UNSUSPENDED])
    before = await state(index)
    await projector.apply_batch(SUSPENDED_LOG)  # redelivered
    for each in SUSPENDED_LOG[-4:]:
        await projector.replay(each)  # replay-parked, out of order
    assert await state(index) == before
    index.recorded = 11  # a crash before the position of the last batches was recorded
    await projector.apply_batch([*SUSPENDED_LOG[11:], UNSUSPENDED])
    after = await state(index)
    assert after["accounts"] == before["accounts"] and after["posts"] == before["posts"]
    assert await found(index) == [103, 102, 100]


async def test_a_suspension_of_an_account_the_index_lacks_still_flags_its_posts(
    index: MemorySearchIndex,
) -> None:
    """Its registration parked: the posts indexed without it leave search all the same."""
    projector = SearchProjector(index)
    await projector.apply_batch([created(1, 7, CAROL, "carol", "orphan post")])
    await projector.apply_batch([suspension(2, "AccountSuspended", CAROL, "carol")])
    assert await found(index) == [] and index.account_docs == {}
    await projector.apply_batch([suspension(3, "AccountUnsuspended", CAROL, "carol")])
    assert await found(index) == [7]
