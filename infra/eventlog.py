"""Reading the event store's notification log as ``EventEnvelope``s.

The relay, the projectors' catch-up, rebuilds and ``roost events`` all read
the log through here, so an event looks the same whichever way it arrives.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from domain.ids import NAMESPACE
from infra.event_types import event_class
from infra.personal_data import fetch_keys, unseal_state
from infra.serialization import build_transcoder, rfc3339
from ports.events import EventEnvelope

EVENTS_TABLE = "roost_events"
# Secrets and personal data stay in the event store: the published stream is
# for projections and analysts, who need neither (an Idempotency-Key's
# recorded ``answer`` may hold an email).
REDACTED_FIELDS = frozenset({"password_hash", "refresh_hash", "email", "answer"})

_transcoder = build_transcoder()
_NAMESPACE_BYTES = NAMESPACE.bytes
_HEX32 = re.compile("[0-9a-f]{32}")
_SEALED_KEY = re.compile(rb'"_sealed_":"([0-9a-f]{32})"')
NO_KEYS: Mapping[str, bytes | None] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _uuid_text(hex32: str) -> str:
    """``str(UUID(hex=...))`` for the lowercase hex the transcoder writes, without the
    UUID object (a tenth of the cost)."""
    if _HEX32.fullmatch(hex32):
        return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"
    return str(UUID(hex=hex32))


def _iso_to_rfc3339(iso: str) -> str:
    """``rfc3339(datetime.fromisoformat(iso))``, by slicing when ``iso`` is the form the
    transcoder writes for a UTC moment with microseconds."""
    if len(iso) == 32 and iso.endswith("+00:00") and iso[19] == ".":
        return iso[:23] + "Z"
    return rfc3339(datetime.fromisoformat(iso))


def event_id(originator_id: str, version: int) -> str:
    """The event's stable public id: ``uuid5(NAMESPACE, "<aggregate id>:<version>")``."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{originator_id}:{version}".encode(),
                                    usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return _uuid_text(digest.hex())


def _plain_tagged(value: Any) -> Any:
    """The stored JSON straight to its envelope form: the transcoder's tagged UUIDs
    and datetimes become strings in one pass (a third of the cost of reviving
    them into objects and converting them back)."""
    if isinstance(value, dict):
        tag = value.get("_type_")
        if tag == "uuid_hex" and len(value) == 2:
            return _uuid_text(value["_data_"])
        if tag == "datetime_iso" and len(value) == 2:
            return _iso_to_rfc3339(value["_data_"])
        if tag is not None:
            return _plain(_transcoder.revive(value))  # a transcoding we do not shortcut
        return {key: _plain_tagged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_tagged(item) for item in value]
    return value


def envelope_from_record(
    position: int, originator_id: UUID | str, version: int, topic: str, state: bytes,
    keys: Mapping[str, bytes | None] = NO_KEYS,
) -> EventEnvelope:
    """Build the public envelope of one stored event (secrets removed).

    Sealed personal fields (``infra.personal_data``) are opened with ``keys`` (key id
    -> data key) first; one whose key is not there -- an erased account's -- reads as
    its placeholder (``""``, ``[]``, ``erased-<hex>``), never as an error.

    The payload is in the event class's current shape: an event stored at an
    older ``class_version`` goes through the class's upcasters
    (``upcast_v1_v2``, ...) as it would when its aggregate is loaded, and
    ``schema_version`` is then the class's version. ``type`` is the class's
    current name, also for an event stored under a former topic
    (``domain.topic_history``). A topic no class answers to keeps its stored
    version and the last part of the topic as its type. The upcasters thus see the
    plain values, whether the row was sealed or stored in plain JSON.
    """
    fields: dict[str, Any] = orjson.loads(state)
    if b'"_sealed_"' in state:
        unseal_state(fields, keys, str(originator_id), version)
    timestamp = _plain_tagged(fields.pop("timestamp", None))
    schema_version = int(fields.pop("class_version", 1))
    payload = {k: _plain_tagged(v) for k, v in fields.items()}
    cls = event_class(topic)
    if cls is None:
        type_name = topic.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    else:
        type_name = cls.__name__
        schema_version = _upcast(cls, schema_version, payload)
    for name in REDACTED_FIELDS.intersection(payload):
        del payload[name]
    aggregate_id = str(originator_id)
    return EventEnvelope(
        position=position,
        event_id=event_id(aggregate_id, version),
        type=type_name,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        occurred_at=timestamp if isinstance(timestamp, str) else "",
        schema_version=schema_version,
        payload=payload,
    )


def _upcast(cls: type, stored_version: int, payload: dict[str, Any]) -> int:
    """Run ``cls``'s upcasters from ``stored_version`` to its ``class_version`` on
    ``payload`` (in place); the version it is then at.

    Raises:
        AttributeError: an upcaster of the chain is missing (the row is undecodable).
    """
    current = int(getattr(cls, "class_version", 1))
    version = stored_version
    while version < current:
        getattr(cls, f"upcast_v{version}_v{version + 1}")(payload)
        version += 1
    return version


