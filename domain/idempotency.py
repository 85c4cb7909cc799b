"""The record of an Idempotency-Key, saved in the same transaction as the
events of the command it guarded.

Its id is derived from the key and its owner (``domain.ids.idempotency_uuid``),
so a retry of a command that was appended collides in the event store, and
whoever loads it finds the original answer, whatever failed after the append.
Only the id names the owner: the record holds no address or account.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event


class IdempotencyRecord(Aggregate):
    """``answer`` is the command's result data; ``position`` the Roost-Position
    it answered, or ``None`` when that is this record's own event (the command
    appended in the same transaction, the record last)."""

    @staticmethod
    def create_id(record_id: UUID, **_: Any) -> UUID:
        return record_id

    @event("IdempotencyKeyRecorded")
    def __init__(self, record_id: UUID, fingerprint: str, answer: dict[str, Any],
                 position: int | None) -> None:
        self.fingerprint = fingerprint
        self.answer = answer
        self.position = position

    @event("IdempotencyKeyRenewed")
    def renew(self, fingerprint: str, answer: dict[str, Any], position: int | None) -> None:
        """The key was used again after its window: it now guards another command."""
        self.fingerprint = fingerprint
        self.answer = answer
        self.position = position
