"""The event store (port ``ports.event_store.EventStore``): two ``eventsourcing``
Applications that differ only in persistence.

* ``PostgresEventStore``: the ``roost_events`` table that every process runs on.
  Its recorder fails fast (``FailFastRecorder``) and its positions are the
  table's ``notification_id``.
* ``MemoryEventStore``: eventsourcing's in-memory POPO recorder
  (``PERSISTENCE_MODULE=eventsourcing.popo``), for handler tests that need no
  server. Its recorder checks the same uniqueness, atomically, under one lock,
  so clashes and all-or-nothing saves behave as on PostgreSQL.

Both write events with this package's transcoder (``infra.serialization``),
supplied here through the Application's ``construct_transcoder`` hook, and seal
the personal fields of an account's events with its data key
(``infra.personal_data.SealingMapper``, through ``construct_mapper``), so the
command side never names either. ``forget_account`` is erasure's part of the
store: the key destroyed, the rows that hold the account's personal data in plain
JSON rewritten.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InterfaceError,
    Mapper,
    OperationalError,
    Recording,
    StoredEvent,
    Transcoder,
)
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, retry
from psycopg import sql

from infra.advisory_locks import AdvisoryLock
from infra.group_commit import GroupCommitter
from infra.personal_data import (
    SESSION_STARTED,
    KeyRing,
    MemoryKeyRing,
    OwnedAggregates,
    PostgresKeyRing,
    SealingMapper,
    candidate_topics,
    scrub_row,
)
from infra.popo_rows import rewrite_states
from infra.serialization import build_transcoder
from infra.settings import Settings
from ports.event_store import Forgotten

ATTEMPTS = 2
WAIT_S = 0.05


def _fewer_attempts(method: Callable[..., Any]) -> Any:
    original = method.__wrapped__  # type: ignore[attr-defined]
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=WAIT_S)(original)


class FailFastRecorder(PostgresApplicationRecorder):
    """The PostgreSQL recorder, failing fast when PostgreSQL does not answer.

    ``eventsourcing`` retries every insert and select ten times on an
    ``OperationalError`` -- with the pool's connection wait, a write would hang
    for many seconds while PostgreSQL is down. Reads get two attempts (what
    retrying is for: a pooled connection that broke when the server restarted);
    then the error reaches the HTTP edge, which answers 503 with Retry-After at
    once. Inserts get one: an insert whose COMMIT was sent but not acknowledged may
    be stored, and retrying it would clash with itself, and the command bus would
    then run the command again (a second post with a new id) -- for every command
    of a group commit. The client retries instead, with its Idempotency-Key.
    """

    _insert_now = PostgresApplicationRecorder.insert_events.__wrapped__
    _group: GroupCommitter[Sequence[StoredEvent], Sequence[int]] | None = None

    def group_commits(self, max_writes: int) -> None:
        """Append the writes of concurrent commands in shared transactions
        (``infra.group_commit``), at most ``max_writes`` commands' events in one."""
        self._group = GroupCommitter(self._insert_group, self._insert_one,
                                     transient=(InterfaceError, OperationalError),
                                     max_items=max_writes)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        """The events of one save, in one transaction of their own or shared with
        other saves (``group_commits``); each save gets its own events' positions."""
        if self._group is None or any(value is not None for value in kwargs.values()):
            # a process application's tracking record goes with its own events only
            return self._insert_now(stored_events, **kwargs)  # type: ignore[no-any-return]
        return self._group.commit(stored_events)

    def _insert_one(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        return self._insert_now(stored_events) or []

    def _insert_group(self, writes: Sequence[Sequence[StoredEvent]]
                      ) -> list[Sequence[int]]:
        ids = list(self._insert_one([event for write in writes for event in write]))
        answers: list[Sequence[int]] = []
        for write in writes:
            answers.append(ids[:len(write)])
            del ids[:len(write)]
        return answers

    def create_table(self) -> None:
        """The library's DDL, one process at a time.

        Every part builds this store at start-up, and the library's DDL includes a
        ``CREATE OR REPLACE FUNCTION``: two processes running it at once fail with
        PostgreSQL's "tuple concurrently updated" (a worker started beside the API
        exited on it in CI). A session advisory lock, held on a connection of its own
        for the length of the DDL, makes the others wait instead.
        """
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (AdvisoryLock.EVENT_TABLE_DDL.value,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (AdvisoryLock.EVENT_TABLE_DDL.value,))
    select_events = _fewer_attempts(PostgresApplicationRecorder.select_events)
    select_notifications = _fewer_attempts(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _fewer_attempts(PostgresApplicationRecorder.max_notification_id)


class RoostStore(Application[UUID]):
    """What both stores share: the port's methods over the Application's repository.

    The name fixes the table (``roost_events``) and must stay "Roost" in every
    subclass (the library names a subclass after itself otherwise).
    """

    name = "Roost"

    def construct_transcoder(self) -> Transcoder:
        return build_transcoder()

    def construct_mapper(self) -> Mapper[UUID]:
        """The sealing mapper; built before the recorder, so with an in-memory key
        ring that ``PostgresEventStore`` replaces by its table's (``use_keys``)."""
        return SealingMapper(self.construct_transcoder(), MemoryKeyRing())

    @property
    def keys(self) -> KeyRing:
        mapper = self.mapper
        assert isinstance(mapper, SealingMapper)
        return mapper.keys

    def forget_account(self, account_aggregate_id: UUID, account_id: int) -> Forgotten:
        """Erase an account's personal data from the store: its data key becomes a
        tombstone (its sealed fields read as placeholders from now on) and every row
        that holds its personal data in plain JSON (events stored before sealing,
        Idempotency-Key answers) is rewritten with placeholders. Idempotent. The
        number of rows rewritten and the account's sessions."""
        raise NotImplementedError

    def sessions_of(self, account_id: int) -> tuple[UUID, ...]:
        """The sessions the account ever started (``SessionStarted`` rows naming it)."""
        raise NotImplementedError

    def save_all(self, *aggregates: Aggregate | None) -> int:
        """Save pending events in one transaction; the position of the last one."""
        recordings = self.save(*aggregates)
        return max((r.notification.id for r in recordings), default=0)

    def get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The position of an aggregate's event at ``version`` (0 if unknown)."""
        raise NotImplementedError

    def head(self) -> int:
        """The position of the last event stored (0 when empty)."""
        return self.recorder.max_notification_id() or 0


class PostgresEventStore(RoostStore):
    """The PostgreSQL event store (``roost_events``, created on first use).

    The default insert mode locks the table while inserting, so notification
    ids are committed in order and a reader of the log never skips an event
    committed late.
    """

    name = "Roost"
    env = {"APPLICATION_RECORDER_TOPIC": get_topic(FailFastRecorder)}

    def __init__(self, settings: Settings) -> None:
        super().__init__(env=settings.eventsourcing_env())
        recorder = self.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        mapper = self.mapper
        assert isinstance(mapper, SealingMapper)
        self.key_ring = PostgresKeyRing(recorder.datastore)
        mapper.keys = self.key_ring
        if isinstance(recorder, FailFastRecorder) and settings.group_commit_max_writes > 1:
            recorder.group_commits(settings.group_commit_max_writes)

    def forget_account(self, account_aggregate_id: UUID, account_id: int) -> Forgotten:
        """The key's tombstone first (its own statement: from then on nothing of the
        account can be sealed or opened), then the scan, then the rewrites in one short
        transaction. The scan reads every row of the topics that may hold personal data
        whose bytes contain the account id's digits (a sequential scan, erasure being
        rare) and takes no lock: stored rows change only by erasure, and holding a
        lock on ``roost_events`` for the scan would stop every write (the library's
        inserts lock the table) for its duration. The rewrite's ``UPDATE``s lock it for
        as long as they take."""
        recorder = self.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        key_id = account_aggregate_id.hex
        table = sql.Identifier(recorder.events_table_name)
        self.key_ring.destroy(key_id)
        owned = OwnedAggregates()
        rewrites: list[tuple[bytes, int]] = []
        with recorder.datastore.get_connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT notification_id, originator_id::text AS originator, topic, state "
                        "FROM {} WHERE topic = ANY(%s) AND position(%s::bytea in state) > 0"
                        ).format(table),
                (candidate_topics(), str(account_id).encode())).fetchall()
        for row in rows:
            scrubbed = scrub_row(row["topic"], row["originator"], bytes(row["state"]), key_id,
                                 account_id)
            owned.note(row["topic"], row["originator"], scrubbed)
            if scrubbed.state is not None:
                rewrites.append((scrubbed.state, int(row["notification_id"])))
        if rewrites:
            with recorder.datastore.transaction(commit=True) as curs:
                curs.executemany(sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s"
                                         ).format(table), rewrites)
        return owned.forgotten(len(rewrites))

    def sessions_of(self, account_id: int) -> tuple[UUID, ...]:
        """One sequential scan of ``roost_events`` for the ``SessionStarted`` rows whose
        bytes hold the account id's digits (``account_id`` is a plain field of that
        event), each then checked by its decoded ``account_id``; no lock is taken."""
        recorder = self.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        with recorder.datastore.get_connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT originator_id::text AS originator, state FROM {} "
                        "WHERE topic = %s AND position(%s::bytea in state) > 0 "
                        "ORDER BY notification_id").format(
                    sql.Identifier(recorder.events_table_name)),
                (SESSION_STARTED, str(account_id).encode())).fetchall()
        return tuple(UUID(row["originator"]) for row in rows
                     if started_by(bytes(row["state"])) == account_id)

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        recorder = self.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT notification_id FROM {} "
                    "WHERE originator_id = %s AND originator_version = %s"
                ).format(sql.Identifier(recorder.events_table_name)),
                (aggregate_id, version),
            )
            row = cur.fetchone()
        return int(row["notification_id"]) if row else 0


