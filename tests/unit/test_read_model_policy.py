"""The read models' policy (``projections.read_models``) on the in-memory store
(``tests.fakes.read_models``) and post cache: exact counts under redelivery, replay and
batching, counts handed to the post cache before the commit, and the batch shape of
the store calls (what the PostgreSQL adapter turns into round trips).
``tests/integration/test_read_model_edges.py`` runs the same kind of history through
the real commands and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ports.errors import DependencyUnavailable
from ports.events import EventEnvelope
from projections.read_models import ReadModelProjector
from tests.fakes.post_cache import FakePostCache
from tests.fakes.read_models import FakeReadModelStore, Tables

ALICE, BOB, CARL = 1, 2, 3
P, REPLY, GONE = 10, 11, 12


class Log:
    """Builds envelopes in log order; each aggregate's version counts up."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []
        self.versions: dict[str, int] = {}

    def add(self, type_: str, aggregate: str, **payload: Any) -> None:
        version = self.versions[aggregate] = self.versions.get(aggregate, 0) + 1
        position = len(self.events) + 1
        at = datetime(2026, 11, 24, 10, 0, position % 60, tzinfo=UTC) + timedelta(
            minutes=position // 60)
        self.events.append(EventEnvelope(
            position=position, event_id=f"e{position}", type=type_,
            aggregate_id=self.aggregate_id(aggregate), aggregate_version=version,
            occurred_at=at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), schema_version=1,
            payload=payload))

    def aggregate_id(self, name: str) -> str:
        """The aggregate id of the aggregate called ``name`` (``/accounts/alice``)."""
        return name


def edge(log: Log, type_: str, name: str, a: str, b: str, ids: tuple[int, int],
         **extra: Any) -> None:
    log.add(type_, f"/{name}/{ids[0]}:{ids[1]}", **{a: ids[0], b: ids[1]}, **extra)


def history() -> list[EventEnvelope]:
    log = Log()
    for account_id, name in ((ALICE, "alice"), (BOB, "Bob"), (CARL, "carl")):
        log.add("AccountRegistered", f"/accounts/{name}", account_id=account_id,
                username=name, display_name=name.title())
    log.add("ProfileUpdated", "/accounts/alice", display_name="Alice A.", bio="hi",
            avatar_url="")
    log.add("PostCreated", f"/posts/{P}", post_id=P, author_id=ALICE, text="p #roost",
            reply_to_id=None, quote_of_id=None, mentions=[], hashtags=["roost"])
    log.add("PostCreated", f"/posts/{REPLY}", post_id=REPLY, author_id=BOB,
            text="r #Roost #caf\u00e9", reply_to_id=P, quote_of_id=None, mentions=["alice"],
            hashtags=["roost", "caf\u00e9"])
    log.add("PostCreated", f"/posts/{GONE}", post_id=GONE, author_id=CARL, text="g #roost",
            reply_to_id=P, quote_of_id=None, mentions=[], hashtags=["roost"])
    like = ("likes", "account_id", "post_id")
    edge(log, "Liked", *like, (BOB, P))
    edge(log, "Liked", *like, (CARL, P))
    edge(log, "Unliked", *like, (CARL, P))
    edge(log, "Reliked", *like, (CARL, P))
    edge(log, "Liked", *like, (ALICE, REPLY))
    edge(log, "Unliked", *like, (ALICE, REPLY))
    repost = ("reposts", "account_id", "post_id")
    edge(log, "Reposted", *repost, (BOB, P), post_author_id=ALICE, repost_id=500)
    edge(log, "Reposted", *repost, (CARL, P), post_author_id=ALICE, repost_id=501)
    edge(log, "Unreposted", *repost, (CARL, P), post_author_id=ALICE, repost_id=501)
    log.add("PostDeleted", f"/posts/{GONE}", post_id=GONE, author_id=CARL)
    follow = ("follows", "follower_id", "followee_id")
    edge(log, "Followed", *follow, (BOB, ALICE))
    edge(log, "Followed", *follow, (CARL, ALICE))
    edge(log, "Followed", *follow, (ALICE, BOB))
    edge(log, "Unfollowed", *follow, (CARL, ALICE))
    edge(log, "Blocked", "blocks", "blocker_id", "blocked_id", (CARL, BOB))
    edge(log, "Muted", "mutes", "muter_id", "muted_id", (ALICE, CARL))
    edge(log, "Unmuted", "mutes", "muter_id", "muted_id", (ALICE, CARL))
    return log.events


