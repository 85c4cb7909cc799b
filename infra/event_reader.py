"""``ports.event_reader.EventReader`` over the event store's table (or its read replica).

Each batch is one keyset statement: ``WHERE notification_id > %s ... ORDER BY
notification_id LIMIT %s`` on the table's unique index, every filter in SQL
with parameters (no user text in the statement): types on the stored topic's
last segment (the envelope's ``type``, so renamed classes' old topics match by
name), aggregate ids on ``originator_id``, the time range on the stored
``timestamp``, the account on the payload's actor fields (``ACTOR_FIELDS``, or
those of the aggregate's first event). Rows become envelopes with
``infra.eventlog.decode_rows``, as the relay publishes them: personal fields
opened with their accounts' data keys (one more statement per batch), erased
accounts' as placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from cachetools import LRUCache
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from domain.ids import account_uuid
from infra.eventlog import EVENTS_TABLE, decode_rows
from infra.settings import Settings
from ports.errors import DependencyUnavailable
from ports.event_reader import (
    ACTOR_FIELDS,
    Batch,
    EventFilter,
    StoredEvent,
    actor_of,
    matches,
)

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]

FIRST_ACTORS_CACHED = 100_000
"""Aggregates whose first event's actor a reader remembers (``SessionEnded`` and
``ProfileUpdated`` name no account: theirs is the one their aggregate began with)."""


def _actor_sql(state: sql.Composable) -> sql.Composable:
    """``COALESCE`` of the actor fields of a row's JSON ``state``, as bigint."""
    return sql.SQL("COALESCE({})").format(sql.SQL(", ").join(
        sql.SQL("(convert_from({}, 'UTF8')::jsonb ->> {})::bigint").format(
            state, sql.Literal(name)) for name in ACTOR_FIELDS))


_TABLE = sql.Identifier(EVENTS_TABLE)
_ACCOUNT = sql.SQL("COALESCE({own}, (SELECT {first} FROM {table} f WHERE "
                   "f.originator_id = e.originator_id AND f.originator_version = 1))").format(
    own=_actor_sql(sql.SQL("e.state")), first=_actor_sql(sql.SQL("f.state")), table=_TABLE)
_OCCURRED = sql.SQL(
    "(convert_from(e.state, 'UTF8')::jsonb #>> '{timestamp,_data_}')::timestamptz")
_TYPE = sql.SQL("substring(e.topic from '([^.:]+)$')")


def filter_sql(where: EventFilter, after: int) -> tuple[sql.Composable, list[Any]]:
    """The ``WHERE`` clause of ``where`` for positions above ``after``, and its parameters."""
    clauses: list[sql.Composable] = [sql.SQL("e.notification_id > %s"),
                                     sql.SQL("e.notification_id <= %s")]
    params: list[Any] = [max(after, where.after), where.upto]
    if where.types:
        clauses.append(sql.SQL("{} = ANY(%s)").format(_TYPE))
        params.append(sorted(where.types))
    if where.aggregate_ids:
        clauses.append(sql.SQL("e.originator_id = ANY(%s::uuid[])"))
        params.append(sorted(where.aggregate_ids))
    if where.since is not None:
        clauses.append(sql.SQL("{} >= %s").format(_OCCURRED))
        params.append(where.since)
    if where.until is not None:
        clauses.append(sql.SQL("{} < %s").format(_OCCURRED))
        params.append(where.until)
    if where.account_id is not None:
        clauses.append(sql.SQL("{} = %s").format(_ACCOUNT))
        params.append(where.account_id)
    return sql.SQL(" AND ").join(clauses), params


def _valid_ids(where: EventFilter) -> None:
    """Refuse aggregate ids that are not UUIDs (``ValueError``) before they reach SQL."""
    for value in where.aggregate_ids:
        UUID(value)


def _moment(occurred_at: str) -> datetime | None:
    return datetime.fromisoformat(occurred_at) if occurred_at else None


