"""Live events over Redis Streams: the publisher the projectors write through and
the one reader per API process that every connected client shares.

Layout (all keys under ``settings.redis_prefix``):

* ``live:{<account>}:<channel>``: a stream, the channel's **replay buffer**.
  Entry ids are the events' resume ids ``<position>-<seq>``, so Redis itself
  refuses an id that is not above the last one: a replay or a rebuild that
  re-derives old events sends nothing. Fields ``e`` (event name) and ``d``
  (JSON data); a marker entry (field ``m``) is never delivered. Trimmed to
  about ``live_buffer`` entries (``MAXLEN ~``).
* ``live:head:<group>``: the highest position published to a group of channels
  (``notifications``; ``home`` for the home and author channels, which one
  projector publishes in one order).

**Presence.** A buffer exists only while someone follows its channel, and for
``live_ttl_s`` after (the resume window): opening a subscription creates it
(with a marker at ``<head>-<2^64-1>``, below every event still to come) and
this process's reader renews its TTL while subscribed. Publishing writes only
to buffers that exist (``XADD NOMKSTREAM``), so readers who are not connected
cost nothing. A resume id is honoured when every buffer still holds an entry at
or below it; otherwise the subscription is ``reset``.

**One reader per process.** ``RedisLiveHub`` runs one task that ``XREAD BLOCK``s
every stream any local subscription follows (one blocking connection for the
whole process, however many clients) and hands each entry to the bounded
buffer of every subscription that follows it. A new stream wakes the blocked
read through a per-process wake stream, so it is read at once. A
subscription whose buffer would overflow is closed (``too_slow``); the client
resumes with its last id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.crc import key_slot
from redis.exceptions import RedisError

from infra.lua import PipelinedScript, load_script, pipelined
from infra.metrics import LIVE_DISCONNECTS, LIVE_SUBSCRIPTIONS
from infra.redis_clients import async_redis, by_slot, is_cluster
from infra.tasks import stop_task
from ports.errors import DependencyUnavailable
from ports.live import (
    AUTHOR_CHANNEL,
    HOME_CHANNEL,
    MAX_SEQ,
    NOTIFICATIONS_CHANNEL,
    Channel,
    LiveEvent,
    ReceivedEvent,
    SubscriptionClosed,
    event_id,
    parse_event_id,
)

log = structlog.get_logger(__name__)

_PUBLISH = load_script("infra", "live_publish")
_OPEN = load_script("infra", "live_open")
_SLOTS = load_script("infra", "live_slots")
_ADVANCE = load_script("infra", "timeline_store_advance")  # GET-compare-SET, forward only

HEAD_GROUPS: Final[dict[str, str]] = {
    NOTIFICATIONS_CHANNEL: "notifications", HOME_CHANNEL: "home", AUTHOR_CHANNEL: "home"}
"""Channels published by one projector, in one order, share a head."""
MARKER_FIELD: Final = b"m"
WAKE_MAXLEN: Final = 10
SLOT_LEASE_MS: Final = 60_000
POLL_S: Final = 0.05
"""On a Redis Cluster, how long the hub's reader waits after a poll that found
nothing (``RedisLiveHub._poll``): a live event's added delay, at most."""
STOP_WITHIN_S: Final = 5.0
"""The longest a stop waits for the hub's loops (``infra.tasks.stop_task``)."""


@dataclass(frozen=True, slots=True)
class LiveKeys:
    prefix: str
    cluster: bool = False
    """On a Redis Cluster a group's head is kept per hash slot (``head``)."""

    def stream(self, channel: str, account_id: int) -> str:
        return f"{self.prefix}live:{{{account_id}}}:{channel}"

    def head(self, channel: str, stream: str = "") -> str:
        """The head of the channel's group: the highest position published to it. On a
        Redis Cluster, one head per hash slot, in the slot of ``stream`` (its tag one
        that hashes there: ``slot_tag``), so a script takes a head and its buffers; and
        without ``stream`` the group's head over all slots, moved after each publish
        (``RedisLivePublisher.publish``)."""
        if self.cluster and stream:
            tag = slot_tag(key_slot(stream.encode()))
            return f"{self.prefix}live:head:{{{tag}}}:{HEAD_GROUPS[channel]}"
        return f"{self.prefix}live:head:{HEAD_GROUPS[channel]}"


