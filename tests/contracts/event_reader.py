"""The contract of ``ports.event_reader.EventReader``: run against the in-memory fake
(``tests/unit/test_store_contracts.py``) and the PostgreSQL adapter
(``tests/integration/test_store_contracts.py``), over the history ``write_history``
makes through the real command bus (fixture ``history``) and over aggregates saved
straight into an event store (fixture ``given``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from eventsourcing.domain import Aggregate

from commands.bus import CommandBus
from commands.messages import (
    Actor,
    CreatePost,
    DeletePost,
    Logout,
    SetBlock,
    SetFollow,
    SetLike,
    UpdateProfile,
)
from domain.accounts import Account
from domain.follows import FollowEdge
from domain.ids import account_uuid
from domain.posts import Post
from domain.sessions import Session
from ports.event_reader import EventFilter, EventReader, StoredEvent, matches
from tests.integration.conftest import signup

if TYPE_CHECKING:
    from infra.event_store import MemoryEventStore
    from tests.fakes.event_reader import MemoryEventReader

Given = Callable[[Sequence[Aggregate]], Awaitable[EventReader]]
"""``given(aggregates)``: saves each aggregate's pending events, one save per aggregate
in the order given, and returns the reader over that store."""

ALICE, BOB = 101, 202


def _account(account_id: int, username: str) -> Account:
    return Account(account_id=account_id, username=username, email=f"{username}@example.com",
                   password_hash="$argon2id$secret-hash", display_name=username.title())


def _post(post_id: int, author: Account) -> Post:
    return Post(post_id=post_id, author_id=author.account_id, author_username=author.username,
                text=f"post {post_id}", mentions=[], hashtags=[], reply_to_id=None,
                quote_of_id=None)


def aggregates() -> list[Aggregate]:
    """Alice and Bob sign up; Alice edits her profile, posts, follows Bob and logs in
    (a session refreshed once); Bob posts. 9 events."""
    alice, bob = _account(ALICE, "alice"), _account(BOB, "bob")
    alice.update_profile(display_name="Alice A", bio="hi", avatar_url="")
    session = Session(account_id=ALICE, username="alice", refresh_hash="refresh-secret-1")
    session.refresh(refresh_hash="refresh-secret-2")
    return [alice, bob, _post(1, alice), FollowEdge(follower_id=ALICE, followee_id=BOB),
            session, _post(2, bob), _post(3, alice)]


@dataclass
class History:
    """A reader over ``write_history``'s events, and the actors that made them."""

    reader: EventReader
    actors: dict[str, Actor]


def write_history(bus: CommandBus) -> dict[str, Actor]:
    """Three accounts posting, following, liking, blocking, editing, deleting, leaving."""
    alice, bob, carol = (signup(bus, name) for name in ("alice", "bob", "carol"))
    first = int(bus.handle(CreatePost(actor=alice, text="hello #roost")).data["id"])
    bus.handle(CreatePost(actor=alice, text="second"))
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    bus.handle(SetLike(actor=bob, post_id=first, active=True))
    bus.handle(UpdateProfile(actor=alice, changes={"bio": "analyst"}))
    bus.handle(SetBlock(actor=carol, username="bob", active=True))
    bus.handle(CreatePost(actor=carol, text="carol here"))
    bus.handle(DeletePost(actor=alice, post_id=first))
    bus.handle(SetFollow(actor=bob, username="alice", active=False))
    bus.handle(Logout(actor=bob))
    return {"alice": alice, "bob": bob, "carol": carol}


async def read_all(reader: EventReader, where: EventFilter, limit: int = 1000
                   ) -> list[StoredEvent]:
    found: list[StoredEvent] = []
    after = 0
    while True:
        batch = await reader.read(where, after, limit)
        found += batch.events
        after = batch.scanned_to
        if batch.done:
            return found


def _moment(event: StoredEvent) -> datetime:
    return datetime.fromisoformat(event.envelope.occurred_at)