class PostgresEventReader:
    """The event reader on ``pool`` (connections to the event store's database, or to a
    read replica of it: it only reads)."""

    def __init__(self, pool: Pool, *, owns_pool: bool = False) -> None:
        self.pool = pool
        self.owns_pool = owns_pool
        self._first_actors: LRUCache[str, int | None] = LRUCache(FIRST_ACTORS_CACHED)

    async def head(self) -> int:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql.SQL(
                    "SELECT COALESCE(MAX(notification_id), 0) FROM {}").format(_TABLE))
                row = await cur.fetchone()
        except psycopg.OperationalError as error:
            raise DependencyUnavailable(f"event store: {error}") from error
        return int(row[0]) if row else 0

    async def read(self, where: EventFilter, after: int, limit: int) -> Batch:
        """One batch (see the port). Raises ``ValueError`` for an aggregate id that is not
        a UUID and ``DependencyUnavailable`` when the database does not answer.

        The account and time conditions parse each row's JSON in SQL; a stored row that
        is not the transcoder's JSON (a poison row) makes that statement fail, and the
        batch is then read again with only the position, type and aggregate conditions
        in SQL and the rest checked here on the decoded envelopes (``matches``), so one
        bad row never stops a read (it is left out by those conditions, having neither
        account nor time)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        _valid_ids(where)
        try:
            return await self._read(where, after, limit, where)
        except psycopg.errors.DataError:
            if where.account_id is None and where.since is None and where.until is None:
                raise
        cheap = replace(where, account_id=None, since=None, until=None)
        return await self._read(cheap, after, limit, where)

    async def _read(self, in_sql: EventFilter, after: int, limit: int,
                    where: EventFilter) -> Batch:
        """``limit`` rows selected by ``in_sql``, then kept if they pass ``where``."""
        clause, params = filter_sql(in_sql, after)
        statement = sql.SQL(
            "SELECT e.notification_id, e.originator_id::text, e.originator_version, e.topic, "
            "e.state FROM {table} e WHERE {clause} ORDER BY e.notification_id LIMIT %s"
        ).format(table=_TABLE, clause=clause)
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(statement, [*params, limit])
                rows = await cur.fetchall()
                envelopes = await decode_rows(conn, rows)
                missing = sorted({e.aggregate_id for e in envelopes
                                  if actor_of(e.payload) is None
                                  and e.aggregate_id not in self._first_actors})
                if missing:
                    await self._load_first_actors(conn, missing)
        except psycopg.OperationalError as error:
            raise DependencyUnavailable(f"event store: {error}") from error
        events = []
        for envelope in envelopes:
            actor = actor_of(envelope.payload)
            if actor is None:
                actor = self._first_actors.get(envelope.aggregate_id)
            events.append(StoredEvent(envelope, actor))
        last = events[-1].position if events else max(after, where.after)
        if in_sql is not where:
            events = [e for e in events if matches(where, e, _moment(e.envelope.occurred_at))]
        return Batch(events, last, len(rows) < limit)

    async def _load_first_actors(self, conn: AsyncConnection[TupleRow],
                                 aggregate_ids: Sequence[str]) -> None:
        cur = await conn.execute(sql.SQL(
            "SELECT originator_id::text, state FROM {} WHERE originator_id = ANY(%s::uuid[]) "
            "AND originator_version = 1").format(_TABLE), (list(aggregate_ids),))
        found: dict[str, int | None] = {}
        for aggregate_id, state in await cur.fetchall():
            try:
                found[aggregate_id] = actor_of(orjson.loads(state))
            except orjson.JSONDecodeError:
                found[aggregate_id] = None
        for aggregate_id in aggregate_ids:
            self._first_actors[aggregate_id] = found.get(aggregate_id)

    async def account_id(self, username: str) -> int | None:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql.SQL(
                    "SELECT state FROM {} WHERE originator_id = %s AND originator_version = 1"
                ).format(_TABLE), (account_uuid(username),))
                row = await cur.fetchone()
        except psycopg.OperationalError as error:
            raise DependencyUnavailable(f"event store: {error}") from error
        if row is None:
            return None
        value = orjson.loads(row[0]).get("account_id")
        return value if isinstance(value, int) else None

    async def close(self) -> None:
        if self.owns_pool:
            await self.pool.close()


def events_conninfo(settings: Settings) -> str:
    """Where analysts' reads go: ``ROOST_EVENTS_REPLICA_URL`` when set (a read replica's
    DSN), else the event store's own database."""
    return settings.events_replica_url or settings.postgres_conninfo


async def open_event_reader(settings: Settings, max_size: int = 2) -> PostgresEventReader:
    """A reader with a small pool of its own on ``events_conninfo`` (closed by its
    ``close``). Raises ``psycopg_pool.PoolTimeout`` when the database does not answer."""
    pool: Pool = AsyncConnectionPool(events_conninfo(settings), min_size=1, max_size=max_size,
                                     open=False, kwargs={"autocommit": True},
                                     timeout=settings.postgres_pool_timeout_s)
    try:
        await pool.open(wait=True, timeout=10)
    except BaseException:
        await pool.close()
        raise
    return PostgresEventReader(pool, owns_pool=True)
