"""Who is notified of what, grouping and undo: the notifications projector's policy,
on the in-memory store."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.notifications import DEFAULT_PREFERENCES, NOTIFICATION_TYPES
from ports.events import EventEnvelope
from ports.live import LiveEvent
from ports.notifications import StoredGroup
from projections.notifications import NotificationProjector
from tests.fakes.live_recorder import RecordingPublisher
from tests.fakes.notifications import FakeNotificationStore, FakeNotificationWrites

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
POST = 100


class Log:
    """Envelopes in log order; ``minutes`` moves the clock of the next ones."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []
        self.clock = T0
        self.versions: Counter[str] = Counter()

    def add(self, type_: str, aggregate: str, **payload: Any) -> EventEnvelope:
        self.versions[aggregate] += 1
        stamp = self.clock.strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{self.clock.microsecond // 1000:03d}Z"
        event = EventEnvelope(
            position=len(self.events) + 1, event_id=str(uuid.uuid4()), type=type_,
            aggregate_id=aggregate, aggregate_version=self.versions[aggregate],
            occurred_at=stamp, schema_version=1, payload=payload)
        self.events.append(event)
        self.clock += timedelta(seconds=1)
        return event

    def later(self, **delta: float) -> None:
        self.clock += timedelta(**delta)

    def account(self, account_id: int, username: str) -> EventEnvelope:
        return self.add("AccountRegistered", f"a{account_id}", account_id=account_id,
                        username=username, display_name="")

    def post(self, post_id: int, author: int, reply_to: int | None = None,
             quote_of: int | None = None, mentions: tuple[str, ...] = ()) -> EventEnvelope:
        return self.add("PostCreated", f"p{post_id}", post_id=post_id, author_id=author,
                        author_username="x", text="t", mentions=list(mentions), hashtags=[],
                        reply_to_id=reply_to, quote_of_id=quote_of)

    def delete(self, post_id: int, author: int) -> EventEnvelope:
        return self.add("PostDeleted", f"p{post_id}", post_id=post_id, author_id=author)

    def like(self, account: int, post_id: int = POST, author: int = ALICE,
             type_: str = "Liked") -> EventEnvelope:
        return self.add(type_, f"l{account}:{post_id}", account_id=account, post_id=post_id,
                        post_author_id=author)

    def repost(self, account: int, post_id: int = POST, author: int = ALICE,
               type_: str = "Reposted") -> EventEnvelope:
        return self.add(type_, f"r{account}:{post_id}", account_id=account, post_id=post_id,
                        post_author_id=author, repost_id=9000 + account)

    def follow(self, follower: int, followee: int, type_: str = "Followed") -> EventEnvelope:
        return self.add(type_, f"f{follower}:{followee}", follower_id=follower,
                        followee_id=followee)

    def block(self, blocker: int, blocked: int, type_: str = "Blocked") -> EventEnvelope:
        return self.add(type_, f"b{blocker}:{blocked}", blocker_id=blocker, blocked_id=blocked)

    def mute(self, muter: int, muted: int, type_: str = "Muted") -> EventEnvelope:
        return self.add(type_, f"m{muter}:{muted}", muter_id=muter, muted_id=muted)

    def preferences(self, account: int, **changes: str) -> EventEnvelope:
        kind = "NotificationPreferencesUpdated" if self.versions[f"n{account}"] else \
            "NotificationPreferencesCreated"
        return self.add(kind, f"n{account}", account_id=account,
                        **{**DEFAULT_PREFERENCES, **changes})

    def read(self, account: int, up_to: int | None = None, ids: tuple[int, ...] = ()
             ) -> EventEnvelope:
        return self.add("NotificationsMarkedRead", str(uuid.uuid4()), account_id=account,
                        up_to_id=up_to, ids=list(ids))


@pytest.fixture
def log() -> Log:
    made = Log()
    for account_id, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "Carol"), (DAVE, "dave")):
        made.account(account_id, name)
    made.post(POST, ALICE)
    return made


@pytest.fixture
def store() -> FakeNotificationStore:
    return FakeNotificationStore()


@pytest.fixture
def live() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def projector(store: FakeNotificationStore, live: RecordingPublisher) -> NotificationProjector:
    return NotificationProjector(store, live)


