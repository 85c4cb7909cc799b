"""In-memory live events: ``LiveEventPublisher`` and ``LiveEventSubscriber`` in one.

It keeps the Redis adapter's rules (``infra/live.py``), so the same contract
tests pass against both: a channel's buffer exists only once someone
subscribed (and until ``expire``), starting with a marker at
``<head>-<2^64-1>``; ids not above a buffer's last are dropped; buffers keep
the newest ``buffer`` entries; a resume id is honoured when every buffer still
reaches back to it; a subscription that would hold more than ``queue`` events
is closed ``too_slow`` (after delivering what fits).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ports import live as port
from ports.live import MAX_SEQ, Channel, LiveEvent, ReceivedEvent, SubscriptionClosed

_GROUPS = {"notifications": "notifications", "home": "home", "author": "home"}
event_id, parse_event_id = port.event_id, port.parse_event_id
Stream = tuple[Channel, int]


@dataclass
class _Buffer:
    entries: list[tuple[tuple[int, int], ReceivedEvent | None]]  # None: the marker

    @property
    def last(self) -> tuple[int, int]:
        return self.entries[-1][0]


@dataclass(eq=False)
class FakeSubscription:
    live: FakeLive
    streams: tuple[Stream, ...]
    reset: bool
    start_id: str
    high: tuple[int, int]
    ready: list[ReceivedEvent]
    buffer: list[ReceivedEvent] = field(default_factory=list)
    closed: SubscriptionClosed | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, events: Sequence[ReceivedEvent]) -> None:
        """One publish's events: what fits the buffer is queued; an overflow closes it."""
        fresh = [event for event in events if event.key > self.high]
        if self.closed is not None or not fresh:
            return
        if len(self.buffer) + len(fresh) > self.live.queue:
            room = self.live.queue - len(self.buffer)
            if room > 0:  # what fits is still delivered, then the disconnect
                self.buffer += fresh[:room]
                self.high = fresh[room - 1].key
            self.live.close(self, SubscriptionClosed("too_slow", "the client fell behind"))
            return
        self.buffer += fresh
        self.high = fresh[-1].key
        self.wake.set()

    async def next(self, timeout_s: float) -> list[ReceivedEvent]:
        if self.ready:
            ready, self.ready = self.ready, []
            return ready
        if not self.buffer and self.closed is None:
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout_s)
        if self.buffer:
            events, self.buffer = self.buffer, []
            return events
        if self.closed is not None:
            raise self.closed
        return []

    async def close(self) -> None:
        self.live.subscriptions.discard(self)


class FakeLive:
    def __init__(self, buffer: int = 1000, queue: int = 1000) -> None:
        self.buffer = buffer
        self.queue = queue
        self.buffers: dict[Stream, _Buffer] = {}
        self.heads: dict[str, int] = {}
        self.subscriptions: set[FakeSubscription] = set()
        self.published: list[LiveEvent] = []
        """Every event ``publish`` was handed, kept or not (for assertions)."""

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        self.published += events
        offered: dict[FakeSubscription, list[ReceivedEvent]] = {}
        for event in sorted(events, key=lambda e: (e.position, e.seq)):
            group = _GROUPS[event.channel]
            self.heads[group] = max(self.heads.get(group, 0), event.position)
            stream = (event.channel, event.account_id)
            buffer = self.buffers.get(stream)
            key = (event.position, event.seq)
            if buffer is None or key <= buffer.last:
                continue
            received = ReceivedEvent(event_id(*key), event.account_id, event.channel,
                                     event.event, dict(event.data))
            buffer.entries.append((key, received))
            del buffer.entries[:-self.buffer]
            for subscription in list(self.subscriptions):
                if stream in subscription.streams:
                    offered.setdefault(subscription, []).append(received)
        for subscription, batch in offered.items():
            subscription.offer(batch)

    async def subscribe(self, channels: Sequence[Stream], last_event_id: str | None
                        ) -> FakeSubscription:
        wanted = parse_event_id(last_event_id)
        if wanted == (MAX_SEQ, MAX_SEQ):
            wanted = None
        resumable = wanted is not None
        group_heads = {self.heads.get(_GROUPS[stream[0]], 0) for stream in channels}
        if wanted is not None and wanted[0] > max(group_heads):
            resumable = False  # from beyond anything published: never resumable
        for stream in channels:
            if stream not in self.buffers:
                head = self.heads.get(_GROUPS[stream[0]], 0)
                self.buffers[stream] = _Buffer([((head, MAX_SEQ), None)])
            if wanted is not None and self.buffers[stream].entries[0][0] > wanted:
                resumable = False
        backlog = sorted((event for stream in channels
                          for key, event in self.buffers[stream].entries
                          if event is not None and wanted is not None and key > wanted),
                         key=lambda e: e.key) if resumable else []
        newest = max(self.buffers[stream].last for stream in channels)
        high = max([wanted, *(e.key for e in backlog)]) if resumable and wanted else newest
        subscription = FakeSubscription(
            self, tuple(channels), reset=last_event_id is not None and not resumable,
            start_id=event_id(*newest), high=high, ready=backlog)
        self.subscriptions.add(subscription)
        return subscription

    def expire(self, channel: Channel, account_id: int) -> None:
        """The buffer's TTL ran out: it is gone, and its followers with it."""
        self.buffers.pop((channel, account_id), None)
        for subscription in list(self.subscriptions):
            if (channel, account_id) in subscription.streams:
                self.close(subscription, SubscriptionClosed("stream_lost", "buffer expired"))

    def close(self, subscription: FakeSubscription, reason: SubscriptionClosed) -> None:
        subscription.closed = reason  # what it had queued is still delivered first
        subscription.wake.set()
        self.subscriptions.discard(subscription)
