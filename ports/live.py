"""Live events: what projections push to connected clients (Server-Sent Events).

A projection that makes something a connected client should see at once (a
notification, a new home item, a deleted post) publishes a ``LiveEvent`` to
the reader's channel. The adapter (``infra``, Redis Streams) keeps a bounded
replay buffer per channel so any API process can serve any client and a
client that reconnects with ``Last-Event-ID`` gets exactly what it missed.

The event carries a *reference*, not the rendered object: the API process
that sends it hydrates it for the reader at send time (so a block or a
deletion made after the event is respected, and bodies stay in one place).

Resume ids are ``"<position>-<seq>"``: the event-store position that caused
the event and its index among the events that position made for that
channel, so they only grow and a replay or rebuild, which re-derives the same
ids, can be refused by the adapter (nothing is sent twice).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

NOTIFICATIONS_CHANNEL: Final = "notifications"
HOME_CHANNEL: Final = "home"
AUTHOR_CHANNEL: Final = "author"
"""A celebrity's own new items: their followers' home streams read it (pulled, like
the home timeline pulls celebrities' posts) instead of one write per follower."""
Channel = Literal["notifications", "home", "author"]


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event for one reader's channel.

    ``event`` is the SSE event name (``notification`` on the notifications
    channel; ``update`` or ``delete`` on the home channel); ``data`` the
    reference the sender hydrates (``{"id": "<group or post id>"}``), JSON-safe.
    """

    account_id: int
    channel: Channel
    position: int
    seq: int
    event: str
    data: Mapping[str, Any]


class LiveEventPublisher(Protocol):
    async def publish(self, events: Sequence[LiveEvent]) -> None:
        """Append each event to its channel's replay buffer (bounded, oldest dropped)
        and wake its listeners. An event whose id is not above the channel's last
        one is dropped (a replay or rebuild re-derives old ids: nothing is resent).

        Raises:
            ports.errors.DependencyUnavailable: the store failed; the projector retries.
        """
        ...


# -- the reading side -------------------------------------------------------------

MAX_SEQ: Final = 2**64 - 1
"""The largest ``seq`` (and ``position``) a resume id may carry (Redis stream ids)."""
AUTHOR_SEQ_BASE: Final = 2**32
"""Author-channel events number their ``seq`` from here, so a home stream that merges
the reader's ``home`` channel with followed celebrities' ``author`` channels never
sees one id twice."""
_EVENT_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")


def event_id(position: int, seq: int) -> str:
    """The resume id ``"<position>-<seq>"`` of an event."""
    return f"{position}-{seq}"


def parse_event_id(text: str | None) -> tuple[int, int] | None:
    """``(position, seq)`` of a well-formed resume id, else ``None`` (absent, malformed,
    or a part above ``MAX_SEQ``)."""
    if text is None:
        return None
    match = _EVENT_ID.fullmatch(text.strip())
    if match is None:
        return None
    position, seq = int(match[1]), int(match[2])
    if position > MAX_SEQ or seq > MAX_SEQ:
        return None
    return position, seq


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """A live event as a subscriber receives it: ``id`` is its resume id."""

    id: str
    account_id: int
    channel: Channel
    event: str
    data: Mapping[str, Any]

    @property
    def key(self) -> tuple[int, int]:
        """``(position, seq)``: the order of delivery."""
        parsed = parse_event_id(self.id)
        assert parsed is not None
        return parsed


class SubscriptionClosed(Exception):
    """The subscription was ended under its reader; ``reason`` says why:
    ``too_slow`` (its buffer filled: the client fell behind) or ``stream_lost``
    (the channel's buffer expired or was removed under it). The client resumes
    with the last id it received."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class LiveSubscription(Protocol):
    """One reader's view of one or more channels, from a resume point on."""

    @property
    def reset(self) -> bool:
        """The requested resume id was malformed or too old (no longer in a buffer):
        what follows is live from the moment of subscribing."""
        ...

    @property
    def start_id(self) -> str:
        """The newest event id in the channels when subscribing: resuming from it
        receives what came after."""
        ...

    async def next(self, timeout_s: float) -> list[ReceivedEvent]:
        """The next events in id order, each once (``[]`` after ``timeout_s`` seconds
        with nothing). Events missed since the resume id come first.

        Raises:
            SubscriptionClosed: the subscription was dropped (see its ``reason``).
            ports.errors.DependencyUnavailable: the store failed.
        """
        ...

    async def close(self) -> None: ...


class LiveEventSubscriber(Protocol):
    async def subscribe(self, channels: Sequence[tuple[Channel, int]],
                        last_event_id: str | None) -> LiveSubscription:
        """Follow ``channels`` (``(channel, account id)`` pairs, all published by one
        projector) after ``last_event_id`` (``None``: from now on).

        Resumes exactly when every channel's buffer still reaches back to the id;
        otherwise the subscription is ``reset`` and starts from now.

        Raises:
            ports.errors.DependencyUnavailable: the store failed.
        """
        ...
