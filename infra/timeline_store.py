"""Home timelines in Redis: atomic, idempotent pushes and removals (Lua, in
``timeline_store_push.lua`` and ``timeline_store_remove.lua`` beside this module).

A script call works on the two keys (the timeline and its index of originals)
of a batch of readers, so a fan-out costs the client one call per ~1,000
timeline writes rather than one per reader (the per-command cost of redis-py
dominated fan-out and backfill). It is atomic per call. Like the projector's
other multi-key commands it assumes one Redis, not Redis Cluster (there, every
key of a call would need one hash slot). A push

* does nothing for a timeline that is not kept (the reader has been away
  longer than the active window); it is rebuilt when the reader returns;
* shows each original post at most once, by its oldest item: the post
  itself, else its earliest repost seen. A newer item for a post already
  shown is skipped, an older one takes its place. So the outcome does not
  depend on the order of pushes, and a rebuilt timeline equals a pushed one;
* trims the timeline to its maximum length, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from infra.lua import load_script
from infra.redis_keys import RedisKeys

Item = tuple[str, str]
"""(member, original member or "" for a post shown as itself)."""

_PUSH = load_script("infra", "timeline_store_push")
_REMOVE = load_script("infra", "timeline_store_remove")


def _flatten(items: Sequence[Item]) -> list[str]:
    return [part for item in items for part in item]


class RedisTimelineStore:
    def __init__(self, redis: Redis, keys: RedisKeys, max_entries: int, batch: int = 1000
                 ) -> None:
        self.redis = redis
        self.keys = keys
        self.max_entries = max_entries
        self.batch = batch
        self._push = redis.register_script(_PUSH)
        self._remove = redis.register_script(_REMOVE)

    def _keys(self, readers: Sequence[int]) -> list[str]:
        return [key for reader in readers
                for key in (self.keys.home(reader), self.keys.home_index(reader))]

    async def push(self, readers: Iterable[int], items: Sequence[Item], *, only_kept: bool = True
                   ) -> None:
        """Add ``items`` to each reader's timeline: many readers per script call."""
        if items:
            args = self._push_args(items, only_kept)
            await self._pipelined(self._push, ((chunk, args) for chunk in
                                               self._chunks(readers, len(items))))

    async def push_each(self, items_by_reader: Mapping[int, Sequence[Item]], *,
                        only_kept: bool = True) -> None:
        """Each reader's own items: one script call per reader, pipelined."""
        await self._pipelined(self._push, (
            ([reader], self._push_args(items, only_kept))
            for reader, items in items_by_reader.items() if items))

    async def remove(self, readers: Iterable[int], items: Sequence[Item]) -> None:
        if items:
            args = _flatten(items)
            await self._pipelined(self._remove, ((chunk, args) for chunk in
                                                 self._chunks(readers, len(items))))

    def _push_args(self, items: Sequence[Item], only_kept: bool) -> list[str | int]:
        return [self.max_entries, "1" if only_kept else "0", *_flatten(items)]

    def _chunks(self, readers: Iterable[int], items: int) -> Iterator[list[int]]:
        """Readers per script call: about ``batch`` item writes, so that no call holds
        Redis for long (a 10,000-follower fan-out of one post: 10 calls)."""
        per_call = max(1, self.batch // max(1, items))
        chunk: list[int] = []
        for reader in readers:
            chunk.append(reader)
            if len(chunk) >= per_call:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def _pipelined(self, script: AsyncScript,
                         calls: Iterable[tuple[list[int], Sequence[str | int]]]) -> None:
        """The calls in pipelines of up to ``batch`` readers."""
        pipe = self.redis.pipeline(transaction=False)
        pending = 0
        for readers, args in calls:
            await script(keys=self._keys(readers), args=args, client=pipe)
            pending += len(readers)
            if pending >= self.batch:
                await pipe.execute()
                pending = 0
        if pending:
            await pipe.execute()