class MemoryEventStore(RoostStore):
    """The event store in this process's memory: empty when built, gone when dropped.

    Positions start at 1 and have no gaps. ``position_of`` reads an index that
    each save fills under the same lock as its insert, so an event that can be
    loaded always has its position.
    """

    name = "Roost"

    def __init__(self) -> None:
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self._lock = threading.Lock()
        self._positions: dict[tuple[UUID, int], int] = {}

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        with self._lock:
            recordings = super().save(*objs, **kwargs)
            for recording in recordings:
                event = recording.domain_event
                key = (event.originator_id, event.originator_version)
                self._positions[key] = recording.notification.id
        return recordings

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        with self._lock:
            return self._positions.get((aggregate_id, version), 0)

    def sessions_of(self, account_id: int) -> tuple[UUID, ...]:
        """As on PostgreSQL, over the POPO recorder's list of stored events."""
        with self._lock:
            rows = self.recorder.select_notifications(None, sys.maxsize,
                                                      topics=(SESSION_STARTED,))
        return tuple(UUID(str(row.originator_id)) for row in rows
                     if started_by(row.state) == account_id)

    def forget_account(self, account_aggregate_id: UUID, account_id: int) -> Forgotten:
        """As on PostgreSQL, over the POPO recorder's list of stored events."""
        key_id = account_aggregate_id.hex
        self.keys.destroy(key_id)
        owned = OwnedAggregates()

        def scrub(row: StoredEvent) -> bytes | None:
            scrubbed = scrub_row(row.topic, str(row.originator_id), row.state, key_id,
                                 account_id)
            owned.note(row.topic, str(row.originator_id), scrubbed)
            return scrubbed.state

        recorder = self.recorder
        assert isinstance(recorder, POPOApplicationRecorder)
        with self._lock:
            rewritten = rewrite_states(recorder, set(candidate_topics()), scrub)
        return owned.forgotten(rewritten)


def started_by(state: bytes) -> int | None:
    """The ``account_id`` of a stored ``SessionStarted`` row (``None`` when the row is not
    a JSON object with an integer ``account_id``: never a session of anyone)."""
    try:
        fields = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    value = fields.get("account_id") if isinstance(fields, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
