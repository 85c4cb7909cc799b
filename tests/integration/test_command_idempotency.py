"""Idempotency-Keys made durable by the command bus, once on each event store.

The record of a key is saved in the same transaction as the command's events
(``commands.idempotency``), so a retry finds either both or neither. These
tests need no HTTP and no Redis: they run on the in-memory store as on
PostgreSQL (``write_side``). The HTTP edge's part -- Redis lost at the worst
moment, PostgreSQL down -- is in ``test_durable_idempotency.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from commands.bus import CommandBus
from commands.idempotency import IdempotencyClaim
from commands.messages import CreatePost, SetFollow
from domain.errors import ValidationFailed
from ports.event_store import EventStore, Forgotten
from tests.integration.conftest import WriteSide, signup


def claim(key: str, fingerprint: str = "request-1", owner: str = "account:1"
          ) -> IdempotencyClaim:
    return IdempotencyClaim(owner=owner, key=key, fingerprint=fingerprint)


def test_a_keyed_command_records_its_answer_with_its_events_and_is_not_run_twice(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    alice = signup(bus, "alice")
    before = write_side.head()
    first = bus.handle(CreatePost(actor=alice, text="once"), claim("k-1"))
    # the record is saved last, in the command's transaction: its position is the answer's
    assert write_side.event_types(after=before) == ["PostCreated", "IdempotencyKeyRecorded"]
    assert first.position == write_side.head() and not first.replayed
    again = bus.handle(CreatePost(actor=alice, text="once"), claim("k-1"))
    assert (again.position, again.data, again.replayed) == (first.position, first.data, True)
    assert write_side.head() == first.position  # nothing appended


def test_the_same_key_for_another_request_is_refused_and_appends_nothing(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    alice = signup(bus, "alice")
    bus.handle(CreatePost(actor=alice, text="first"), claim("k-2"))
    before = write_side.head()
    with pytest.raises(ValidationFailed) as caught:
        bus.handle(CreatePost(actor=alice, text="second"), claim("k-2", "request-2"))
    assert caught.value.code == "idempotency_key_reused"
    assert write_side.head() == before


def test_a_command_that_appends_nothing_records_its_answer_alone(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    alice, _ = signup(bus, "alice"), signup(bus, "bob")
    followed = bus.handle(SetFollow(actor=alice, username="bob", active=True))
    before = write_side.head()
    again = bus.handle(SetFollow(actor=alice, username="bob", active=True), claim("k-3"))
    assert again.position == followed.position  # already following: no follow event
    assert write_side.event_types(after=before) == ["IdempotencyKeyRecorded"]
    replayed = bus.handle(SetFollow(actor=alice, username="bob", active=True), claim("k-3"))
    assert (replayed.position, replayed.data, replayed.replayed) == (
        followed.position, again.data, True)


class MissesTheRecordOnce:
    """The event store, except that the first lookup of ``record_id`` finds nothing:
    a run that checked for the key just before a concurrent run with the same key
    committed."""

    def __init__(self, store: EventStore, record_id: UUID) -> None:
        self.store, self.record_id, self.missed = store, record_id, False
        self.clashes = 0

    def get_or_none(self, aggregate_id: UUID) -> Any:
        if aggregate_id == self.record_id and not self.missed:
            self.missed = True
            return None
        return self.store.get_or_none(aggregate_id)

    def exists(self, aggregate_id: UUID) -> bool:
        return self.store.exists(aggregate_id)

    def save_all(self, *aggregates: Aggregate | None) -> int:
        try:
            return self.store.save_all(*aggregates)
        except IntegrityError:
            self.clashes += 1
            raise

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        return self.store.position_of(aggregate_id, version)

    def forget_account(self, account_aggregate_id: UUID, account_id: int) -> Forgotten:
        return self.store.forget_account(account_aggregate_id, account_id)

    def sessions_of(self, account_id: int) -> tuple[UUID, ...]:
        return self.store.sessions_of(account_id)


def test_a_run_that_loses_the_race_for_its_key_saves_none_of_its_events(
        write_side: WriteSide) -> None:
    """The loser's post and record are one transaction: the record clashes, so its post
    is not stored either; the bus runs it again, which finds the winner's answer."""
    alice = signup(write_side.bus, "alice")
    key = claim("k-4")
    first = write_side.bus.handle(CreatePost(actor=alice, text="raced"), key)
    after_first = write_side.head()
    racing = MissesTheRecordOnce(write_side.store, key.record_id)
    late = CommandBus(replace(write_side.bus.context, store=racing))
    again = late.handle(CreatePost(actor=alice, text="raced"), key)
    assert racing.clashes == 1  # its post and record were saved together, and refused
    assert (again.data["id"], again.position, again.replayed) == (
        first.data["id"], first.position, True)
    assert write_side.head() == after_first  # the loser's PostCreated was not kept