def projector() -> tuple[ReadModelProjector, FakeReadModelStore, FakePostCache]:
    store, cache = FakeReadModelStore(), FakePostCache()
    return ReadModelProjector(store, cache), store, cache


def check(tables: Tables) -> None:
    """What the history must leave, however it was delivered."""
    counts = {i: (a["followers_count"], a["following_count"], a["posts_count"])
              for i, a in tables.accounts.items()}
    assert counts == {ALICE: (1, 1, 1), BOB: (1, 1, 1), CARL: (0, 0, 0)}
    posts = {i: (p["likes_count"], p["replies_count"], p["reposts_count"],
                 p["deleted_at"] is not None) for i, p in tables.posts.items()}
    assert posts == {P: (2, 1, 1, False), REPLY: (0, 0, 0, False), GONE: (0, 0, 0, True)}
    active = {kind: {key for key, e in edges.items() if e.active}
              for kind, edges in tables.edges.items()}
    assert active == {"likes": {(BOB, P), (CARL, P)}, "reposts": {(BOB, P)},
                      "follows": {(BOB, ALICE), (ALICE, BOB)}, "blocks": {(CARL, BOB)},
                      "mutes": set()}
    assert tables.edges["reposts"][BOB, P].repost_id == 500
    assert tables.accounts[ALICE]["display_name"] == "Alice A."
    assert tables.accounts[BOB]["username_lower"] == "bob"
    # a tag row per hashtag of each live post (the tag timelines): the deleted one's went
    assert tables.post_tags == {("roost", P, ALICE), ("roost", REPLY, BOB),
                                ("caf\u00e9", REPLY, BOB)}


async def test_the_history_gives_its_rows_counts_and_position() -> None:
    events = history()
    rm, store, cache = projector()
    for event in events:
        await rm.apply(event)
    check(store.tables)
    assert await rm.position() == events[-1].position
    assert cache.counts == {P: {"likes_count": 2, "replies_count": 1, "reposts_count": 1,
                                "deleted": 0},
                            REPLY: {"likes_count": 0, "replies_count": 0, "reposts_count": 0,
                                    "deleted": 0},
                            GONE: {"likes_count": 0, "replies_count": 0, "reposts_count": 0,
                                   "deleted": 1}}


async def test_every_event_twice_and_the_whole_log_again_change_nothing() -> None:
    events = history()
    rm, store, _ = projector()
    for event in events:
        await rm.apply(event)
        await rm.apply(event)
    check(store.tables)
    once = copy.deepcopy(store.tables)
    await rm.apply_batch(events)
    for event in events:
        await rm.apply(event)
    assert store.tables == once


async def test_replaying_every_write_in_reverse_then_in_order_changes_nothing() -> None:
    """``replay`` ignores the position: versions alone keep an old edge event from undoing
    a newer state and a count from moving twice."""
    events = history()
    rm, store, _ = projector()
    await rm.apply_batch(events)
    once = copy.deepcopy(store.tables)
    for event in [*reversed(events), *events]:
        await rm.replay(event)
    assert store.tables == once


@pytest.mark.parametrize("size", [2, 3, 5, 1000])
async def test_batches_of_any_size_give_the_rows_of_one_event_at_a_time(size: int) -> None:
    events = history()
    one_by_one, store, _ = projector()
    for event in events:
        await one_by_one.apply(event)
    batched, batched_store, _ = projector()
    for start in range(0, len(events), size):
        await batched.apply_batch(events[start:start + size])
    assert batched_store.tables == store.tables


async def test_a_reset_and_rebuild_gives_the_same_rows() -> None:
    events = history()
    rm, store, _ = projector()
    await rm.apply_batch(events)
    once = copy.deepcopy(store.tables)
    await rm.reset()
    assert await rm.position() == 0 and store.tables == Tables()
    for start in range(0, len(events), 4):
        await rm.apply_batch(events[start:start + 4])
    await rm.after_rebuild()
    assert store.tables == once


async def test_a_run_of_edge_events_is_one_locked_read_one_write_and_one_call_per_count(
) -> None:
    events = history()
    rm, store, _ = projector()
    follows = [e for e in events if e.type.endswith("ollowed")]
    await rm.apply_batch(events[:follows[0].position - 1])
    store.calls.clear()
    await rm.apply_batch(follows)  # four follow events, one run
    assert store.calls == ["locked_position", "lock_edges", "write_edges", "add_to_counts",
                           "add_to_counts", "set_position"]  # following_, followers_count
    likes = [e for e in events if e.type.endswith("iked")]
    rm, store, _ = projector()
    await rm.apply_batch(events[:likes[0].position - 1])
    store.calls.clear()
    await rm.apply_batch(likes)  # six like events, one run
    assert store.calls == ["locked_position", "lock_edges", "write_edges", "add_to_counts",
                           "post_counts", "set_position"]