UNDECODABLE_TYPE = "Undecodable"
"""The type of the envelope that stands for a stored event that cannot be read: no
projector knows it, so each parks it where an operator sees it."""


def decode_record(
    position: int, originator_id: UUID | str, version: int, topic: str, state: bytes,
    keys: Mapping[str, bytes | None] = NO_KEYS,
) -> EventEnvelope:
    """``envelope_from_record``, or for a row it cannot read (state that is not the
    transcoder's JSON) an ``Undecodable`` envelope saying why, so that one bad row
    cannot stop every reader of the log."""
    try:
        return envelope_from_record(position, originator_id, version, topic, state, keys)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        aggregate_id = str(originator_id)
        return EventEnvelope(
            position=position, event_id=event_id(aggregate_id, version), type=UNDECODABLE_TYPE,
            aggregate_id=aggregate_id, aggregate_version=version, occurred_at="",
            schema_version=0, payload={"topic": topic, "error": repr(error)[:500]},
        )


_SELECT = sql.SQL(
    "SELECT notification_id, originator_id::text, originator_version, topic, state "
    "FROM {table} WHERE notification_id > %s AND notification_id <= %s "
    "ORDER BY notification_id LIMIT %s"
).format(table=sql.Identifier(EVENTS_TABLE))

_SELECT_TYPED = sql.SQL(
    "SELECT notification_id, originator_id::text, originator_version, topic, state "
    "FROM {table} WHERE notification_id > %s AND notification_id <= %s "
    "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s"
).format(table=sql.Identifier(EVENTS_TABLE))


async def read_envelopes(
    conn: AsyncConnection[TupleRow],
    after: int,
    upto: int = 2**63 - 1,
    limit: int = 500,
    topics: Sequence[str] = (),
) -> list[EventEnvelope]:
    """Events with ``after < position <= upto``, oldest first, at most ``limit``; the
    personal fields opened with the data keys of the accounts they belong to, read in
    one more statement (placeholders for erased accounts)."""
    async with conn.cursor() as cur:
        if topics:
            await cur.execute(_SELECT_TYPED, (after, upto, list(topics), limit))
        else:
            await cur.execute(_SELECT, (after, upto, limit))
        rows = await cur.fetchall()
    return await decode_rows(conn, rows)


def sealing_key_ids(states: Iterable[bytes]) -> set[str]:
    """The data key ids (account aggregate ids, 32 hex) that sealed fields of these
    stored states name: the keys to fetch before decoding them."""
    return {m.decode() for state in states for m in _SEALED_KEY.findall(bytes(state))}


async def decode_rows(conn: AsyncConnection[TupleRow], rows: Sequence[tuple[Any, ...]]
                      ) -> list[EventEnvelope]:
    """``decode_record`` of each row, its sealed personal fields opened with the data
    keys of the accounts they belong to, read on ``conn`` in one statement (none when
    no row is sealed); an erased account's fields read as their placeholders. Every
    reader of stored rows decodes here (``read_envelopes``: the relay, catch-up,
    rebuilds; ``infra.event_reader``). Rows: ``(notification_id, originator_id,
    originator_version, topic, state)``."""
    key_ids = sealing_key_ids(state for *_, state in rows)
    keys = await fetch_keys(conn, key_ids) if key_ids else NO_KEYS
    return [decode_record(position, originator, version, topic, bytes(state), keys)
            for position, originator, version, topic, state in rows]


async def iter_envelopes(
    conn: AsyncConnection[TupleRow], after: int = 0, upto: int = 2**63 - 1, page: int = 1000
) -> AsyncIterator[EventEnvelope]:
    """Every event in ``(after, upto]``, page by page."""
    while True:
        batch = await read_envelopes(conn, after, upto, page)
        for envelope in batch:
            yield envelope
        if len(batch) < page:
            return
        after = batch[-1].position


async def max_position(conn: AsyncConnection[TupleRow]) -> int:
    async with conn.cursor() as cur:
        await cur.execute(
            sql.SQL("SELECT COALESCE(MAX(notification_id), 0) FROM {table}").format(
                table=sql.Identifier(EVENTS_TABLE)
            )
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


class PostgresEventLogHead:
    """``ports.events.EventLogHead`` over the event store's table: ``max_position``
    on a connection of ``pool``."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> None:
        self.pool = pool

    async def head(self) -> int:
        async with self.pool.connection() as conn:
            return await max_position(conn)


STORE_HEADER = "roost-store"
"""The Kafka header naming the event store a published event came from."""


async def store_identity(conn: AsyncConnection[TupleRow]) -> str:
    """This event store's id (a UUID made by the migration), as text.

    Raises:
        LookupError: the schema was not migrated (no identity row).
    """
    cur = await conn.execute("SELECT id::text FROM store_identity")
    row = await cur.fetchone()
    if row is None:
        raise LookupError("store_identity is empty: run roost migrate")
    return str(row[0])
