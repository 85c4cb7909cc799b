"""``ports.event_reader.EventReader`` over a list of envelopes in memory."""

from __future__ import annotations

from ports.event_reader import EventFilter, EventPage, payload_owner
from ports.events import EventEnvelope


class FakeEventReader:
    """The events a test gives it (``append``), in position order; owners of
    aggregates learnt from their first event, as the real reader does."""

    def __init__(self, envelopes: list[EventEnvelope] | None = None) -> None:
        self.envelopes: list[EventEnvelope] = []
        self._owners: dict[str, int | None] = {}
        for envelope in envelopes or []:
            self.append(envelope)

    def append(self, envelope: EventEnvelope) -> None:
        if self.envelopes and envelope.position <= self.envelopes[-1].position:
            raise ValueError("positions must increase")
        self.envelopes.append(envelope)
        if envelope.aggregate_version == 1:
            self._owners[envelope.aggregate_id] = payload_owner(envelope.payload)

    async def head(self) -> int:
        return self.envelopes[-1].position if self.envelopes else 0

    async def read(self, wanted: EventFilter, scan: int = 5000) -> EventPage:
        limit = max(1, wanted.limit)
        budget = limit if wanted.account_id is None else max(scan, limit)
        examined: list[EventEnvelope] = []
        for envelope in self.envelopes:
            if not wanted.after < envelope.position < wanted.before:
                continue
            if wanted.types and envelope.type not in wanted.types:
                continue
            if wanted.aggregate_id is not None and envelope.aggregate_id != wanted.aggregate_id:
                continue
            examined.append(envelope)
            if len(examined) == budget:
                break
        found = [e for e in examined if wanted.account_id is None
                 or (payload_owner(e.payload) or self._owners.get(e.aggregate_id))
                 == wanted.account_id]
        if len(found) >= limit:
            return EventPage(found[:limit], found[limit - 1].position)
        if len(examined) == budget and examined:
            return EventPage(found, examined[-1].position)
        return EventPage(found, None)
