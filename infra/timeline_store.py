"""Home timelines in Redis: atomic, idempotent pushes and removals (Lua).

Each call works on one reader's two keys (the timeline and its index of
originals), so it is atomic per reader and Cluster-safe. A push

* does nothing for a timeline that is not kept (the reader has been away
  longer than the active window); it is rebuilt when the reader returns;
* shows each original post at most once, by its oldest item: the post
  itself, else its earliest repost seen. A newer item for a post already
  shown is skipped, an older one takes its place. So the outcome does not
  depend on the order of pushes, and a rebuilt timeline equals a pushed one;
* trims the timeline to its maximum length, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from infra.redis_keys import RedisKeys

Item = tuple[str, str]
"""(member, original member or "" for a post shown as itself)."""

_PUSH = """
local home, idx = KEYS[1], KEYS[2]
local max = tonumber(ARGV[1])
if ARGV[2] == '1' and redis.call('EXISTS', home) == 0 then return 0 end
local added = 0
for i = 3, #ARGV, 2 do
  local m, orig = ARGV[i], ARGV[i + 1]
  local key = orig
  if key == '' then key = m end
  local skip = false
  if orig ~= '' and redis.call('ZSCORE', home, orig) then
    skip = true
  else
    local shown = redis.call('HGET', idx, key)
    if shown and redis.call('ZSCORE', home, shown) then
      if shown <= m then skip = true else redis.call('ZREM', home, shown) end
    end
  end
  if not skip then
    redis.call('ZADD', home, 0, m)
    if orig ~= '' then redis.call('HSET', idx, key, m) else redis.call('HDEL', idx, key) end
    added = added + 1
  end
end
local n = redis.call('ZCARD', home)
if n > max then
  local old = redis.call('ZRANGE', home, 0, n - max - 1)
  redis.call('ZREMRANGEBYRANK', home, 0, n - max - 1)
  for _, m in ipairs(old) do
    local sep = string.find(m, ':', 1, true)
    if sep then
      local orig = string.sub(m, sep + 1)
      if redis.call('HGET', idx, orig) == m then redis.call('HDEL', idx, orig) end
    end
  end
end
return added
"""

_REMOVE = """
local home, idx = KEYS[1], KEYS[2]
for i = 1, #ARGV, 2 do
  local m, orig = ARGV[i], ARGV[i + 1]
  redis.call('ZREM', home, m)
  if orig ~= '' and redis.call('HGET', idx, orig) == m then redis.call('HDEL', idx, orig) end
end
return 1
"""


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

    def _keys(self, reader: int) -> list[str]:
        return [self.keys.home(reader), self.keys.home_index(reader)]

    async def push(self, readers: Iterable[int], items: Sequence[Item], *, only_kept: bool = True
                   ) -> None:
        """Add ``items`` to each reader's timeline, pipelined in batches."""
        if items:
            args = self._push_args(items, only_kept)
            await self._pipelined(self._push, ((reader, args) for reader in readers))

    async def push_each(self, items_by_reader: Mapping[int, Sequence[Item]], *,
                        only_kept: bool = True) -> None:
        """Each reader's own items, pipelined in batches."""
        await self._pipelined(self._push, (
            (reader, self._push_args(items, only_kept))
            for reader, items in items_by_reader.items() if items))

    async def remove(self, readers: Iterable[int], items: Sequence[Item]) -> None:
        if items:
            args = _flatten(items)
            await self._pipelined(self._remove, ((reader, args) for reader in readers))

    def _push_args(self, items: Sequence[Item], only_kept: bool) -> list[str | int]:
        return [self.max_entries, "1" if only_kept else "0", *_flatten(items)]

    async def _pipelined(self, script: AsyncScript,
                         calls: Iterable[tuple[int, Sequence[str | int]]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pending = 0
        for reader, args in calls:
            await script(keys=self._keys(reader), args=args, client=pipe)
            pending += 1
            if pending >= self.batch:
                await pipe.execute()
                pending = 0
        if pending:
            await pipe.execute()
