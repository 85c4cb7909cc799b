"""The contract of ``ports.event_reader.EventReader``: run against the in-memory fake
(``tests/unit/test_store_contracts.py``) and the PostgreSQL adapter
(``tests/integration/test_store_contracts.py``), each over the history ``write_history``
makes through the real command bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import pytest

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
from domain.ids import account_uuid
from ports.event_reader import EventFilter, EventReader, StoredEvent, matches
from tests.integration.conftest import signup


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
        rising = [e for before, e in pairwise(whole)
                  if _moment(e) > _moment(before)]
        where = {
            "types": EventFilter(types=frozenset({"PostCreated", "Followed"})),
            "aggregate": EventFilter(aggregate_ids=frozenset({str(account_uuid("alice"))})),
            "account": EventFilter(account_id=bob),
            "time": EventFilter(since=_moment(rising[3]), until=_moment(rising[-4])),
            "positions": EventFilter(after=whole[4].position, upto=whole[-5].position),
            "combined": EventFilter(types=frozenset({"Followed", "Unfollowed", "Liked"}),
                                    account_id=bob, after=whole[2].position),
        }[kind]
        want = expected(whole, where)
        assert 0 < len(want) < len(whole)  # the filter filters
        for size in (2, 1000):
            assert [e.position for e in await read_all(history.reader, where, size)] == want


def memory_history() -> History:
    """``write_history`` on the in-memory event store, read by ``MemoryEventReader``."""
    from infra.bootstrap import build_command_bus, close_command_bus
    from infra.event_store import MemoryEventStore
    from infra.eventlog import decode_record
    from tests.conftest import make_settings
    from tests.fakes.event_reader import MemoryEventReader
    from tests.fakes.revocations import MemoryRevocations

    store = MemoryEventStore()
    bus = build_command_bus(make_settings(), store=store, revocations=MemoryRevocations())
    try:
        actors = write_history(bus)
        records = store.recorder.select_notifications(start=0, limit=100_000,
                                                      inclusive_of_start=False)
    finally:
        close_command_bus(bus)
    reader = MemoryEventReader([decode_record(r.id, r.originator_id, r.originator_version,
                                              r.topic, r.state) for r in records])
    return History(reader, actors)