@functools.cache
def slot_tag(slot: int) -> str:
    """The smallest decimal number whose hash slot is ``slot`` (a hash tag for it)."""
    n = 0
    while key_slot(str(n).encode()) != slot:
        n += 1
    return str(n)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(text: bytes | str) -> tuple[int, int]:
    position, _, seq = _text(text).partition("-")
    return int(position), int(seq)


def reader_client(redis_url: str, block_ms: int = 10_000, cluster: bool = False) -> Redis:
    """A client for the hub's reader: its socket timeout outlasts a blocked read
    (redis-py's default, 5 s, would cut a longer ``XREAD BLOCK`` short)."""
    return async_redis(redis_url, cluster, socket_timeout=block_ms / 1000 + 5)


class RedisLivePublisher:
    """``ports.live.LiveEventPublisher`` over Redis Streams (see the module doc)."""

    def __init__(self, redis: Redis, prefix: str, buffer: int = 1000, batch: int = 1000
                 ) -> None:
        self.redis = redis
        self.keys = LiveKeys(prefix, is_cluster(redis))
        self.buffer = buffer
        self.batch = batch
        self._publish = PipelinedScript(_PUBLISH)
        self._advance = redis.register_script(_ADVANCE)

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        """In id order per head (a group of channels; on a Redis Cluster, per hash
        slot too), in calls of up to ``batch`` events (each atomic), pipelined: Redis
        runs each head's calls in that order, so any read sees a prefix of them."""
        if not events:
            return
        ordered = sorted(events, key=lambda e: (e.position, e.seq))
        calls: list[tuple[list[str], list[str | int]]] = []
        for head, chunk in self._chunks(ordered):
            keys = [head, *dict.fromkeys(self.keys.stream(e.channel, e.account_id)
                                         for e in chunk)]
            index = {key: i for i, key in enumerate(keys, start=1)}
            args: list[str | int] = [self.buffer, max(e.position for e in chunk)]
            for e in chunk:
                args += [index[self.keys.stream(e.channel, e.account_id)],
                         event_id(e.position, e.seq), e.event,
                         orjson.dumps(dict(e.data)).decode()]
            calls.append((keys, args))

        def fill(pipe: Pipeline) -> None:  # again after NOSCRIPT, which ran none of them
            for keys, args in calls:
                self._publish.queue(pipe, keys, args)

        try:
            await pipelined(self.redis, [self._publish], fill)
            if self.keys.cluster:  # every slot's buffers have them: the group's head
                for group, highest in self._highest(ordered).items():
                    await self._advance(keys=[group], args=[highest])
        except RedisError as error:
            raise DependencyUnavailable(f"live events not published: {error!r}") from error

    def _highest(self, events: Sequence[LiveEvent]) -> dict[str, int]:
        """The highest position of the events per group head (over all slots)."""
        found: dict[str, int] = {}
        for event in events:
            head = self.keys.head(event.channel)
            found[head] = max(found.get(head, 0), event.position)
        return found

    def _chunks(self, events: Sequence[LiveEvent]) -> Iterator[tuple[str, list[LiveEvent]]]:
        """``(head, events)``: the events of each head, in order, ``batch`` at most."""
        by_head: dict[str, list[LiveEvent]] = {}
        for event in events:
            by_head.setdefault(self.keys.head(
                event.channel, self.keys.stream(event.channel, event.account_id)),
                [] ).append(event)
        for head, found in by_head.items():
            for start in range(0, len(found), self.batch):
                yield head, found[start:start + self.batch]


