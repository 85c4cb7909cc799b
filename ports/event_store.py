"""The event store, as command handlers see it.

Aggregates are ``eventsourcing`` aggregates (``domain``); positions are the
store's notification ids: strictly increasing in commit order, with gaps, 0
for "none". Two implementations, both built in ``infra/event_store.py``:
``PostgresEventStore`` (the ``roost_events`` table, what every process runs)
and ``MemoryEventStore`` (eventsourcing's in-memory POPO recorder, for handler
tests that need no server).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate


class Forgotten(NamedTuple):
    """What ``EventStore.forget_account`` did: rows of the store rewritten (personal
    data that was stored in plain JSON), the account's sessions (to be ended), and the
    email claims that ever named it (to be released while they still do): found by
    their rows' owner, since the address itself is unreadable once forgotten."""

    rows_rewritten: int
    session_ids: tuple[UUID, ...]
    claim_ids: tuple[UUID, ...] = ()


class EventStore(Protocol):
    """Loads aggregates and saves their pending events atomically.

    A save that clashes with a concurrent writer -- an event at a version some
    other save already took, e.g. two creations of one aggregate id -- raises
    ``eventsourcing.persistence.IntegrityError`` and saves nothing of that
    call (the command bus runs the handler again on the fresh state).
    """

    def get_or_none(self, aggregate_id: UUID) -> Any:
        """The aggregate rebuilt from its events, or ``None`` when it has none."""
        ...

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether any event of ``aggregate_id`` is stored (cheaper than loading it)."""
        ...

    def save_all(self, *aggregates: Aggregate | None) -> int:
        """Save the pending events of ``aggregates`` (``None`` skipped) in ONE
        transaction, in the order given; the position of the last event saved (0
        when none was pending).

        Raises:
            IntegrityError: a concurrent writer won; nothing of this call is saved.
        """
        ...

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The position of ``aggregate_id``'s event at ``version`` (0 if unknown)."""
        ...

    def sessions_of(self, account_id: int) -> tuple[UUID, ...]:
        """The ids of every session (``Session`` aggregate) ever started by the account
        with Snowflake ``account_id``, ended ones included, oldest first. Found by
        reading the stored ``SessionStarted`` events (no index: a scan of the store,
        for rare moderator actions such as a suspension)."""
        ...

    def forget_account(self, account_aggregate_id: UUID, account_id: int) -> Forgotten:
        """Make the account's personal data unreadable in the store, for good: its
        data key is destroyed (its sealed fields read as erased placeholders from
        then on) and rows that hold its personal data in plain JSON are rewritten
        with the placeholders. Idempotent; saves no event (the handler saves
        ``AccountErased`` after it)."""
        ...
