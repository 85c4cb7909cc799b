"""``ports.event_reader.EventReader`` over the event store's table (``roost_events``).

Types and the aggregate are filtered in SQL (``topic = ANY(...)`` with every
topic the types were ever stored under, ``originator_id = ...``); the account in
Python, on the decoded envelopes: an event whose payload names its owner
(``ports.event_reader.OWNER_FIELDS``) is matched on it, any other by the owner
of its aggregate's creating event, looked up in one query per page and kept in
a bounded cache (a creating event never changes). Every value is a bound
parameter; the statements are fixed text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from cachetools import LRUCache
from psycopg import sql

from infra.database import AsyncPool
from infra.event_types import topics_of_types
from infra.eventlog import EVENTS_TABLE, decode_record, max_position
from ports.event_reader import EventFilter, EventPage, payload_owner
from ports.events import EventEnvelope

OWNER_CACHE = 100_000
_COLUMNS = "notification_id, originator_id::text, originator_version, topic, state"


def _select(typed: bool, one_aggregate: bool) -> sql.Composed:
    conditions = ["notification_id > %s", "notification_id < %s"]
    if typed:
        conditions.append("topic = ANY(%s)")
    if one_aggregate:
        conditions.append("originator_id = %s")
    return sql.SQL("SELECT {columns} FROM {table} WHERE {where} "
                   "ORDER BY notification_id LIMIT %s").format(
        columns=sql.SQL(_COLUMNS), table=sql.Identifier(EVENTS_TABLE),
        where=sql.SQL(" AND ".join(conditions)))


_SELECTS = {(typed, one): _select(typed, one) for typed in (False, True) for one in (False, True)}
_CREATIONS = sql.SQL("SELECT {columns} FROM {table} WHERE originator_id = ANY(%s) "
                     "AND originator_version = 1").format(
    columns=sql.SQL(_COLUMNS), table=sql.Identifier(EVENTS_TABLE))


class PostgresEventReader:
    """Pages of stored events by ``EventFilter``, on connections of ``pool``."""

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool
        self._owners: LRUCache[str, int | None] = LRUCache(OWNER_CACHE)

    async def head(self) -> int:
        async with self.pool.connection() as conn:
            return await max_position(conn)

    async def read(self, wanted: EventFilter, scan: int = 5000) -> EventPage:
        """See ``ports.event_reader.EventReader.read``."""
        limit = max(1, wanted.limit)
        params: list[Any] = [wanted.after, wanted.before]
        if wanted.types:
            topics = topics_of_types(wanted.types)
            if not topics:
                return EventPage([], None)
            params.append(topics)
        if wanted.aggregate_id is not None:
            try:
                params.append(UUID(wanted.aggregate_id))
            except ValueError:
                return EventPage([], None)
        rows_wanted = limit if wanted.account_id is None else max(scan, limit)
        params.append(rows_wanted)
        statement = _SELECTS[(bool(wanted.types), wanted.aggregate_id is not None)]
        async with self.pool.connection() as conn:
            cur = await conn.execute(statement, params)
            rows = await cur.fetchall()
            envelopes = [decode_record(*row) for row in rows]
            if wanted.account_id is not None:
                await self._learn_owners(conn, envelopes)
        found = [e for e in envelopes if self._matches(e, wanted)]
        if len(found) >= limit:
            return EventPage(found[:limit], found[limit - 1].position)
        if len(rows) == rows_wanted and rows:  # more rows may follow the last one read
            return EventPage(found, envelopes[-1].position)
        return EventPage(found, None)

    def _matches(self, envelope: EventEnvelope, wanted: EventFilter) -> bool:
        if wanted.types and envelope.type not in wanted.types:
            return False
        if wanted.account_id is None:
            return True
        owner = payload_owner(envelope.payload)
        if owner is None:
            owner = self._owners.get(envelope.aggregate_id)
        return owner == wanted.account_id

    async def _learn_owners(self, conn: Any, envelopes: Sequence[EventEnvelope]) -> None:
        """Cache the owner of each aggregate whose events name none, from its creation."""
        unknown = {e.aggregate_id for e in envelopes
                   if payload_owner(e.payload) is None and e.aggregate_id not in self._owners}
        if not unknown:
            return
        cur = await conn.execute(_CREATIONS, ([UUID(a) for a in unknown],))
        learned: set[str] = set()
        for row in await cur.fetchall():
            created = decode_record(*row)
            self._owners[created.aggregate_id] = payload_owner(created.payload)
            learned.add(created.aggregate_id)
        for aggregate_id in unknown - learned:
            self._owners[aggregate_id] = None  # created by no account (an idempotency record)
