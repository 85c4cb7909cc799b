"""The admin events API's reads: pages of stored events and a stream that follows them.

Both read the ``ports.event_reader.EventReader`` port and show each event as an
``Event`` (docs/api.md, "Admin events"): the envelope the relay publishes, its
``*_id`` / ``*_ids`` integers as strings (API.md's rule for ids), and with what
the envelope already leaves out (password hashes, refresh-token hashes, emails,
recorded idempotency answers) left out.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import orjson
from typing_extensions import TypedDict

from ports.event_reader import EventFilter, EventReader
from ports.events import EventEnvelope
from queries.shapes import Page, page

STREAM_BATCH = 500
"""Events read per query while a stream catches up."""
KEEPALIVE = b"\n"
"""What a stream sends when nothing happened for a while: an empty line (NDJSON readers
skip it), so that proxies do not close an idle connection."""


class Event(TypedDict):
    """One stored event (API.md, Operations)."""

    position: int
    id: str
    type: str
    aggregate_id: str
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


async def events_page(reader: EventReader, wanted: EventFilter) -> Page[Event]:
    """A page of events after ``wanted.after``; ``next_cursor`` is the position to pass
    as the next ``after`` (``None`` when no event after this page existed at the read).
    A page with an ``account`` filter may be short, even empty, with a cursor: the
    reader stops after a bounded number of rows."""
    found = await reader.read(wanted)
    cursor = None if found.next_after is None else str(found.next_after)
    return page([event(e) for e in found.items], cursor)


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
        found = await reader.read(replace(wanted, after=after, limit=STREAM_BATCH))
        if found.items:
            yield b"".join(orjson.dumps(event(e)) + b"\n" for e in found.items)
            last_sent = clock()
            after = found.items[-1].position
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
