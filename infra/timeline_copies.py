"""Copies of the home timelines in Redis, for blue-green rebuilds and ``roost projections
verify timelines`` (``infra.rebuild.TimelineCopies``).

A copy is the timeline store under a key namespace (``infra.redis_copies.copy_keys``):
every key the timeline projector owns (``RedisKeys.timeline_patterns``) exists there
under the same suffix. Home timelines are only pushed to *kept* readers (those who
read lately), so a copy is made with the live copy's kept readers marked kept, each
for what its live timeline has left to live, before it is filled (``make_copy``);
after a switch the new copy takes over the TTLs that reads renewed in the old one
meanwhile (``carry_ttls``). ``differences`` compares each owned key of two copies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from infra.redis_copies import differences as copy_differences
from infra.redis_copies import unlink_copy
from infra.redis_keys import SENTINEL, TIMELINE_KINDS, RedisKeys
from infra.timeline_store import RedisTimelineStore
from ports.projectors import TIMELINES


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def kept_readers(redis: Redis, keys: RedisKeys) -> list[int]:
    """The readers whose live home timeline is kept (it exists)."""
    found: list[int] = []
    async for raw in redis.scan_iter(match=f"{keys.prefix}home:{{*}}", count=1000):
        found.append(int(_text(raw).rsplit("{", 1)[1].rstrip("}")))
    return found


async def _left_ms(redis: Redis, keys: RedisKeys, batch: int
                   ) -> AsyncIterator[list[tuple[int, int]]]:
    """``(reader, PTTL of its home timeline in ms)`` of every reader kept under ``keys``,
    ``batch`` at a time (-1: no TTL; -2: gone since the scan)."""
    readers = await kept_readers(redis, keys)
    for start in range(0, len(readers), batch):
        chunk = readers[start:start + batch]
        async with redis.pipeline(transaction=False) as pipe:
            for reader in chunk:
                pipe.pttl(keys.home(reader))
            yield list(zip(chunk, await pipe.execute(), strict=True))


async def make_copy(store: RedisTimelineStore, live: RedisKeys, ttl_s: int,
                    batch: int = 1000) -> None:
    """Mark kept in ``store``'s (empty) copy every reader kept in the ``live`` one, for
    the milliseconds its live timeline has left (``ttl_s`` seconds when it has no
    TTL), ``batch`` readers per pipeline."""
    async for left in _left_ms(store.redis, live, batch):
        async with store.redis.pipeline(transaction=False) as pipe:
            for reader, ttl_ms in left:
                if ttl_ms != -2:
                    pipe.zadd(store.keys.home(reader), {SENTINEL: 0})
                    pipe.pexpire(store.keys.home(reader),
                                 ttl_ms if ttl_ms > 0 else ttl_s * 1000)
            await pipe.execute()


async def carry_ttls(redis: Redis, old: RedisKeys, new: RedisKeys, batch: int = 1000) -> None:
    """After a switch: give each timeline kept in both copies the longer of its two TTLs
    (reads renewed the old copy's while the new one was built), ``batch`` readers per
    pipeline. A reader kept only in the old copy (first seen during the build) is not
    carried over: its first read rebuilds it in the new one, as for any returning
    reader."""
    async for left in _left_ms(redis, old, batch):
        async with redis.pipeline(transaction=False) as pipe:
            for reader, ttl_ms in left:
                if ttl_ms > 0:
                    pipe.pexpire(new.home(reader), ttl_ms, gt=True)
                    pipe.pexpire(new.home_index(reader), ttl_ms, nx=True)  # pushes made it
                    pipe.pexpire(new.home_index(reader), ttl_ms, gt=True)
            await pipe.execute()


async def drop_copy(redis: Redis, base: RedisKeys, label: str, batch: int = 1000) -> None:
    """Unlink every key of copy ``label`` of the timelines (``base``: the prefix's
    layout, copy ``v1``'s)."""
    await unlink_copy(redis, base, TIMELINES, label, TIMELINE_KINDS,
                      exact=[base.projection_position(TIMELINES)], batch=batch)


async def differences(redis: Redis, live: RedisKeys, copy: RedisKeys, limit: int
                      ) -> list[dict[str, Any]]:
    """Every key the timeline projector owns whose contents differ between copies
    ``live`` and ``copy`` (``infra.redis_copies.differences``; the kept-marker is no
    member): ``table`` is the key's kind (``home``, ``authored``, ...)."""
    return await copy_differences(redis, live, copy, RedisKeys.timeline_patterns, limit,
                                  hidden={SENTINEL})
