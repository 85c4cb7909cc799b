"""An in-memory ``ports.parking.ParkingLot``."""

from __future__ import annotations

from datetime import UTC, datetime

from ports.events import EventEnvelope
from ports.parking import ParkedEvent, envelope_bytes


def _printable(value: str, limit: int) -> str:
    return value.replace("\x00", "\\x00")[:limit]


class FakeParkingLot:
    """Parked events in a dict, envelopes kept as the bytes a real lot stores.

    ``calls`` logs every ``park`` that succeeded, in order, as ``(projector,
    position, error, attempts)`` (the same event parked twice shows twice there,
    once in the lot); ``broken = True`` makes ``park`` fail as a lot that cannot
    be reached."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.calls: list[tuple[str, int, str, int]] = []
        self.parked: dict[tuple[str, int], tuple[ParkedEvent, bytes]] = {}

    async def park(self, projector: str, event: EventEnvelope, error: str, attempts: int
                   ) -> None:
        if self.broken:
            raise ConnectionError("parking lot unavailable")
        row = ParkedEvent(projector=projector, position=event.position,
                          event_type=_printable(event.type, 200), error=_printable(error, 2000),
                          attempts=attempts, parked_at=datetime.now(UTC))
        self.parked[projector, event.position] = (row, envelope_bytes(event))
        self.calls.append((projector, event.position, error, attempts))

    async def list_parked(self, projector: str | None = None) -> list[ParkedEvent]:
        return [row.copy() for key, (row, _) in sorted(self.parked.items())
                if projector is None or key[0] == projector]

    async def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for projector, _ in sorted(self.parked):
            counted[projector] = counted.get(projector, 0) + 1
        return counted

    async def take(self, projector: str) -> list[EventEnvelope]:
        return [EventEnvelope.from_json(stored) for (name, _), (_, stored)
                in sorted(self.parked.items()) if name == projector]

    async def release(self, projector: str, position: int) -> None:
        self.parked.pop((projector, position), None)
