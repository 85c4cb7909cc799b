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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

NOTIFICATIONS_CHANNEL: Final = "notifications"
HOME_CHANNEL: Final = "home"
Channel = Literal["notifications", "home"]


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
