"""An in-memory ``ports.event_reader.EventReader`` over envelopes a test appends.

The account of an event is worked out as the PostgreSQL adapter does: its payload's
actor field, or that of its aggregate's first event. ``tests/contracts/event_reader.py``
runs one suite against this fake and ``infra.event_reader.PostgresEventReader``.
"""

from __future__ import annotations

from datetime import datetime

from ports.event_reader import Batch, EventFilter, StoredEvent, actor_of, matches
from ports.events import EventEnvelope


class MemoryEventReader:
    """Stored events in a list (append with ``append``, positions increasing)."""

    def __init__(self, envelopes: list[EventEnvelope] | None = None) -> None:
        self.events: list[StoredEvent] = []
        self.usernames: dict[str, int] = {}
        self._first: dict[str, int | None] = {}
        for envelope in envelopes or []:
            self.append(envelope)

    def append(self, envelope: EventEnvelope) -> None:
        if self.events and envelope.position <= self.events[-1].position:
            raise ValueError("positions must increase")
        actor = actor_of(envelope.payload)
        if envelope.aggregate_version == 1:
            self._first[envelope.aggregate_id] = actor
        if actor is None:
            actor = self._first.get(envelope.aggregate_id)
        if envelope.type == "AccountRegistered" and actor is not None:
            self.usernames[str(envelope.payload["username"]).lower()] = actor
        self.events.append(StoredEvent(envelope, actor))

    async def head(self) -> int:
        return self.events[-1].position if self.events else 0

    async def read(self, where: EventFilter, after: int, limit: int) -> Batch:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start = max(after, where.after)
        found = [e for e in self.events
                 if e.position > start and matches(where, e, _moment(e.envelope.occurred_at))]
        events = found[:limit]
        return Batch(events, events[-1].position if events else start, len(events) < limit)

    async def account_id(self, username: str) -> int | None:
        return self.usernames.get(username.lower())

    async def close(self) -> None:
        return None


def _moment(occurred_at: str) -> datetime | None:
    return datetime.fromisoformat(occurred_at) if occurred_at else None
