"""Reading the stored events by filter: what the admin events API pages and follows.

The reader hands out ``EventEnvelope``s, the form the relay publishes (secrets
removed, payload upcast to the current shape), in position order. A page is
bounded twice: by ``limit`` events found and by the rows the reader may examine
for one call (``scan``), so a filter that matches little cannot make one request
read the whole store; the page then ends short with ``next_after`` set, and the
caller goes on from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ports.events import EventEnvelope

MAX_POSITION = 2**63 - 1

OWNER_FIELDS = ("account_id", "author_id", "follower_id", "blocker_id", "muter_id")
"""The payload fields that name the account an event's aggregate belongs to, in order
of preference (a ``Liked`` names the liker as ``account_id`` and the post's author as
``post_author_id``: the liker caused it)."""


def payload_owner(payload: Mapping[str, Any]) -> int | None:
    """The account a payload names as its owner (``OWNER_FIELDS``), or ``None``."""
    for name in OWNER_FIELDS:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events: each field given narrows the selection (all of them apply).

    ``types``: class names (``PostCreated``); empty for every type.
    ``aggregate_id``: one aggregate's events (its UUID as text).
    ``account_id``: the events the account caused: those of the aggregates it owns,
    i.e. whose creating event names it in an ``OWNER_FIELDS`` field (its account,
    posts, follows, likes, reposts, blocks, mutes, sessions, preferences, read
    marks) -- admin grants to it included. Idempotency records name no account.
    ``after`` < position < ``before`` (exclusive both).
    ``limit``: at most this many events (>= 1).
    """

    types: frozenset[str] = frozenset()
    aggregate_id: str | None = None
    account_id: int | None = None
    after: int = 0
    before: int = MAX_POSITION
    limit: int = 100


@dataclass(frozen=True, slots=True)
class EventPage:
    """``items`` in position order; ``next_after`` is the position to read on from
    (pass it as the next filter's ``after``), ``None`` once the log is exhausted below
    ``before`` as it stood at the read. A page may be short, even empty, with
    ``next_after`` set: the reader examined its ``scan`` budget of rows."""

    items: list[EventEnvelope] = field(default_factory=list)
    next_after: int | None = None


class EventReader(Protocol):
    """The stored events, by filter (``PostgresEventReader``; ``FakeEventReader``)."""

    async def read(self, wanted: EventFilter, scan: int = 5000) -> EventPage:
        """Up to ``wanted.limit`` events matching ``wanted``, examining at most ``scan``
        stored rows (at least ``wanted.limit``).

        Raises:
            DependencyUnavailable: the store does not answer.
        """
        ...

    async def head(self) -> int:
        """The position of the newest stored event (0 when none)."""
        ...
