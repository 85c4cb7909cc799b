"""The home timelines of whichever copy is live (``infra.redis_copies``): what the API
reads and the live projector writes, across blue-green rebuilds.

``LiveTimelines`` is the API's ``ports.timelines.HomeTimelines``. A read of several
calls (a home page: keep the timeline, slices, reach, contains) goes through
``pinned()``, a view whose first call finds the live copy and whose later calls all
go to that copy, so a read never mixes two copies, even when a switch happens in
the middle of it (the old copy stays for ``Settings.rebuild_retire_grace_s``, longer
than a read). The first call of a home read, ``open_home`` (or ``keep_alive``), and of
a live event's check, ``is_kept``, carry ``GET pointer`` in their own pipeline: no
round trip is added to them. Any other first call costs one ``GET`` first. Called directly, not
pinned, each call is a read of its own.

``FollowingTimelineStore`` is the live projector's store: a ``RedisTimelineStore``
that moves to the copy the pointer names when ``follow`` is called, which the
runner does under the projector lease before each apply.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

from redis.asyncio import Redis

from infra.lua import loading
from infra.redis_clients import is_cluster
from infra.redis_copies import CopyStores, LivePointer, Pin
from infra.redis_keys import RedisKeys
from infra.timeline_store import OPEN_HOME, RedisTimelineStore, kept_answer, opened_answer
from ports.projectors import TIMELINES
from ports.timelines import HomeStart, Place, Reach, TimelineItem


class LiveTimelines:
    """``HomeTimelines`` of the live copy of the timelines, under ``keys``'s prefix.
    ``max_entries`` and ``batch`` as ``RedisTimelineStore``'s."""

    def __init__(self, redis: Redis, keys: RedisKeys, max_entries: int, batch: int = 1000
                 ) -> None:
        self.max_entries = max_entries
        self.copies = CopyStores(LivePointer(redis, keys, TIMELINES), lambda copy_keys:
                                 RedisTimelineStore(redis, copy_keys, max_entries, batch))
        self._pin = Pin(self.copies, pins=False)

    def pinned(self) -> LiveTimelines:
        """A view for one read: its calls all go to the copy its first call found live
        (a view answers itself)."""
        if self._pin.pins:
            return self
        view = copy.copy(self)  # shares the copies' stores and the pointer
        view._pin = Pin(self.copies, pins=True)
        return view

    async def _store(self) -> RedisTimelineStore:
        return await self._pin.store()

    async def keep_alive(self, reader_id: int, ttl_s: int) -> tuple[bool, list[int]]:
        return kept_answer(await self._pin.first(
            lambda store, pipe: store.queue_keep_alive(pipe, reader_id, ttl_s)))

    async def open_home(self, reader_id: int, ttl_s: int, below: int | None, count: int
                        ) -> HomeStart:
        if is_cluster(self.copies.pointer.redis):  # RedisTimelineStore.open_home
            kept, every = await self.keep_alive(reader_id, ttl_s)
            return await (await self._store()).open_rest(reader_id, kept, every, below,
                                                         count)
        return opened_answer(await loading(
            self.copies.pointer.redis, [OPEN_HOME], lambda: self._pin.first(
                lambda store, pipe: store.queue_open_home(pipe, reader_id, ttl_s, below,
                                                          count))))

    async def is_kept(self, reader_id: int) -> bool:
        [kept] = await self._pin.first(
            lambda store, pipe: store.queue_is_kept(pipe, reader_id))
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