async def run(projector: NotificationProjector, log: Log) -> None:
    """Apply what the projector has not seen, one event at a time (as live)."""
    for event in log.events:
        await projector.apply(event)


async def groups(store: FakeNotificationStore, recipient: int) -> list[StoredGroup]:
    return await store.groups(recipient, before=None, limit=1000, kinds=NOTIFICATION_TYPES,
                              hidden=())


async def summary(store: FakeNotificationStore, recipient: int) -> list[tuple[str, tuple[int, ...],
                                                                              int]]:
    return [(g.kind, g.account_ids, g.accounts_count) for g in await groups(store, recipient)]


async def test_a_like_notifies_the_author_and_never_the_actor(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.like(BOB)
    log.like(ALICE)  # her own post
    await run(projector, log)
    assert await summary(store, ALICE) == [("like", (BOB,), 1)]
    assert await groups(store, BOB) == []


async def test_fifty_likes_within_the_window_are_one_group_newest_first(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    likers = range(1000, 1050)
    for liker in likers:
        log.like(liker)
        log.later(minutes=10)  # 50 likes over 8 h 20 min
    await run(projector, log)
    [group] = await groups(store, ALICE)
    assert (group.kind, group.post_id, group.accounts_count) == ("like", POST, 50)
    assert group.account_ids == tuple(reversed(likers))[:8]
    assert group.latest_at == log.events[-1].occurred_at


async def test_a_group_takes_members_for_twelve_hours_from_its_first(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.like(BOB)
    log.later(hours=11, minutes=59)
    log.like(CAROL)  # 11:59:01 after the first: joins
    log.later(minutes=1)
    log.like(DAVE)  # 12:00:02 after: a new group
    log.repost(BOB)  # another type: its own group
    await run(projector, log)
    assert await summary(store, ALICE) == [("repost", (BOB,), 1), ("like", (DAVE,), 1),
                                           ("like", (CAROL, BOB), 2)]


async def test_undo_takes_the_account_out_and_an_emptied_group_away(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    for account in (BOB, CAROL, DAVE):
        log.like(account)
    log.repost(BOB)
    log.like(CAROL, type_="Unliked")
    await run(projector, log)
    assert await summary(store, ALICE) == [("repost", (BOB,), 1), ("like", (DAVE, BOB), 2)]
    log.repost(BOB, type_="Unreposted")
    log.like(CAROL, type_="Reliked")
    await run(projector, log)
    assert await summary(store, ALICE) == [("like", (CAROL, DAVE, BOB), 3)]


async def test_a_post_notifies_who_it_replies_to_quotes_and_mentions_once_each(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.post(200, BOB)
    log.post(201, CAROL, reply_to=POST, quote_of=200, mentions=("alice", "bob", "carol",
                                                                "dave", "nobody"))
    log.post(202, ALICE, reply_to=POST, mentions=("alice",))  # herself: nothing
    log.post(203, DAVE, quote_of=POST, mentions=("ALICE",))
    await run(projector, log)
    assert [(g.kind, g.post_id, g.account_ids) for g in await groups(store, ALICE)] == [
        ("quote", 203, (DAVE,)), ("reply", 201, (CAROL,))]
    assert [(g.kind, g.post_id) for g in await groups(store, BOB)] == [("quote", 201)]
    assert [(g.kind, g.post_id) for g in await groups(store, DAVE)] == [("mention", 201)]
    assert await groups(store, CAROL) == []


async def test_replies_mentions_and_quotes_are_never_grouped(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    for post_id in (300, 301, 302):
        log.post(post_id, BOB, reply_to=POST)
    await run(projector, log)
    assert [(g.kind, g.accounts_count) for g in await groups(store, ALICE)] == [
        ("reply", 1)] * 3


async def test_follows_group_and_an_unfollow_takes_one_out(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    for follower in (BOB, CAROL, DAVE):
        log.follow(follower, ALICE)
    log.follow(CAROL, ALICE, "Unfollowed")
    await run(projector, log)
    [group] = await groups(store, ALICE)
    assert (group.kind, group.post_id, group.account_ids) == ("follow", None, (DAVE, BOB))


async def test_preferences_off_and_following(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.preferences(ALICE, like="off", follow="following")
    log.follow(ALICE, CAROL)
    log.like(BOB)
    log.follow(BOB, ALICE)  # Alice does not follow Bob: not notified
    log.follow(CAROL, ALICE)
    log.repost(BOB)  # still "everyone"
    await run(projector, log)
    assert await summary(store, ALICE) == [("repost", (BOB,), 1), ("follow", (CAROL,), 1)]
    log.preferences(ALICE, like="everyone", follow="everyone")
    log.like(DAVE)
    await run(projector, log)
    assert [g.kind for g in await groups(store, ALICE)] == ["like", "repost", "follow"]


async def test_blocks_and_mutes_suppress_when_made_and_take_out_when_later(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.block(BOB, ALICE)  # either way
    log.mute(ALICE, CAROL)
    log.like(BOB)
    log.like(CAROL)
    log.post(400, CAROL, mentions=("alice",))
    log.like(DAVE)
    log.post(401, DAVE, reply_to=POST)
    await run(projector, log)
    assert await summary(store, ALICE) == [("reply", (DAVE,), 1), ("like", (DAVE,), 1)]
    log.block(ALICE, DAVE)  # after the notifications: they go
    await run(projector, log)
    assert await groups(store, ALICE) == []
    log.block(ALICE, DAVE, "Unblocked")
    log.block(BOB, ALICE, "Unblocked")
    log.like(BOB)
    await run(projector, log)
    assert await summary(store, ALICE) == [("like", (BOB,), 1)]


async def test_a_deleted_post_takes_its_notifications(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.post(500, BOB, reply_to=POST, mentions=("carol",))
    log.like(BOB)
    log.like(ALICE, post_id=500, author=BOB)
    await run(projector, log)
    assert len(await groups(store, ALICE)) == 2 and len(await groups(store, BOB)) == 1
    log.delete(500, BOB)
    await run(projector, log)
    assert await summary(store, ALICE) == [("like", (BOB,), 1)]
    assert await groups(store, BOB) == [] and await groups(store, CAROL) == []
    log.delete(POST, ALICE)
    log.post(501, BOB, reply_to=POST)  # a reply to a deleted post notifies no one
    await run(projector, log)
    assert await groups(store, ALICE) == []


async def test_read_marks_and_unread_counts(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    log.like(BOB)
    first = log.events[-1].position
    log.post(600, CAROL, reply_to=POST)
    reply = log.events[-1].position
    follow = log.follow(DAVE, ALICE).position
    await run(projector, log)
    assert (await store.summary(ALICE)).unread == {"like": 1, "reply": 1, "follow": 1}
    log.read(ALICE, up_to=reply)
    await run(projector, log)
    assert [(g.kind, g.read) for g in await groups(store, ALICE)] == [
        ("follow", False), ("reply", True), ("like", True)]
    log.like(CAROL)  # the like group gains an account: unread again, and on top
    log.read(ALICE, ids=(999,))  # names nothing
    await run(projector, log)
    assert [(g.group_id, g.kind, g.read) for g in await groups(store, ALICE)] == [
        (first, "like", False), (follow, "follow", False), (reply, "reply", True)]
    assert (await store.summary(ALICE)).unread == {"like": 1, "follow": 1}
    log.read(ALICE, ids=(follow,))
    await run(projector, log)
    assert (await store.summary(ALICE)).unread == {"like": 1}


async def test_each_account_keeps_its_newest_groups(
        log: Log, store: FakeNotificationStore) -> None:
    projector = NotificationProjector(store, max_groups=3)
    for post_id in range(700, 705):
        log.post(post_id, BOB, reply_to=POST)
    await run(projector, log)
    assert [g.post_id for g in await groups(store, ALICE)] == [704, 703, 702]


async def test_each_group_made_or_joined_is_announced_once(
        log: Log, projector: NotificationProjector, live: RecordingPublisher) -> None:
    log.like(BOB)
    log.like(CAROL)
    log.like(CAROL, type_="Unliked")
    log.post(800, DAVE, mentions=("alice", "bob"))
    await projector.apply_batch(log.events)
    group, joined, mention = log.events[-4].position, log.events[-3].position, \
        log.events[-1].position
    assert live.offered == live.events == [
        LiveEvent(ALICE, "notifications", group, 0, "notification", {"id": str(group)}),
        LiveEvent(ALICE, "notifications", joined, 0, "notification", {"id": str(group)}),
        LiveEvent(ALICE, "notifications", mention, 0, "notification", {"id": str(mention)}),
        LiveEvent(BOB, "notifications", mention, 0, "notification", {"id": str(mention)}),
    ]
    await projector.apply_batch(log.events)  # redelivered: nothing applied, nothing offered
    assert len(live.offered) == 4
    await projector.replay(log.events[-4])  # a parked event replayed: never announced
    assert len(live.offered) == 4


async def test_a_failed_batch_announces_nothing_new_and_writes_nothing(
        log: Log, store: FakeNotificationStore, live: RecordingPublisher) -> None:
    class Failing(RecordingPublisher):
        async def publish(self, events: Any) -> None:
            await super().publish(events)
            raise ConnectionError("the live store is down")

    log.like(BOB)
    with pytest.raises(ConnectionError):
        await NotificationProjector(store, Failing()).apply_batch(log.events)
    assert await store.position() == 0 and await groups(store, ALICE) == []
    projector = NotificationProjector(store, live)
    await projector.apply_batch(log.events)  # the retry announces under the same ids
    assert [e.position for e in live.events] == [log.events[-1].position]


async def test_redelivery_and_a_rebuild_give_the_same_state(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    for account in (BOB, CAROL, DAVE):
        log.like(account)
        log.follow(account, ALICE)
    log.post(900, BOB, reply_to=POST, mentions=("carol",))
    log.read(ALICE, up_to=log.events[-3].position)
    log.like(CAROL, type_="Unliked")
    for event in log.events:  # each twice, and the lot again
        await projector.apply(event)
        await projector.apply(event)
    await projector.apply_batch(log.events)
    before = {r: await groups(store, r) for r in (ALICE, BOB, CAROL)}
    counts = await store.summary(ALICE)
    await projector.reset()
    for start in range(0, len(log.events), 4):
        await projector.apply_batch(log.events[start:start + 4])
    assert {r: await groups(store, r) for r in (ALICE, BOB, CAROL)} == before
    assert await store.summary(ALICE) == counts


class CountingWrites(FakeNotificationWrites):
    calls: Counter[str] = Counter()

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and name not in ("s", "calls"):
            CountingWrites.calls[name] += 1
        return super().__getattribute__(name)


async def test_a_like_costs_the_same_store_calls_however_large_its_group(
        log: Log, store: FakeNotificationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 500 likes of one post (as the worker takes them): the group grows
    from 0 to 2,000 members and each batch makes the same calls."""
    monkeypatch.setattr("tests.fakes.notifications.FakeNotificationWrites", CountingWrites)
    projector = NotificationProjector(store)
    await projector.apply_batch(log.events)
    costs = []
    for first in range(10_000, 12_000, 500):
        CountingWrites.calls.clear()
        await projector.apply_batch([log.like(liker) for liker in range(first, first + 500)])
        costs.append(dict(CountingWrites.calls))
    assert costs[1] == costs[2] == costs[3]
    assert costs[3]["add_member"] == 500 and "create_group" not in costs[3]
    [group] = await groups(store, ALICE)
    assert group.accounts_count == 2000


async def test_an_erased_account_leaves_every_group_and_its_own_go(
        log: Log, projector: NotificationProjector, store: FakeNotificationStore) -> None:
    """Bob erased: he leaves alice's like group (counts settle), the groups about his
    posts (carol's mention) go, his own groups go, and his name no longer resolves."""
    log.like(BOB)
    log.like(CAROL)
    log.post(200, BOB, mentions=("Carol",))
    log.follow(ALICE, BOB)
    log.add("AccountErased", "a2", account_id=BOB, erased_by="operator")
    log.post(300, DAVE, mentions=("bob",))  # his name no longer reaches anyone
    await run(projector, log)
    assert await summary(store, ALICE) == [("like", (CAROL,), 1)]
    assert await groups(store, CAROL) == []
    assert await groups(store, BOB) == []