def expected(events: list[StoredEvent], where: EventFilter) -> list[int]:
    return [e.position for e in events if matches(where, e, _moment(e))]


class EventReaderContract:
    """What every ``EventReader`` must do. Subclasses provide ``history``."""

    async def test_reads_everything_in_order_in_batches_of_any_size(self, history: History
                                                                     ) -> None:
        whole = await read_all(history.reader, EventFilter())
        positions = [e.position for e in whole]
        assert positions == sorted(set(positions)) and len(positions) >= 19
        assert positions[-1] == await history.reader.head()
        for size in (1, 3, 7):
            assert [e.position for e in await read_all(history.reader, EventFilter(), size)
                    ] == positions

    async def test_a_batch_ends_the_read_only_when_short(self, history: History) -> None:
        whole = await read_all(history.reader, EventFilter())
        batch = await history.reader.read(EventFilter(), 0, len(whole))
        assert not batch.done and batch.scanned_to == whole[-1].position
        rest = await history.reader.read(EventFilter(), batch.scanned_to, 5)
        assert rest.done and rest.events == [] and rest.scanned_to == whole[-1].position

    async def test_the_account_is_the_one_that_caused_the_event(self, history: History
                                                                ) -> None:
        alice, bob = history.actors["alice"].account_id, history.actors["bob"].account_id
        by_type: dict[str, list[int | None]] = {}
        for event in await read_all(history.reader, EventFilter()):
            by_type.setdefault(event.envelope.type, []).append(event.account)
        assert by_type["Followed"] == [bob] and by_type["Unfollowed"] == [bob]
        assert by_type["Liked"] == [bob]
        assert by_type["ProfileUpdated"] == [alice]  # its payload names nobody
        assert by_type["SessionEnded"] == [bob]
        assert by_type["PostDeleted"] == [alice]

    async def test_usernames_resolve_in_any_case(self, history: History) -> None:
        assert await history.reader.account_id("ALICE") == history.actors["alice"].account_id
        assert await history.reader.account_id("nobody") is None

    async def test_secrets_are_not_read(self, history: History) -> None:
        for event in await read_all(history.reader, EventFilter()):
            assert not {"email", "password_hash", "refresh_hash"} & set(event.envelope.payload)

    @pytest.mark.parametrize("kind", ["types", "aggregate", "account", "time", "positions",
                                      "combined"])
    async def test_each_filter_selects_exactly_its_events(self, history: History, kind: str
                                                          ) -> None:
        whole = await read_all(history.reader, EventFilter())
        bob = history.actors["bob"].account_id
        # occurred_at has millisecond resolution: on a fast machine many events share
        # one, so the window is cut between distinct moments (the first and the last
        # left out), never between events
        moments = sorted({_moment(e) for e in whole})
        assert len(moments) >= 3  # three sign-ups hash three passwords, ms apart
        where = {
            "types": EventFilter(types=frozenset({"PostCreated", "Followed"})),
            "aggregate": EventFilter(aggregate_ids=frozenset({str(account_uuid("alice"))})),
            "account": EventFilter(account_id=bob),
            "time": EventFilter(since=moments[1], until=moments[-1]),
            "positions": EventFilter(after=whole[4].position, upto=whole[-5].position),
            "combined": EventFilter(types=frozenset({"Followed", "Unfollowed", "Liked"}),
                                    account_id=bob, after=whole[2].position),
        }[kind]
        want = expected(whole, where)
        assert 0 < len(want) < len(whole)  # the filter filters
        for size in (2, 1000):
            assert [e.position for e in await read_all(history.reader, where, size)] == want

    async def test_an_empty_store_has_no_events(self, given: Given) -> None:
        reader = await given([])
        assert await reader.head() == 0
        batch = await reader.read(EventFilter(), 0, 10)
        assert batch.events == [] and batch.done

    async def test_types_are_class_names_and_a_name_of_no_class_selects_nothing(
            self, given: Given) -> None:
        reader = await given(aggregates())
        found = await read_all(reader, EventFilter(types=frozenset({"PostCreated", "Followed"})),
                               2)
        assert [e.envelope.type for e in found] == ["PostCreated", "Followed", "PostCreated",
                                                    "PostCreated"]
        assert await read_all(reader, EventFilter(types=frozenset({"NoSuchType"}))) == []

    async def test_an_aggregate_and_an_account_select_their_events(self, given: Given
                                                                   ) -> None:
        saved = aggregates()
        reader = await given(saved)
        session = await read_all(reader, EventFilter(aggregate_ids=frozenset({str(saved[4].id)})))
        assert [(e.envelope.type, e.envelope.aggregate_version) for e in session] == [
            ("SessionStarted", 1), ("SessionRefreshed", 2)]
        alices = await read_all(reader, EventFilter(account_id=ALICE), 3)
        assert [e.envelope.type for e in alices] == [
            "AccountRegistered", "ProfileUpdated", "PostCreated", "Followed",
            "SessionStarted", "SessionRefreshed", "PostCreated"]
        bobs = await read_all(reader, EventFilter(account_id=BOB))
        assert [e.envelope.type for e in bobs] == ["AccountRegistered", "PostCreated"]
        assert await read_all(reader, EventFilter(account_id=999)) == []

    async def test_secrets_are_never_handed_out(self, given: Given) -> None:
        reader = await given(aggregates())
        for event in await read_all(reader, EventFilter()):
            text = str(event.envelope.payload)
            assert "secret" not in text and "@example.com" not in text, event
            assert not {"password_hash", "refresh_hash", "email"} & set(event.envelope.payload)

    async def test_personal_fields_read_in_plain(self, given: Given) -> None:
        """Stored sealed (``infra.personal_data``), read opened: what the export, the
        tail and the admin API show."""
        reader = await given(aggregates())
        read = await read_all(reader, EventFilter())
        found = {(e.envelope.type, e.envelope.aggregate_version, e.account): e.envelope.payload
                 for e in read}
        assert found[("AccountRegistered", 1, ALICE)]["username"] == "alice"
        assert found[("AccountRegistered", 1, ALICE)]["display_name"] == "Alice"
        assert found[("ProfileUpdated", 2, ALICE)]["bio"] == "hi"
        posts = sorted(e.envelope.payload["text"] for e in read
                       if e.envelope.type == "PostCreated")
        assert posts == ["post 1", "post 2", "post 3"]
        assert found[("SessionStarted", 1, ALICE)]["username"] == "alice"


def memory_reader(store: MemoryEventStore) -> MemoryEventReader:
    """``MemoryEventReader`` over every event of ``store``, decoded as the PostgreSQL
    adapter decodes them (personal fields opened with the store's data keys)."""
    from infra.eventlog import decode_record, sealing_key_ids
    from tests.fakes.event_reader import MemoryEventReader

    records = store.recorder.select_notifications(start=0, limit=100_000,
                                                  inclusive_of_start=False)
    keys = store.keys.keys(sealing_key_ids(r.state for r in records))
    return MemoryEventReader([decode_record(r.id, r.originator_id, r.originator_version,
                                            r.topic, r.state, keys) for r in records])


def memory_history() -> History:
    """``write_history`` on the in-memory event store, read by ``MemoryEventReader``."""
    from infra.bootstrap import build_command_bus, close_command_bus
    from infra.event_store import MemoryEventStore
    from tests.conftest import make_settings
    from tests.fakes.revocations import MemoryRevocations

    store = MemoryEventStore()
    bus = build_command_bus(make_settings(), store=store, revocations=MemoryRevocations())
    try:
        actors = write_history(bus)
    finally:
        close_command_bus(bus)
    return History(memory_reader(store), actors)