async def test_the_post_cache_down_rolls_the_batch_back() -> None:
    """The cache is told inside the transaction; when it cannot be, nothing is committed,
    the position stays, and the retry applies the batch whole."""
    events = history()
    rm, store, cache = projector()
    await rm.apply_batch(events[:5])
    before = copy.deepcopy(store.tables)
    cache.unavailable = True
    with pytest.raises(DependencyUnavailable):
        await rm.apply_batch(events[5:])
    assert store.tables == before and await rm.position() == 5
    cache.unavailable = False
    await rm.apply_batch(events[5:])
    check(store.tables)
    assert cache.counts[P]["likes_count"] == 2


async def test_a_deletion_applied_before_the_creation_leaves_a_tombstone() -> None:
    """A creation parked and replayed after its deletion brings nothing back."""
    events = history()
    creation = next(e for e in events if e.type == "PostCreated" and e.payload["post_id"] == GONE)
    rm, store, _ = projector()
    for event in events:
        if event is not creation:
            await rm.apply(event)
    await rm.replay(creation)
    gone = store.tables.posts[GONE]
    assert gone["deleted_at"] is not None and gone["text"] == ""
    assert store.tables.accounts[CARL]["posts_count"] == 0
    assert store.tables.posts[P]["replies_count"] == 1
    assert not any(post_id == GONE for _, post_id, _ in store.tables.post_tags)


async def test_advance_moves_the_position_forward_only_and_writes_nothing() -> None:
    rm, store, _ = projector()
    await rm.advance(7)
    await rm.advance(3)
    assert await rm.position() == 7
    assert (store.tables.accounts, store.tables.posts) == ({}, {})
    await rm.apply_batch(history()[:7])  # all at or below the position: skipped
    assert store.tables.accounts == {}


async def test_without_a_counts_sink_nothing_is_read_for_it() -> None:
    store = FakeReadModelStore()
    rm = ReadModelProjector(store)
    await rm.apply_batch(history())
    check(store.tables)
    assert "post_counts" not in store.calls



def erased_history() -> list[EventEnvelope]:
    """``history()`` and then alice erased."""
    events = history()
    last = events[-1].position + 1
    return [*events, EventEnvelope(
        position=last, event_id=f"e{last}", type="AccountErased",
        aggregate_id="/accounts/alice", aggregate_version=3,
        occurred_at="2026-11-24T10:01:00.000Z", schema_version=1,
        payload={"account_id": ALICE, "erased_by": "operator"})]


async def test_an_erased_account_leaves_no_personal_data_and_exact_counts() -> None:
    """Her post takes the delete path (bob's reply stays, its parent deleted), her
    follows and likes turn off with their counts, her row and her posts' text go; one
    batch or one by one, twice, the same."""
    for batched in (True, False):
        rm, store, cache = projector()
        events = erased_history()
        if batched:
            await rm.apply_batch(events)
        else:
            for event in [*events, *events]:
                await rm.apply(event)
        tables = store.tables
        assert ALICE not in tables.accounts
        assert tables.accounts[BOB]["followers_count"] == 0  # alice followed bob
        assert tables.accounts[BOB]["following_count"] == 0  # bob followed alice
        post = tables.posts[P]
        assert post["deleted_at"] is not None
        assert (post["text"], post["mentions"], post["hashtags"]) == ("", [], [])
        assert tables.posts[REPLY]["deleted_at"] is None  # bob's reply stays
        assert tables.posts[REPLY]["text"] == "r #Roost #caf\u00e9"
        assert not any(e.active and ALICE in (e.a, e.b)
                       for edges in (tables.edges["follows"],) for e in edges.values())
        assert not any(t[1] == P for t in tables.post_tags)
        assert cache.counts[P]["deleted"] == 1  # the post cache drops its body


async def test_erasure_replayed_from_scratch_gives_the_same_tables() -> None:
    events = erased_history()
    live, store, _ = projector()
    for event in events:
        await live.apply(event)
    again, rebuilt, _ = projector()
    await again.apply_batch(events)
    assert rebuilt.tables.accounts == store.tables.accounts
    assert rebuilt.tables.posts == store.tables.posts


