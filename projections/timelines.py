"""Redis home timelines, by fan-out on write.

The projector keeps its own follower sets and per-author recent posts in
Redis, fed by the same ordered event stream, so fan-out never races another
projection. Every write is a set operation (``ZADD``/``ZREM``/``SADD``/
``SREM`` of fixed members), so applying an event twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from infra.redis_keys import RedisKeys, member
from projections.envelope import EventEnvelope

NAME = "timelines"


class TimelineProjector:
    name = NAME

    def __init__(
        self, redis: Redis, keys: RedisKeys, max_entries: int = 800, backfill: int = 100,
        batch: int = 1000,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.max_entries = max_entries
        self.backfill = backfill
        self.batch = batch

    async def position(self) -> int:
        value = await self.redis.get(self.keys.projection_position(self.name))
        return int(value) if value else 0

    async def apply(self, event: EventEnvelope) -> None:
        if event.position <= await self.position():
            return
        await self.replay(event)
        await self.advance(event.position)

    async def replay(self, event: EventEnvelope) -> None:
        """The event's writes alone (idempotent), without touching the position."""
        p = event.payload
        if event.type == "PostCreated":
            await self._post_created(p["author_id"], p["post_id"])
        elif event.type == "PostDeleted":
            await self._post_deleted(p["author_id"], p["post_id"])
        elif event.type in ("Followed", "Refollowed"):
            await self._followed(p["follower_id"], p["followee_id"])
        elif event.type == "Unfollowed":
            await self._unfollowed(p["follower_id"], p["followee_id"])

    async def advance(self, position: int) -> None:
        key = self.keys.projection_position(self.name)
        # Only ever forward: GET-compare-SET in one script.
        await self.redis.eval(
            "local c = tonumber(redis.call('GET', KEYS[1]) or '0') "
            "if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end",
            1, key, position,
        )

    async def reset(self) -> None:
        for pattern in self.keys.timeline_patterns():
            batch: list[bytes] = []
            async for key in self.redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= self.batch:
                    await self.redis.unlink(*batch)
                    batch.clear()
            if batch:
                await self.redis.unlink(*batch)
        await self.redis.unlink(self.keys.projection_position(self.name))

    async def _audience(self, author_id: int) -> list[int]:
        followers = await self.redis.smembers(self.keys.followers(author_id))
        return [author_id, *(int(f) for f in followers)]

    async def _post_created(self, author_id: int, post_id: int) -> None:
        m = member(post_id)
        await self._push(self.keys.authored(author_id), m)
        await self._fan_out(await self._audience(author_id), m)

    async def _push(self, key: str, m: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {m: 0})
            pipe.zremrangebyrank(key, 0, -(self.max_entries + 1))
            await pipe.execute()

    async def _fan_out(self, readers: Iterable[int], m: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pending = 0
        for reader in readers:
            home = self.keys.home(reader)
            pipe.zadd(home, {m: 0})
            pipe.zremrangebyrank(home, 0, -(self.max_entries + 1))
            pending += 1
            if pending >= self.batch:
                await pipe.execute()
                pending = 0
        if pending:
            await pipe.execute()

    async def _post_deleted(self, author_id: int, post_id: int) -> None:
        m = member(post_id)
        readers = await self._audience(author_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.keys.authored(author_id), m)
        for index, reader in enumerate(readers, start=1):
            pipe.zrem(self.keys.home(reader), m)
            if index % self.batch == 0:
                await pipe.execute()
        await pipe.execute()

    async def _followed(self, follower_id: int, followee_id: int) -> None:
        recent = await self.redis.zrange(
            self.keys.authored(followee_id), "+", "-", desc=True, bylex=True,
            offset=0, num=self.backfill,
        )
        members = [m.decode() if isinstance(m, bytes) else str(m) for m in recent]
        home = self.keys.home(follower_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(self.keys.followers(followee_id), follower_id)
            if members:
                pipe.zadd(home, dict.fromkeys(members, 0))
                pipe.zremrangebyrank(home, 0, -(self.max_entries + 1))
            await pipe.execute()

    async def _unfollowed(self, follower_id: int, followee_id: int) -> None:
        authored = await self.redis.zrange(self.keys.authored(followee_id), 0, -1)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.srem(self.keys.followers(followee_id), follower_id)
            if authored:
                pipe.zrem(self.keys.home(follower_id), *authored)
            await pipe.execute()
