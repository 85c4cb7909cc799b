"""Idempotency-Keys made durable with the events they guard.

The HTTP edge hands the bus an ``IdempotencyClaim`` (owner, key, request
fingerprint). Before running the handler the bus looks for the key's
``IdempotencyRecord``: found and within its window, the command is not run
again -- the recorded answer is returned (or ``idempotency_key_reused`` when
the request differs). Otherwise the handler's ``ctx.commit`` saves the record
in the same transaction as the command's events, so there is no moment at
which the events exist and the record does not. A handler that appends
nothing has its answer recorded alone afterwards (nothing to duplicate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands.messages import Result
from domain.errors import ValidationFailed
from domain.idempotency import IdempotencyRecord
from domain.ids import idempotency_uuid
from ports.event_store import EventStore

WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """An Idempotency-Key as the HTTP edge received it.

    ``owner`` is ``account:<id>`` or ``ip:<address>``; ``fingerprint`` is the
    sha256 of the request (method, path, query, body).
    """

    owner: str
    key: str
    fingerprint: str

    @property
    def record_id(self) -> UUID:
        return idempotency_uuid(self.owner, self.key)


def key_reused() -> ValidationFailed:
    reason = "was already used for a different request"
    return ValidationFailed({"Idempotency-Key": reason}, code="idempotency_key_reused")


class KeyedCommit:
    """Saves one command's aggregates together with its key's record."""

    def __init__(self, store: EventStore, claim: IdempotencyClaim,
                 existing: IdempotencyRecord | None) -> None:
        self.store = store
        self.claim = claim
        self.existing = existing  # a record whose window has passed: renewed
        self.recorded = False

    def _record(self, answer: Mapping[str, Any], position: int | None) -> IdempotencyRecord:
        fields: dict[str, Any] = {"fingerprint": self.claim.fingerprint, "answer": answer,
                                  "position": position}
        if self.existing is not None:
            self.existing.renew(**fields)
            return self.existing
        return IdempotencyRecord(record_id=self.claim.record_id, **fields)

    def save(self, aggregates: tuple[Aggregate | None, ...], answer: Mapping[str, Any]) -> int:
        """Save ``aggregates`` and the record (last, so its position is the answer's)."""
        record = None if self.recorded else self._record(answer, None)
        position = self.store.save_all(*aggregates, record)
        self.recorded = True
        return position

    def record_alone(self, result: Result) -> None:
        """For a command that appended nothing: remember its answer all the same."""
        if not self.recorded:
            self.store.save_all(self._record(result.data, result.position))
            self.recorded = True


def recorded_answer(store: EventStore, claim: IdempotencyClaim
                    ) -> tuple[Result | None, IdempotencyRecord | None]:
    """(the recorded answer, None) for a key used within its window; (None, the
    expired record or None) otherwise.

    Raises:
        ValidationFailed: ``idempotency_key_reused`` -- same key, another request.
    """
    record: IdempotencyRecord | None = store.get_or_none(claim.record_id)
    if record is None:
        return None, None
    if record.modified_on + WINDOW < datetime.now(UTC):
        return None, record
    if record.fingerprint != claim.fingerprint:
        raise key_reused()
    position = record.position if record.position is not None else \
        store.position_of(record.id, record.version)
    return Result(position, record.answer, replayed=True), None