def media_history() -> list[EventEnvelope]:
    log = Log()
    variant = {"key": "k", "content_type": "image/jpeg", "width": 4, "height": 3, "bytes": 9}
    for media_id in (21, 22):
        log.add("MediaUploaded", f"/media/{media_id}", media_id=media_id, owner_id=ALICE,
                description="", blurhash="bh", original=variant, small=variant)
    log.add("MediaDescribed", "/media/22", media_id=22, description="a cat")
    log.add("PostCreated", f"/posts/{P}", post_id=P, author_id=ALICE, text="",
            reply_to_id=None, quote_of_id=None, mentions=[], hashtags=[], media_ids=[22, 21])
    for media_id in (22, 21):
        log.add("MediaAttached", f"/media/{media_id}", media_id=media_id, post_id=P,
                owner_id=ALICE)
    log.add("MediaDescribed", "/media/21", media_id=21, description="a dog")
    log.add("PostCreated", f"/posts/{REPLY}", post_id=REPLY, author_id=BOB, text="old",
            reply_to_id=None, quote_of_id=None, mentions=[], hashtags=[])  # before media
    return log.events


async def test_media_rows_follow_uploads_descriptions_and_attachments_exactly_once() -> None:
    store = FakeReadModelStore()
    projector = ReadModelProjector(store)
    events = media_history()
    await projector.apply_batch(events[:3])
    await projector.apply_batch(events)  # redelivered with the rest
    once = copy.deepcopy(store.tables)
    for event in events:  # replayed from scratch over the rows: nothing changes
        await projector.replay(event)
    assert store.tables == once
    media = once.media
    assert [(media[i]["post_id"], media[i]["post_index"]) for i in (22, 21)] == [(P, 1), (P, 2)]
    assert (media[22]["description"], media[21]["description"]) == ("a cat", "a dog")
    assert once.posts[P]["media_ids"] == [22, 21] and once.posts[REPLY]["media_ids"] == []


async def test_an_erased_account_s_media_leave_the_read_models() -> None:
    """Alice's media go (the ones on her post and her unattached upload), her post keeps
    no media ids; Bob's medium stays. Replayed from scratch: the same tables."""
    events = media_history()
    log = Log()
    log.events, log.versions = list(events), {e.aggregate_id: e.aggregate_version
                                              for e in events}
    variant = {"key": "k2", "content_type": "image/png", "width": 2, "height": 2, "bytes": 5}
    for media_id, owner in ((23, BOB), (24, ALICE)):
        log.add("MediaUploaded", f"/media/{media_id}", media_id=media_id, owner_id=owner,
                description=f"alt {media_id}", blurhash="bh", original=variant, small=variant)
    log.add("AccountErased", "/accounts/alice", account_id=ALICE, erased_by="operator")
    cache = FakePostCache()
    store = FakeReadModelStore()
    await ReadModelProjector(store, cache).apply_batch(log.events)
    tables = store.tables
    assert set(tables.media) == {23}
    assert tables.media[23]["description"] == "alt 23"
    assert tables.posts[P]["deleted_at"] is not None and tables.posts[P]["media_ids"] == []
    assert cache.counts[P]["deleted"] == 1  # the post cache drops the body (its media ids)
    again = FakeReadModelStore()
    for event in log.events:
        await ReadModelProjector(again).apply(event)
    assert again.tables.media == tables.media and again.tables.posts == tables.posts


async def test_a_suspension_is_recorded_on_the_account_and_lifted() -> None:
    """``suspended_at`` is the suspension's time, gone once lifted; nothing else of the
    account or its posts changes (the readers leave them out meanwhile). An older
    suspension replayed after the lift changes nothing (versions)."""
    log = Log()
    log.events, log.versions = history(), {}
    for event in log.events:
        log.versions[event.aggregate_id] = event.aggregate_version
    before = FakeReadModelStore()
    await ReadModelProjector(before).apply_batch(log.events)
    log.add("AccountSuspended", "/accounts/alice", account_id=ALICE, reason="", by="cli:ops")
    suspended = log.events[-1]
    store = FakeReadModelStore()
    await ReadModelProjector(store).apply_batch(log.events)
    assert store.tables.accounts[ALICE]["suspended_at"] == suspended.occurred_at
    assert store.tables.posts == before.tables.posts
    assert store.tables.post_tags == before.tables.post_tags
    log.add("AccountUnsuspended", "/accounts/alice", account_id=ALICE, by="cli:ops")
    await ReadModelProjector(store).apply_batch(log.events)
    row = store.tables.accounts[ALICE]
    assert row["suspended_at"] is None
    assert {k: v for k, v in row.items() if k != "version"} == \
        {k: v for k, v in before.tables.accounts[ALICE].items() if k != "version"}
    await ReadModelProjector(store).replay(suspended)
    assert store.tables.accounts[ALICE]["suspended_at"] is None
