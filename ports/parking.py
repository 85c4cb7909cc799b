"""The parking lot: events a projector failed on, kept for an operator to replay.

The runner (``projections.runner``) parks an event once retrying it is
hopeless, then moves past it; ``roost projections parked`` lists them,
``roost projections replay-parked`` applies them again and releases each one
that now applies; ``/health`` and ``/metrics`` count them.

Parking must never fail because of what the event holds (U+0000, integers
beyond 64 bits, a stored row that did not decode): an envelope is kept as
the bytes of ``envelope_bytes`` and comes back from ``take`` equal to what was
parked (but for an integer beyond 64 bits, read back as a float). Only the
store's own failure (unreachable, read-only) makes ``park`` raise, and then the
runner does not move past the event.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Protocol, TypedDict

import orjson

from ports.events import EventEnvelope


class ParkedEvent(TypedDict):
    """One parked event as an operator sees it (``list_parked``)."""

    projector: str
    position: int
    event_type: str
    """The envelope's type, U+0000 spelled ``\\x00``, at most 200 characters."""
    error: str
    """The error's ``repr``, U+0000 spelled ``\\x00``, at most 2,000 characters."""
    attempts: int
    """How many times it was tried (0: an event type no projector knows)."""
    parked_at: datetime
    """When it was (last) parked, timezone-aware."""


def envelope_bytes(event: EventEnvelope) -> bytes:
    """The envelope as JSON bytes, whatever its payload holds (orjson refuses integers
    beyond 64 bits: the standard library writes those)."""
    try:
        return orjson.dumps(asdict(event))
    except TypeError:
        return json.dumps(asdict(event), default=repr).encode()


class ParkingLot(Protocol):
    async def park(self, projector: str, event: EventEnvelope, error: str, attempts: int
                   ) -> None:
        """Keep ``event`` for ``projector``; parking it again replaces its error and
        attempts (one entry per projector and position).

        Raises:
            Whatever the store raises when it cannot be reached or written (psycopg's
            errors): never because of the event's content.
        """
        ...

    async def list_parked(self, projector: str | None = None) -> list[ParkedEvent]:
        """The parked events (of ``projector`` only, if given), by projector then
        position."""
        ...

    async def counts(self) -> dict[str, int]:
        """``{projector: parked events}``; a projector with none is absent."""
        ...

    async def take(self, projector: str) -> list[EventEnvelope]:
        """The parked envelopes of ``projector``, oldest first, equal to those parked;
        they stay parked until ``release``d."""
        ...

    async def release(self, projector: str, position: int) -> None:
        """Forget the parked event (nothing happens if there is none)."""
        ...
