"""The public form of a stored event, as published to Kafka and fed to projectors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

ENVELOPE_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    """One event with its place in the global order.

    ``position`` is the event store's notification id: strictly increasing
    (with gaps) in commit order. ``schema_version`` is the event class's
    version, so consumers can upcast old shapes.
    """

    position: int
    event_id: str
    type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: str
    schema_version: int
    payload: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes | str) -> EventEnvelope:
        fields = orjson.loads(data)
        return cls(
            position=int(fields["position"]),
            event_id=str(fields["event_id"]),
            type=str(fields["type"]),
            aggregate_id=str(fields["aggregate_id"]),
            aggregate_version=int(fields["aggregate_version"]),
            occurred_at=str(fields["occurred_at"]),
            schema_version=int(fields.get("schema_version", 1)),
            payload=dict(fields["payload"]),
        )


class EventLogHead(Protocol):
    """Where the event store's log ends."""

    async def head(self) -> int:
        """The position of the newest stored event (0 when the store is empty)."""
        ...
