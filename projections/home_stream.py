"""The home stream's live events, made by the timeline projector as it applies events.

The timeline projector knows, for each new item, whose timelines it is pushed
to; it tells this piece, which turns that into ``update`` events on those
readers' ``home`` channels, and ``delete`` events for items it takes away.
They are published once the batch's writes are done and before its position
is recorded: a crash in between publishes them again on the retry, and the
publisher drops ids it has already taken.

* ``update`` ``{"id": <item>}`` (a repost adds ``"repost_of_id"``) goes to
  every reader the item was pushed to. A celebrity's items are pushed to no
  follower (their timelines pull them at read time), so they go to the
  celebrity's ``author`` channel instead, which followers' home streams read:
  one write, not one per follower.
* ``delete`` ``{"id": <item>}`` goes to the author and every follower, as the
  removal itself does.
* Follows' backfill, unfollows and the repairs after them, and a celebrity's
  demotion reshape timelines without live events: a client reloads its
  timeline for those.

Nothing is gathered without a publisher (a rebuild, ``replay-parked``), so
only the worker's live applies send anything. Resume ids are
``<position>-<seq>``, ``seq`` counting per channel from 0 (author channels
from ``AUTHOR_SEQ_BASE``), so a replay re-derives the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ports.live import (
    AUTHOR_CHANNEL,
    AUTHOR_SEQ_BASE,
    HOME_CHANNEL,
    Channel,
    LiveEvent,
    LiveEventPublisher,
)
from ports.timelines import TimelineItem

UPDATE = "update"
DELETE = "delete"


def item_reference(item: TimelineItem) -> dict[str, Any]:
    """A timeline item ``(item id, original post id or None)`` as event data."""
    item_id, original = item
    if original is not None:
        return {"id": str(item_id), "repost_of_id": str(original)}
    return {"id": str(item_id)}


class HomeStream:
    """Gathers one batch's home-stream events; ``flush`` publishes them."""

    def __init__(self, publisher: LiveEventPublisher | None = None) -> None:
        self.publisher = publisher
        self._position: int | None = None
        self._pending: list[LiveEvent] = []
        self._seqs: dict[tuple[Channel, int], int] = {}

    def start(self) -> None:
        """A new batch: forget anything gathered by one that failed."""
        self._pending = []
        self._position = None
        self._seqs.clear()

    def at(self, position: int) -> None:
        """What is gathered from now on was caused by the event at ``position``."""
        if position != self._position:
            self._seqs.clear()
        self._position = position

    def updated(self, author_id: int, readers: Sequence[int], item: TimelineItem) -> None:
        """``item`` by ``author_id`` was pushed to ``readers``' timelines (only the
        author's own, for a celebrity or an account nobody follows)."""
        data = item_reference(item)
        for reader in readers:
            self._add(reader, HOME_CHANNEL, UPDATE, data)
        if list(readers) == [author_id]:
            self._add(author_id, AUTHOR_CHANNEL, UPDATE, data)

    def withdrawn(self, readers: Sequence[int], item: TimelineItem) -> None:
        """``item`` was taken out of ``readers``' timelines."""
        data = {"id": item_reference(item)["id"]}
        for reader in readers:
            self._add(reader, HOME_CHANNEL, DELETE, data)

    async def flush(self) -> None:
        """Publish what the batch gathered (raises ``DependencyUnavailable``)."""
        events, self._pending = self._pending, []
        self._position = None
        self._seqs.clear()
        if events and self.publisher is not None:
            await self.publisher.publish(events)

    def _add(self, account_id: int, channel: Channel, event: str, data: dict[str, Any]
             ) -> None:
        if self.publisher is None or self._position is None:
            return
        seq = self._seqs.get((channel, account_id), 0)
        self._seqs[(channel, account_id)] = seq + 1
        base = AUTHOR_SEQ_BASE if channel == AUTHOR_CHANNEL else 0
        self._pending.append(LiveEvent(account_id, channel, self._position, base + seq,
                                       event, data))
