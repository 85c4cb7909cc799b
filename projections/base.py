"""The contract every projector keeps, whatever feeds it events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ports.events import EventEnvelope


class Projector(Protocol):
    """Turns events into idempotent writes and remembers how far it got.

    ``apply`` ignores an event at or below its position, so redelivery
    changes nothing; it records the event's position with (or after) its
    writes, so a crash at any point is repaired by applying the event again.
    """

    name: str

    async def position(self) -> int: ...

    async def apply(self, event: EventEnvelope) -> None: ...

    async def apply_batch(self, events: Sequence[EventEnvelope]) -> None:
        """Apply consecutive events at once (those at or below the position are
        skipped); all or nothing where the store allows it."""
        ...

    async def replay(self, event: EventEnvelope) -> None:
        """Apply ``event``'s writes regardless of the position (parked events)."""
        ...

    async def advance(self, position: int) -> None:
        """Move past ``position`` without applying it (a parked event)."""
        ...

    async def reset(self) -> None:
        """Forget everything, for a rebuild from the first event."""
        ...

    async def after_rebuild(self) -> None:
        """Refresh what a bulk apply leaves stale (the read models' planner statistics)."""
        ...
