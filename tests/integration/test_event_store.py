"""The EventStore port (``ports.event_store``): one contract, run against both stores.

``TestMemoryEventStore`` needs no server (eventsourcing's POPO recorder);
``TestPostgresEventStore`` runs on a database of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from domain.follows import FollowEdge
from domain.idempotency import IdempotencyRecord
from infra.event_store import FailFastRecorder, MemoryEventStore, PostgresEventStore, RoostStore
from infra.serialization import OrjsonTranscoder
from infra.settings import Settings
from streams.relay import RELAY_LOCK_KEY


class EventStoreContract:
    """What command handlers rely on, whatever keeps the events."""

    @pytest.fixture
    def store(self) -> Iterator[RoostStore]:
        raise NotImplementedError  # each implementation's class provides it

    def test_save_all_answers_the_position_of_the_last_event_saved(
            self, store: RoostStore) -> None:
        assert store.save_all() == 0 and store.head() == 0  # nothing pending
        edge = FollowEdge(follower_id=1, followee_id=2)
        first = store.save_all(edge)
        assert first == store.head() > 0
        edge.unfollow(follower_id=1, followee_id=2)
        other = FollowEdge(follower_id=2, followee_id=1)
        last = store.save_all(edge, None, other)  # None is skipped
        assert last == store.head() > first
        assert store.position_of(other.id, other.version) == last
        assert first < store.position_of(edge.id, edge.version) < last
        assert store.position_of(edge.id, 1) == first
        assert store.save_all(edge, other) == 0  # nothing new

    def test_loads_what_was_saved_and_knows_what_exists(self, store: RoostStore) -> None:
        edge = FollowEdge(follower_id=3, followee_id=4)
        assert store.get_or_none(edge.id) is None and not store.exists(edge.id)
        assert store.position_of(edge.id, 1) == 0
        edge.unfollow(follower_id=3, followee_id=4)
        store.save_all(edge)
        loaded = store.get_or_none(edge.id)
        assert isinstance(loaded, FollowEdge) and store.exists(edge.id)
        assert (loaded.version, loaded.active, loaded.followee_id) == (2, False, 4)
        assert store.position_of(edge.id, 3) == 0  # no such version

    def test_a_concurrent_writer_loses_and_nothing_of_its_save_is_kept(
            self, store: RoostStore) -> None:
        edge = FollowEdge(follower_id=5, followee_id=6)
        store.save_all(edge)
        mine, theirs = store.get_or_none(edge.id), store.get_or_none(edge.id)
        mine.unfollow(follower_id=5, followee_id=6)
        store.save_all(mine)
        head = store.head()
        theirs.unfollow(follower_id=5, followee_id=6)
        bystander = FollowEdge(follower_id=7, followee_id=8)
        with pytest.raises(IntegrityError):
            store.save_all(bystander, theirs)  # one transaction: the bystander too
        assert store.head() == head and not store.exists(bystander.id)

    def test_a_second_creation_of_one_id_clashes(self, store: RoostStore) -> None:
        record_id = uuid4()
        store.save_all(IdempotencyRecord(record_id=record_id, fingerprint="a", answer={},
                                         position=None))
        with pytest.raises(IntegrityError):
            store.save_all(IdempotencyRecord(record_id=record_id, fingerprint="b",
                                             answer={}, position=None))
        assert store.get_or_none(record_id).fingerprint == "a"

    def test_events_round_trip_through_our_transcoder(self, store: RoostStore) -> None:
        assert isinstance(store.mapper.transcoder, OrjsonTranscoder)
        record_id = uuid4()
        answer = {"id": 2**62, "text": "caf\u00e9 \U0001f426", "nested": {"ids": [1, 2]},
                  "owner": str(record_id)}
        store.save_all(IdempotencyRecord(record_id=record_id, fingerprint="f",
                                         answer=answer, position=7))
        loaded = store.get_or_none(record_id)
        assert (loaded.answer, loaded.position, loaded.id) == (answer, 7, record_id)


class TestMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[RoostStore]:
        built = MemoryEventStore()
        yield built
        built.close()

    def test_each_store_has_its_own_events(self) -> None:
        one, other = MemoryEventStore(), MemoryEventStore()
        one.save_all(FollowEdge(follower_id=1, followee_id=2))
        assert (one.head(), other.head()) == (1, 0)


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, settings: Settings) -> Iterator[RoostStore]:
        built = PostgresEventStore(settings)
        yield built
        built.close()


def test_parts_starting_together_create_the_table_one_at_a_time(settings: Settings) -> None:
    """Every part builds the store at start-up; the library's ``CREATE OR REPLACE
    FUNCTION`` run by two at once failed with "tuple concurrently updated" (a worker
    started beside the API exited on it). Eight stores built at once, three times."""
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=8) as pool:
            stores = list(pool.map(lambda _: PostgresEventStore(settings), range(8)))
        for built in stores:
            assert built.head() == 0
            built.close()


def test_the_store_starts_while_the_relay_holds_its_lock(settings: Settings) -> None:
    """The DDL's advisory lock once had the relay's key: with a relay active, every
    other part's store waited on it for ever (``make up`` never became healthy)."""
    relay = psycopg.connect(settings.postgres_conninfo, autocommit=True)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        relay.execute("SELECT pg_advisory_lock(%s)", (RELAY_LOCK_KEY,))
        built = pool.submit(PostgresEventStore, settings).result(timeout=20)
        assert built.head() == 0
        built.close()
    finally:
        relay.close()  # lets a waiting store go on, so a failure does not hang
        pool.shutdown()


def test_an_insert_is_never_retried_a_read_is_once(settings: Settings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An insert whose COMMIT got no answer may be stored: retrying it would clash with
    itself and the bus would run the command again (a second post). Reads are safe
    to retry (a pooled connection broken by a server restart)."""
    built = PostgresEventStore(settings)
    recorder = built.recorder
    assert isinstance(recorder, FailFastRecorder)
    tries: list[str] = []

    @contextlib.contextmanager
    def unreachable() -> Iterator[None]:
        tries.append("connection")
        raise OperationalError("server closed the connection unexpectedly")
        yield

    try:
        monkeypatch.setattr(recorder.datastore, "get_connection", unreachable)
        event = StoredEvent(uuid4(), 1, "domain.follows:FollowEdge.Created", b"{}")
        with pytest.raises(OperationalError):
            recorder.insert_events([event])
        assert tries == ["connection"]
        tries.clear()
        with pytest.raises(OperationalError):
            recorder.select_events(uuid4())
        assert tries == ["connection", "connection"]
    finally:
        monkeypatch.undo()
        built.close()


def test_the_store_holds_two_connections_and_opens_at_most_the_pool_size(
        settings: Settings) -> None:
    """eventsourcing's POOL_SIZE is a minimum with an overflow on top (10 by default):
    left as it was, each API process's store held ROOST_POSTGRES_POOL_SIZE connections
    idle and could open 10 more."""
    built = PostgresEventStore(settings)
    try:
        recorder = built.recorder
        assert isinstance(recorder, FailFastRecorder)
        pool = recorder.datastore.pool
        assert (pool.min_size, pool.max_size) == (2, settings.postgres_pool_size)
    finally:
        built.close()
