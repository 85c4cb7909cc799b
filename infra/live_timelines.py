"""The home timelines of whichever copy is live (``infra.redis_copies``): what the API
reads and the live projector writes, across blue-green rebuilds.

``LiveTimelines`` is the API's ``ports.timelines.HomeTimelines``. A read of several
calls (a home page: keep the timeline, slices, reach, contains) goes through
``pinned()``, a view whose first call finds the live copy and whose later calls all
go to that copy, so a read never mixes two copies, even when a switch happens in
the middle of it (the old copy stays for ``Settings.rebuild_retire_grace_s``, longer
than a read). The first call of a home read, ``keep_alive``, and of a live event's
check, ``is_kept``, carry ``GET pointer`` in their own pipeline: no round trip is
added to them. Any other first call costs one ``GET`` first. Called directly, not
pinned, each call is a read of its own.

``FollowingTimelineStore`` is the live projector's store: a ``RedisTimelineStore``
that moves to the copy the pointer names when ``follow`` is called, which the
runner does under the projector lease before each apply.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from infra.redis_copies import LivePointer
from infra.redis_keys import RedisKeys
from infra.timeline_store import RedisTimelineStore, kept_answer
from ports.projectors import TIMELINES
from ports.timelines import Place, Reach, TimelineItem

Queue = Callable[[RedisTimelineStore, Pipeline], None]
"""``queue(store, pipe)``: queue a call's commands for ``store``'s copy on ``pipe``."""


class LiveTimelines:
    """``HomeTimelines`` of the live copy of the timelines, under ``keys``'s prefix.
    ``max_entries`` and ``batch`` as ``RedisTimelineStore``'s."""

    def __init__(self, redis: Redis, keys: RedisKeys, max_entries: int, batch: int = 1000
                 ) -> None:
        self.pointer = LivePointer(redis, keys, TIMELINES)
        self.max_entries = max_entries
        self.batch = batch
        self._stores: dict[str, RedisTimelineStore] = {}
        self._pinned: RedisTimelineStore | None = None
        self._pins = False

    def pinned(self) -> LiveTimelines:
        """A view for one read: its calls all go to the copy its first call found live
        (a view answers itself)."""
        if self._pins:
            return self
        view = copy.copy(self)  # shares the pointer and the stores
        view._pins = True
        return view

    def store(self, label: str) -> RedisTimelineStore:
        """The store of copy ``label`` (made once per process)."""
        found = self._stores.get(label)
        if found is None:
            found = self._stores[label] = RedisTimelineStore(
                self.pointer.redis, self.pointer.keys(label), self.max_entries, self.batch)
        return found

    async def _store(self) -> RedisTimelineStore:
        if self._pinned is not None:
            return self._pinned
        return self._pin(await self.pointer.read())

    def _pin(self, label: str) -> RedisTimelineStore:
        store = self.store(label)
        if self._pins:
            self._pinned = store
        return store

    async def _first(self, queue: Queue) -> list[Any]:
        """The answers of the commands ``queue(store, pipe)`` queues, sent with
        ``GET pointer`` for the live copy (pinned after), or to the pinned copy."""
        if self._pinned is not None:
            async with self._pinned.redis.pipeline(transaction=False) as pipe:
                queue(self._pinned, pipe)
                found: list[Any] = await pipe.execute()
                return found

        def fill(pipe: Pipeline, label: str) -> None:
            queue(self.store(label), pipe)

        label, found = await self.pointer.checked(fill)
        self._pin(label)
        return found

    async def keep_alive(self, reader_id: int, ttl_s: int) -> tuple[bool, list[int]]:
        return kept_answer(await self._first(
            lambda store, pipe: store.queue_keep_alive(pipe, reader_id, ttl_s)))

    async def is_kept(self, reader_id: int) -> bool:
        [kept] = await self._first(lambda store, pipe: store.queue_is_kept(pipe, reader_id))
        return bool(kept)

    async def position(self) -> int:
        return await (await self._store()).position()

    async def push(self, readers: Iterable[int], items: Sequence[TimelineItem], *,
                   only_kept: bool = True) -> None:
        await (await self._store()).push(readers, items, only_kept=only_kept)

    async def push_each(self, items_by_reader: Mapping[int, Sequence[TimelineItem]], *,
                        only_kept: bool = True) -> None:
        await (await self._store()).push_each(items_by_reader, only_kept=only_kept)

    async def remove(self, readers: Iterable[int], items: Sequence[TimelineItem]) -> None:
        await (await self._store()).remove(readers, items)

    async def following_among(self, reader_id: int, accounts: Sequence[int]) -> list[bool]:
        return await (await self._store()).following_among(reader_id, accounts)

    async def contains(self, checks: Sequence[tuple[Place, int, TimelineItem]]) -> list[bool]:
        return await (await self._store()).contains(checks)

    async def celebrities(self) -> list[int]:
        return await (await self._store()).celebrities()

    async def mark_kept(self, reader_id: int, ttl_s: int) -> None:
        await (await self._store()).mark_kept(reader_id, ttl_s)

    async def keep_for(self, reader_id: int, ttl_s: int) -> None:
        await (await self._store()).keep_for(reader_id, ttl_s)

    async def slices(self, reader_id: int, celebrities: Sequence[int], below: int | None,
                     count: int) -> list[list[TimelineItem]]:
        return await (await self._store()).slices(reader_id, celebrities, below, count)

    async def reach(self, reader_id: int, post_ids: Sequence[int],
                    celebrities: Sequence[int]) -> list[Reach]:
        return await (await self._store()).reach(reader_id, post_ids, celebrities)


class FollowingTimelineStore(RedisTimelineStore):
    """The live projector's ``RedisTimelineStore``: it writes the copy the pointer named
    at its last ``follow`` (copy ``v1`` before the first)."""

    def __init__(self, redis: Redis, keys: RedisKeys, max_entries: int, batch: int = 1000
                 ) -> None:
        super().__init__(redis, keys, max_entries, batch)
        self.pointer = LivePointer(redis, keys, TIMELINES)

    async def follow(self) -> None:
        """Move to the live copy (one ``GET``); call it with the projector lease held."""
        keys = self.pointer.keys(await self.pointer.read())
        if keys != self.keys:
            self.keys = keys
            self._position = keys.projection_position(TIMELINES)
