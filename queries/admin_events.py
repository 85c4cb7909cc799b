"""The admin events API's reads: pages of stored events and a stream that follows them.

Both read the ``ports.event_reader.EventReader`` port (the one ``roost events``
reads) and show each event as an ``Event`` (docs/api.md, "Admin events"): the
envelope the relay publishes -- personal fields in plain, an erased account's as
its placeholders -- its ``*_id`` / ``*_ids`` integers as strings (API.md's rule for
ids), and with what the envelope already leaves out (password hashes,
refresh-token hashes, emails, recorded idempotency answers) left out.

A read with an ``account`` condition examines at most ``SCAN`` positions (the
reader checks the account on every row): a page, or one read of the stream, then
may end short, even empty, with the position to go on from.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from typing_extensions import TypedDict

from ports.event_reader import EventFilter, EventReader, StoredEvent
from ports.events import EventEnvelope
from queries.shapes import Page, page

STREAM_BATCH = 500
"""Events read per query while a stream catches up."""
SCAN = 5000
"""Positions one read with an ``account`` condition examines at most."""
KEEPALIVE = b"\n"
"""What a stream sends when nothing happened for a while: an empty line (NDJSON readers
skip it), so that proxies do not close an idle connection."""


class EventId(TypedDict):
    """Where an event stands: its ``position`` in the event store, its stable ``id``,
    ``type`` (the class's current name) and aggregate."""

    position: int
    id: str
    type: str
    aggregate_id: str


class Event(EventId):
    """One stored event (API.md, Operations): ``version`` of its aggregate,
    ``schema_version`` the shape of ``data`` (upcast to the current one), ``data`` the
    payload with ids as strings (``api_data``)."""

    version: int
    occurred_at: str
    schema_version: int
    data: dict[str, Any]


def _is_id_key(key: str) -> bool:
    return key in ("id", "ids") or key.endswith(("_id", "_ids"))


def api_data(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with integer ids as strings: values of keys named ``id``/``ids`` or
    ending in ``_id``/``_ids`` (a list of integers becomes a list of strings)."""
    shown: dict[str, Any] = {}
    for key, value in payload.items():
        if _is_id_key(key) and isinstance(value, int) and not isinstance(value, bool):
            shown[key] = str(value)
        elif _is_id_key(key) and isinstance(value, list):
            shown[key] = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                          for v in value]
        else:
            shown[key] = value
    return shown


def event(envelope: EventEnvelope) -> Event:
    """The one constructor of ``Event``."""
    return {"position": envelope.position, "id": envelope.event_id, "type": envelope.type,
            "aggregate_id": envelope.aggregate_id, "version": envelope.aggregate_version,
            "occurred_at": envelope.occurred_at, "schema_version": envelope.schema_version,
            "data": api_data(envelope.payload)}


@dataclass(frozen=True, slots=True)
class Found:
    """One read: ``events`` in position order and ``next_after``, the position to read
    on from, ``None`` once nothing after them existed (up to ``wanted.upto``) at the
    read."""

    events: list[StoredEvent]
    next_after: int | None


async def read_events(reader: EventReader, wanted: EventFilter, limit: int,
                      scan: int = SCAN) -> Found:
    """Up to ``limit`` events of ``wanted`` after ``wanted.after``; with an account
    condition, among the next ``scan`` positions only (at least ``limit``)."""
    upto = wanted.upto
    if wanted.account_id is not None:
        upto = min(upto, wanted.after + max(scan, limit))
    batch = await reader.read(replace(wanted, upto=upto), wanted.after, limit)
    if not batch.done:
        return Found(batch.events, batch.scanned_to)
    if upto < wanted.upto and upto < await reader.head():  # the window ended, not the log
        return Found(batch.events, upto)
    return Found(batch.events, None)


async def events_page(reader: EventReader, wanted: EventFilter, limit: int,
                      scan: int = SCAN) -> Page[Event]:
    """A page of events after ``wanted.after``; ``next_cursor`` is the position to pass
    as the next ``after`` (``None`` when no event after this page existed at the read).
    A page with an ``account`` filter may be short, even empty, with a cursor: the
    read examines at most ``scan`` positions."""
    found = await read_events(reader, wanted, limit, scan)
    cursor = None if found.next_after is None else str(found.next_after)
    return page([event(e.envelope) for e in found.events], cursor)


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


async def follow_events(
    reader: EventReader, wanted: EventFilter, *, poll_s: float, keepalive_s: float,
    still_allowed: Callable[[], Awaitable[bool]], recheck_s: float,
    sleep: Sleep, clock: Clock = time.monotonic,
) -> AsyncGenerator[bytes, None]:
    """The events after ``wanted.after`` as NDJSON, then every new one as it is stored,
    for ever: chunks of lines, one ``Event`` per line, in position order, each once.

    While caught up it reads again every ``poll_s`` seconds; after ``keepalive_s``
    seconds without a line it sends ``KEEPALIVE``. Every ``recheck_s`` seconds it
    asks ``still_allowed()`` and ends when that says no (an admin whose role was
    revoked). The caller ends it by closing the iterator (a client that left).
    """
    after = wanted.after
    last_sent = last_check = clock()
    while True:
        found = await read_events(reader, replace(wanted, after=after), STREAM_BATCH)
        if found.events:
            yield b"".join(orjson.dumps(event(e.envelope)) + b"\n" for e in found.events)
            last_sent = clock()
            after = found.events[-1].position
        if found.next_after is not None:
            after = max(after, found.next_after)
        now = clock()
        if now - last_check >= recheck_s:
            if not await still_allowed():
                return
            last_check = now
        if now - last_sent >= keepalive_s:  # also during a long catch-up finding nothing
            yield KEEPALIVE
            last_sent = now
        if found.next_after is None:  # caught up: wait a little before reading again
            await sleep(poll_s)
