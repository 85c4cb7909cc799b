"""The trend counters of whichever copy is live (``infra.redis_copies``): what the API
reads and the live projector writes, across blue-green rebuilds of ``trends``.

``LiveTrendCounters`` plays both parts. A trends computation reads through
``pinned()`` (``queries.trends``): its first call, ``candidates``, sends
``GET pointer`` in its own pipeline and pins the copy it finds, and ``windows`` then
reads that copy (one script call, as before), so no round trip is added and a
computation never mixes copies. ``position`` reads the pointer with the position.
The answers (``cached``) are kept under the prefix, whichever copy is live; the
rebuild forgets them at the switch. As the live projector's store it writes the copy
the pointer named at its last ``follow`` (the runner calls it under the projector
lease, before each apply).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import redis.exceptions
from redis.asyncio import Redis

from infra.redis_copies import CopyStores, LivePointer, Pin
from infra.redis_keys import RedisKeys
from infra.trend_counters import RedisTrendCounters, best_candidates, counters_prefix
from ports.errors import DependencyUnavailable
from ports.projectors import TRENDS
from ports.trends import TagWindow


class LiveTrendCounters(RedisTrendCounters):
    """``RedisTrendCounters`` of the live copy, under ``keys``'s prefix."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        super().__init__(redis, keys)
        self.pointer = LivePointer(redis, keys, TRENDS)
        self.copies = CopyStores(self.pointer, lambda copy_keys:
                                 RedisTrendCounters(redis, copy_keys, answers=keys))
        self._pin = Pin(self.copies, pins=False)

    def pinned(self) -> LiveTrendCounters:
        """A view for one computation: its reads all go to the copy its first read found
        live (a view answers itself)."""
        if self._pin.pins:
            return self
        view = copy.copy(self)  # shares the copies, the pointer and the answers under way
        view._pin = Pin(self.copies, pins=True)
        return view

    async def follow(self) -> None:
        """Write the live copy from now on (one ``GET``); call it with the projector
        lease held."""
        keys = self.pointer.keys(await self.pointer.read())
        self.keys = keys
        self.prefix = counters_prefix(keys)

    async def position(self) -> int:
        try:
            [value] = await self._pin.first(lambda counters, pipe: pipe.get(
                counters.keys.projection_position(TRENDS)))
        except redis.exceptions.RedisError as error:
            raise DependencyUnavailable(f"Redis: {error}") from error
        return int(value) if value else 0

    async def candidates(self, now_s: int, window_s: int, limit: int) -> list[str]:
        if not self.candidate_sources(now_s, window_s):
            return []
        [found] = await self._pin.first(lambda counters, pipe: pipe.zunion(
            counters.candidate_sources(now_s, window_s), withscores=True))
        return best_candidates(found, limit)

    async def windows(self, tags: Sequence[str], now_s: int, window_s: int
                      ) -> list[TagWindow]:
        try:
            counters = await self._pin.store()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise DependencyUnavailable(f"Redis: {error}") from error
        return await counters.windows(tags, now_s, window_s)
