"""Everything a handler may use, injected once by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from commands.ports import IdGenerator, PasswordHasher, SessionRevocations, TokenIssuer
from ports.event_store import EventStore

if TYPE_CHECKING:
    from commands.idempotency import KeyedCommit


@dataclass(frozen=True, slots=True)
class CommandContext:
    """``keyed`` is set by the bus for one run of a command sent with an
    Idempotency-Key (a copy of the shared context per run)."""

    store: EventStore
    passwords: PasswordHasher
    tokens: TokenIssuer
    revocations: SessionRevocations
    ids: IdGenerator
    keyed: KeyedCommit | None = None

    def commit(self, *aggregates: Aggregate | None, answer: Mapping[str, Any]) -> int:
        """Save ``aggregates`` in one transaction -- with the Idempotency-Key's
        record of ``answer`` when there is one -- and return the last position."""
        if self.keyed is not None:
            return self.keyed.save(aggregates, answer)
        return self.store.save_all(*aggregates)
