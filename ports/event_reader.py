"""Reading the stored event stream with filters, batch by batch: ``roost events``
(export, stats, tail, replay), ``roost timeline show --at`` and the admin events API
(``GET /api/admin/events`` and its NDJSON stream, ``queries.admin_events``).

``EventReader.read`` answers one batch of ``StoredEvent``s in position order; the
next batch starts after the last one's position (a keyset scan), so nothing ever
holds the whole stream. Every event reads as the relay publishes it: secrets
removed (password and refresh hashes, emails, recorded Idempotency-Key answers),
personal fields opened (an erased account's read as their placeholders), the
payload upcast to its class's current version, ``type`` the class's current name
(also for a topic it was stored under before a rename). The PostgreSQL adapter is
``infra.event_reader.PostgresEventReader`` (against the event store or its read
replica), the fake ``tests.fakes.event_reader.MemoryEventReader``, the contract
``tests/contracts/event_reader.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ports.events import EventEnvelope

MAX_POSITION = 2**63 - 1

ACTOR_FIELDS = ("follower_id", "blocker_id", "muter_id", "author_id", "account_id",
                "owner_id")
"""The payload fields that name the account that caused an event, by precedence (an event
carries at most one of them: ``Followed`` its ``follower_id``, ``Blocked`` its
``blocker_id``, ``PostCreated`` its ``author_id``, ``Liked`` and ``SessionStarted``
their ``account_id``, ``MediaUploaded`` and ``MediaAttached`` their ``owner_id``...).
An event with none (``ProfileUpdated``, ``SessionEnded``, ``MediaDescribed``) was
caused by the account its aggregate's first event names."""


def actor_of(payload: Mapping[str, Any]) -> int | None:
    """The account id an event's own payload names as its cause (``ACTOR_FIELDS``), or
    ``None`` when it names none."""
    for name in ACTOR_FIELDS:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which stored events to read; every condition given must hold (an empty one
    is no condition).

    ``types``: envelope types (``PostCreated``...); ``aggregate_ids``: aggregate UUIDs as
    text; ``account_id``: the account that caused the event (see ``ACTOR_FIELDS``);
    ``since`` / ``until``: ``since <= occurred_at < until`` (aware datetimes);
    ``after`` / ``upto``: ``after < position <= upto``.
    """

    types: frozenset[str] = frozenset()
    aggregate_ids: frozenset[str] = frozenset()
    account_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0
    upto: int = MAX_POSITION

    def __post_init__(self) -> None:
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("since and until must be aware datetimes (with a zone)")
        if self.after < 0 or self.upto < 0:
            raise ValueError("positions are not negative")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as the reader answers it: the relay's envelope (secrets removed, as
    published) and ``account``, the id of the account that caused it when known."""

    envelope: EventEnvelope
    account: int | None = None

    @property
    def position(self) -> int:
        return self.envelope.position

    def as_event(self) -> dict[str, Any]:
        """API.md's Event shape plus ``account``: ``{position, id, type, aggregate_id,
        version, occurred_at, schema_version, account, data}``."""
        e = self.envelope
        return {"position": e.position, "id": e.event_id, "type": e.type,
                "aggregate_id": e.aggregate_id, "version": e.aggregate_version,
                "occurred_at": e.occurred_at, "schema_version": e.schema_version,
                "account": self.account, "data": e.payload}


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of a read: ``events`` (oldest first, at most the limit asked),
    ``scanned_to`` (the position the read got to: the next batch reads after it) and
    ``done`` (the scan reached the end of the range or of the store). A batch that is
    not done may still hold fewer events than asked, even none (an adapter that had to
    check some conditions itself): loop until ``done``, never on a short batch."""

    events: list[StoredEvent]
    scanned_to: int
    done: bool


class EventReader(Protocol):
    """Filtered, batched reads of the stored event stream, oldest first.

    Raises ``ports.errors.DependencyUnavailable`` when the store does not answer.
    """

    async def head(self) -> int:
        """The newest stored position (0 for an empty store)."""
        ...

    async def read(self, where: EventFilter, after: int, limit: int) -> Batch:
        """Up to ``limit`` (>= 1) events matching ``where`` with ``position > after``
        (and ``> where.after``), in position order."""
        ...

    async def account_id(self, username: str) -> int | None:
        """The account id of ``username`` (any case), ``None`` for no such account."""
        ...

    async def close(self) -> None:
        """Release the reader's connections."""
        ...


def day_of(occurred_at: str) -> str:
    """The UTC day ``YYYY-MM-DD`` of an envelope's ``occurred_at`` (RFC 3339 text)."""
    return occurred_at[:10]


def matches(where: EventFilter, event: StoredEvent, occurred: datetime | None) -> bool:
    """Whether ``event`` (occurring at ``occurred``) passes ``where``: the rule every
    reader keeps, written once for the fake and the checks of the contract."""
    e = event.envelope
    if not where.after < e.position <= where.upto:
        return False
    if where.types and e.type not in where.types:
        return False
    if where.aggregate_ids and e.aggregate_id not in where.aggregate_ids:
        return False
    if where.account_id is not None and event.account != where.account_id:
        return False
    if where.since is not None and (occurred is None or occurred < where.since):
        return False
    return not (where.until is not None and (occurred is None or occurred >= where.until))


def ids_of(values: Collection[str]) -> frozenset[str]:
    """Aggregate ids as the reader compares them (lower-case UUID text)."""
    return frozenset(v.strip().lower() for v in values if v.strip())