@dataclass(eq=False)
class _Subscription:
    """One client's subscription, fed by the hub's reader (``LiveSubscription``).

    ``ready`` holds the events missed before subscribing (not counted against
    the buffer); ``buffer`` what the reader dispatched since, at most ``limit``.
    While ``filling``, dispatched events are kept unordered until the hub has
    read the range the reader had passed before this subscription joined.
    """

    hub: RedisLiveHub
    streams: dict[str, tuple[Channel, int]]
    reset: bool
    start_id: str
    high: tuple[int, int]
    limit: int
    ready: list[ReceivedEvent] = field(default_factory=list)
    buffer: deque[ReceivedEvent] = field(default_factory=deque)
    filling: bool = False
    closed: SubscriptionClosed | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, events: Sequence[ReceivedEvent]) -> None:
        """Queue the events above what was queued already (in id order); when they
        would overflow its buffer, queue what fits and close the subscription: the
        client gets those, then the disconnect, and resumes from the last it got."""
        fresh = list(events) if self.filling else [e for e in events if e.key > self.high]
        if not fresh or self.closed is not None:
            return
        if len(self.buffer) + len(fresh) > self.limit:
            room = self.limit - len(self.buffer)
            if room > 0 and not self.filling:
                self.buffer.extend(fresh[:room])
                self.high = fresh[room - 1].key
            self.hub.drop(self, SubscriptionClosed(
                "too_slow", f"more than {self.limit} events waited for this client; "
                "reconnect with Last-Event-ID to resume"))
            return
        self.buffer.extend(fresh)
        if not self.filling:
            self.high = fresh[-1].key
            self.wake.set()

    def filled(self, gap: Sequence[ReceivedEvent]) -> None:
        """The range the reader passed before this subscription joined: merge it with
        what was dispatched meanwhile, in id order, each event once."""
        merged = {e.key: e for e in (*gap, *self.buffer) if e.key > self.high}
        self.buffer = deque(merged[k] for k in sorted(merged))
        if self.buffer:
            self.high = self.buffer[-1].key
        self.filling = False
        self.wake.set()

    async def next(self, timeout_s: float) -> list[ReceivedEvent]:
        if self.ready:
            ready, self.ready = self.ready, []
            return ready
        if (self.filling or not self.buffer) and self.closed is None:
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout_s)
        if self.buffer and not self.filling:
            events = list(self.buffer)
            self.buffer.clear()
            return events
        if self.closed is not None:
            raise self.closed
        return []

    async def close(self) -> None:
        self.hub.drop(self, None)


