"""The post cache in Redis (port ``ports.post_cache.PostCache``).

A post's body is one orjson value at ``post:{id}``; its counts and deleted
flag a small hash at ``postcounts:{id}`` that the read-model projector writes
with absolute values (``HSET``) after each change, so counts update without
rewriting the body, and a reader filling the cache never overwrites newer
counts (``post_cache_fill_counts.lua`` creates the hash only when missing).
Both expire after ``ttl_s`` (1 h), renewed by each projector write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.lua import load_script
from infra.redis_clients import queue_script
from infra.redis_keys import RedisKeys
from ports.errors import DependencyUnavailable
from ports.post_cache import COUNT_FIELDS, Counts, PostBody

_FILL_COUNTS = load_script("infra", "post_cache_fill_counts")


class RedisPostCache:
    """``PostCache`` over one Redis: each call is one pipelined round trip."""

    def __init__(self, redis: Redis, keys: RedisKeys, ttl_s: int = 3600) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self._fill_counts = redis.register_script(_FILL_COUNTS)

    async def get_many(self, post_ids: Sequence[int], bodies_needed: Sequence[int]
                       ) -> tuple[dict[int, PostBody], dict[int, Counts]]:
        """Bodies for ``bodies_needed`` and counts for ``post_ids``, in one round trip
        (a ``GET`` per body, not one ``MGET``: each post's keys have a slot of their own
        on a Redis Cluster)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for post_id in bodies_needed:
                pipe.get(self.keys.post(post_id))
            for post_id in post_ids:
                pipe.hmget(self.keys.post_counts(post_id), COUNT_FIELDS)
            replies = await pipe.execute()
        raw_bodies = replies[:len(bodies_needed)]
        bodies: dict[int, PostBody] = {
            i: orjson.loads(raw) for i, raw in zip(bodies_needed, raw_bodies, strict=True)
            if raw}
        counts = {
            post_id: dict(zip(COUNT_FIELDS, (int(v) for v in values), strict=True))
            for post_id, values in zip(post_ids, replies[len(bodies_needed):], strict=True)
            if all(v is not None for v in values)
        }
        return bodies, counts

    async def fill(self, bodies: Mapping[int, PostBody], counts: Mapping[int, Counts]
                   ) -> None:
        """Store what a reader loaded from PostgreSQL (counts only where absent)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for post_id, body in bodies.items():
                pipe.set(self.keys.post(post_id), orjson.dumps(body), ex=self.ttl_s)
            for post_id, values in counts.items():
                flat = [part for field in COUNT_FIELDS for part in (field, values[field])]
                await queue_script(self._fill_counts, pipe, [self.keys.post_counts(post_id)],
                                   [self.ttl_s, *flat])
            await pipe.execute()

    async def set_counts(self, counts: Mapping[int, Counts]) -> None:
        """Authoritative counts, from the projector just before its transaction commits.

        Raises:
            DependencyUnavailable: Redis failed (down, out of memory, read-only): the
                projector's transaction rolls back and is retried, nothing is parked.
        """
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for post_id, values in counts.items():
                    key = self.keys.post_counts(post_id)
                    pipe.hset(key, mapping={field: values[field] for field in COUNT_FIELDS})
                    pipe.expire(key, self.ttl_s)
                    if values["deleted"]:
                        # a command, not ``pipe.unlink``: a cluster pipeline's is a
                        # coroutine, and unawaited it would queue nothing
                        pipe.execute_command("UNLINK", self.keys.post(post_id))
                await pipe.execute()
        except RedisError as error:
            raise DependencyUnavailable(f"post cache: {error!r}") from error