class RedisLiveHub:
    """``ports.live.LiveEventSubscriber``: one reader task per process for all clients.

    ``start()`` it once (the API's lifespan) and ``stop()`` it at shutdown.
    ``reader`` is a client of its own: the reader's ``XREAD BLOCK`` holds its
    one connection. ``queue`` bounds each subscription's buffer (events).
    """

    def __init__(self, redis: Redis, reader: Redis, prefix: str, *, ttl_s: int = 600,
                 queue: int = 1000, block_ms: int = 10_000) -> None:
        self.redis = redis
        self.reader = reader
        self.cluster = is_cluster(redis)
        self.keys = LiveKeys(prefix, self.cluster)
        self.ttl_s = ttl_s
        self.queue = queue
        self.block_ms = block_ms
        self.process = uuid.uuid4().hex
        self._open = redis.register_script(_OPEN)
        self._cursors: dict[str, tuple[int, int]] = {}
        self._by_stream: dict[str, set[_Subscription]] = {}
        self._all: set[_Subscription] = set()
        self._wake_key = f"{prefix}live:wake:{self.process}"  # wakes this process's reader
        self._wake_cursor = "0-0"
        self._wake_pending = False
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read_loop(), name="live-reader"),
                       asyncio.create_task(self._renew_loop(), name="live-renew")]

    async def stop(self) -> None:
        self._stopping = True
        # Both at once, each ending on _stopping if its cancel is lost.
        await asyncio.gather(*(stop_task(task, STOP_WITHIN_S) for task in self._tasks))
        self._tasks = []
        for subscription in list(self._all):
            self.drop(subscription, SubscriptionClosed("shutdown", "the server is stopping"))
        with contextlib.suppress(RedisError):
            await self.redis.unlink(self._wake_key)

    @property
    def subscriptions(self) -> int:
        """How many subscriptions this process feeds."""
        return len(self._all)

    # -- subscribing -----------------------------------------------------------

    async def subscribe(self, channels: Sequence[tuple[Channel, int]],
                        last_event_id: str | None) -> _Subscription:
        streams = {self.keys.stream(channel, account): (channel, account)
                   for channel, account in channels}
        if len({HEAD_GROUPS[channel] for channel, _ in channels}) != 1:
            raise ValueError("one subscription follows channels of one group")
        wanted = parse_event_id(last_event_id)
        if wanted == (MAX_SEQ, MAX_SEQ):
            wanted = None  # nothing can follow it; resuming from it is meaningless
        by_head: dict[str, list[str]] = {}
        for key, (channel, _) in streams.items():
            by_head.setdefault(self.keys.head(channel, key), []).append(key)
        try:  # one script per head (one head but on a Redis Cluster: one per slot)
            group: bytes | str = ""
            if self.cluster:  # the marker at least at the group's head (all slots)
                group = await self.redis.get(self.keys.head(channels[0][0])) or b""
            opened = await asyncio.gather(*(
                self._open(keys=[head, *keys],
                           args=[self.ttl_s, event_id(*wanted) if wanted else "", group])
                for head, keys in by_head.items()))
        except RedisError as error:
            raise DependencyUnavailable(f"live events unavailable: {error!r}") from error
        resumable = all(found[0] for found in opened)
        order = [key for keys in by_head.values() for key in keys]
        last_of = dict(zip(order, (last for found in opened for last in found[1]),
                           strict=True))
        last_ids = [_id_key(last_of[key]) for key in streams]
        backlog: list[ReceivedEvent] = []
        if resumable:
            entries = dict(zip(order, (e for found in opened for e in found[2]),
                               strict=True))
            for key in streams:
                backlog += self._received(key, streams[key], entries[key])[0]
            backlog.sort(key=lambda e: e.key)
        newest = max(last_ids)
        high = max([wanted, *(e.key for e in backlog)]) if resumable and wanted else newest
        subscription = _Subscription(
            self, streams, reset=last_event_id is not None and not resumable,
            start_id=event_id(*newest), high=high, limit=self.queue, ready=backlog)
        # No await from the snapshot to here: the reader dispatches nothing between.
        added = False
        gaps: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
        for key, last in zip(streams, last_ids, strict=True):
            cursor = self._cursors.get(key)
            if cursor is None:
                self._cursors[key] = last
                added = True
            elif cursor > last:  # the reader passed the snapshot while it was taken
                gaps[key] = (last, cursor)
            self._by_stream.setdefault(key, set()).add(subscription)
        self._all.add(subscription)
        LIVE_SUBSCRIPTIONS.set(self.subscriptions)
        if gaps:
            await self._fill(subscription, gaps)
        if added:
            await self._wake()
        return subscription

    async def _fill(self, subscription: _Subscription,
                    gaps: dict[str, tuple[tuple[int, int], tuple[int, int]]]) -> None:
        subscription.filling = True
        gap: list[ReceivedEvent] = []
        try:
            for key, (after, upto) in gaps.items():
                found = await self.redis.xrange(key, f"({event_id(*after)}", event_id(*upto))
                gap += self._received(key, subscription.streams[key], found or [])[0]
        except RedisError as error:
            self.drop(subscription, None)
            raise DependencyUnavailable(f"live events unavailable: {error!r}") from error
        subscription.filled(gap)

    def drop(self, subscription: _Subscription, reason: SubscriptionClosed | None) -> None:
        """Stop feeding ``subscription``; with a ``reason``, its reader is told why,
        after the events already queued for it (at most its buffer: they are in order,
        and a reconnect resumes from the last it got)."""
        if subscription.closed is None and reason is not None:
            subscription.closed = reason
            LIVE_DISCONNECTS.labels(reason.reason).inc()
        subscription.wake.set()
        self._all.discard(subscription)
        for key in subscription.streams:
            followers = self._by_stream.get(key)
            if followers is None:
                continue
            followers.discard(subscription)
            if not followers:  # the reader drops it from its next read
                del self._by_stream[key]
                self._cursors.pop(key, None)
        LIVE_SUBSCRIPTIONS.set(self.subscriptions)

    async def _wake(self) -> None:
        """Make the reader re-issue its read with the new streams (once per read; on a
        Redis Cluster the reader polls, and reads them at its next poll)."""
        if self._wake_pending or self.cluster:
            return
        self._wake_pending = True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=WAKE_MAXLEN, approximate=False)
                pipe.expire(self._wake_key, self.ttl_s)
                await pipe.execute()
        except RedisError as error:  # the reader's block timeout re-reads anyway
            log.warning("live.wake_failed", error=repr(error))

    # -- the reader ------------------------------------------------------------

    async def _read_loop(self) -> None:
        backoff = 0.1
        while not self._stopping:
            streams: dict[Any, Any] = {key: event_id(*cursor)
                                       for key, cursor in self._cursors.items()}
            streams[self._wake_key] = self._wake_cursor
            self._wake_pending = False
            reply: Any
            try:
                if self.cluster:
                    reply = await self._poll(streams)
                else:
                    reply = await self.reader.xread(streams, block=self.block_ms)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._stopping:  # redis-py may turn the cancellation into an error
                    return
                log.warning("live.read_failed", error=repr(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            self._dispatch(reply or [])

    async def _poll(self, streams: dict[Any, Any]) -> list[Any]:
        """On a Redis Cluster: one ``XREAD`` per hash slot of the streams followed (a
        command's keys share a slot), pipelined, without blocking; when none has news,
        wait ``POLL_S`` before the next poll. The wake stream is not read (new streams
        are read at the next poll)."""
        del streams[self._wake_key]
        found: list[Any] = []
        if streams:
            async with self.reader.pipeline(transaction=False) as pipe:
                for group in by_slot(streams, lambda key: _text(key), True):
                    pipe.xread({key: streams[key] for key in group})
                found = [item for reply in await pipe.execute() for item in reply or ()]
        if not found:
            await asyncio.sleep(POLL_S)
        return found

    def _dispatch(self, reply: Iterable[Any]) -> None:
        per_subscription: dict[_Subscription, list[ReceivedEvent]] = {}
        lost: dict[_Subscription, bool] = {}
        for raw_key, found in reply:
            key = _text(raw_key)
            if key == self._wake_key:
                if found:
                    self._wake_cursor = _text(found[-1][0])
                continue
            followers = self._by_stream.get(key)
            if not followers or not found:
                continue
            last = _id_key(found[-1][0])
            self._cursors[key] = max(self._cursors.get(key, last), last)
            channel, account = next(iter(followers)).streams[key]
            events, markers = self._received(key, (channel, account), found)
            for subscription in followers:
                per_subscription.setdefault(subscription, []).extend(events)
                if any(marker > subscription.high for marker in markers):
                    lost[subscription] = True
        for subscription, events in per_subscription.items():
            if lost.get(subscription):
                self.drop(subscription, SubscriptionClosed(
                    "stream_lost", "this stream's buffer expired under the connection; "
                    "reconnect with Last-Event-ID"))
                continue
            events.sort(key=lambda e: e.key)
            subscription.offer(events)

    @staticmethod
    def _received(key: str, source: tuple[Channel, int], found: Iterable[Any]
                  ) -> tuple[list[ReceivedEvent], list[tuple[int, int]]]:
        """Entries of one stream: (events, marker ids)."""
        channel, account = source
        events: list[ReceivedEvent] = []
        markers: list[tuple[int, int]] = []
        for raw_id, raw_fields in found:
            fields = raw_fields if isinstance(raw_fields, dict) else \
                dict(zip(raw_fields[::2], raw_fields[1::2], strict=True))  # from a script
            if not fields or MARKER_FIELD in fields:
                markers.append(_id_key(raw_id))
                continue
            events.append(ReceivedEvent(
                id=_text(raw_id), account_id=account, channel=channel,
                event=_text(fields[b"e"]), data=orjson.loads(fields[b"d"])))
        return events, markers

    async def _renew_loop(self) -> None:
        """Keep followed buffers (and the wake stream) alive; a buffer found gone
        has lost events under its subscriptions, which are closed."""
        while not self._stopping:
            await asyncio.sleep(max(0.05, self.ttl_s / 3))
            keys = [*self._by_stream, self._wake_key]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.expire(key, self.ttl_s)
                    kept = await pipe.execute()
            except RedisError as error:
                log.warning("live.renew_failed", error=repr(error))
                continue
            for key, alive in zip(keys[:-1], kept, strict=False):
                if not alive:
                    for subscription in list(self._by_stream.get(key, ())):
                        self.drop(subscription, SubscriptionClosed(
                            "stream_lost", "this stream's buffer expired; reconnect with "
                            "Last-Event-ID"))


class RedisStreamSlots:
    """At most ``limit`` concurrent streams per account, across API processes.

    Each open stream holds a slot: a member of the account's sorted set whose
    score is its lease end (Redis time). This process renews its slots every
    third of the lease; a process that dies leaves slots that lapse within
    ``SLOT_LEASE_MS``.
    """

    def __init__(self, redis: Redis, prefix: str, limit: int,
                 lease_ms: int = SLOT_LEASE_MS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.limit = limit
        self.lease_ms = lease_ms
        self._script = redis.register_script(_SLOTS)
        self._renewal = PipelinedScript(_SLOTS)  # the same, queued on the renewals' pipeline
        self._held: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def acquire(self, account_id: int) -> tuple[str | None, float]:
        """``(slot id, 0)`` when taken; ``(None, seconds to wait)`` when all are held."""
        slot = uuid.uuid4().hex
        try:
            wait_ms = int(await self._script(keys=[self._key(account_id)],
                                             args=[slot, self.limit, self.lease_ms]))
        except RedisError as error:
            raise DependencyUnavailable(f"stream slots unavailable: {error!r}") from error
        if wait_ms:
            return None, wait_ms / 1000
        self._held[slot] = account_id
        return slot, 0.0

    async def release(self, slot: str) -> None:
        account_id = self._held.pop(slot, None)
        if account_id is not None:
            with contextlib.suppress(RedisError):
                await self.redis.zrem(self._key(account_id), slot)

    async def _renew(self, held: Sequence[tuple[str, int]]) -> None:
        """Renew each held slot's lease, in one pipeline (sent again after loading the
        script if Redis had lost it: a renewal sets an absolute lease end)."""
        def fill(pipe: Pipeline) -> None:
            for slot, account_id in held:
                self._renewal.queue(pipe, [self._key(account_id)],
                                    [slot, self.limit, self.lease_ms])

        await pipelined(self.redis, [self._renewal], fill)

    def _key(self, account_id: int) -> str:
        """The account's slots: connection id -> lease end (ms, Redis time)."""
        return f"{self.prefix}live:slots:{{{account_id}}}"

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._renew_loop(), name="live-slots")

    async def stop(self) -> None:
        self._stopping = True  # the loop ends on it if the cancel is lost
        if self._task is not None:
            await stop_task(self._task, STOP_WITHIN_S)

    async def _renew_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.lease_ms / 3000)
            held = list(self._held.items())
            if not held:
                continue
            started = time.monotonic()
            try:
                await self._renew(held)
            except RedisError as error:
                log.warning("live.slots_renew_failed", error=repr(error),
                            s=round(time.monotonic() - started, 3))
