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
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from infra.lua import Answer, PipelinedScript, answered, load_script, pipelined
from infra.redis_clients import by_slot, is_cluster
from infra.redis_keys import RedisKeys
from ports.errors import DependencyUnavailable
from ports.post_cache import COUNT_FIELDS, Counts, PostBody

_FILL_COUNTS = load_script("infra", "post_cache_fill_counts")
GET_MANY = PipelinedScript(load_script("infra", "post_cache_get_many"))
"""``get_many``'s script, queued as a bare ``EVALSHA`` (``infra.lua.PipelinedScript``)."""
_PER_POST = 1 + len(COUNT_FIELDS)
"""Values per post in ``post_cache_get_many.lua``'s answer: the body, then the counts."""


class RedisPostCache:
    """``PostCache`` over one Redis: each call is one pipelined round trip."""

    def __init__(self, redis: Redis, keys: RedisKeys, ttl_s: int = 3600) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self._fill_counts = PipelinedScript(_FILL_COUNTS)
        self.cluster = is_cluster(redis)

    async def get_many(self, post_ids: Sequence[int], bodies_needed: Sequence[int]
                       ) -> tuple[dict[int, PostBody], dict[int, Counts]]:
        """Bodies for ``bodies_needed`` and counts for ``post_ids``, in one round trip:
        one ``post_cache_get_many.lua`` call on a single Redis, one per hash slot on a
        Redis Cluster (each post's keys have a slot of their own there).

        One call, not a ``GET`` and an ``HMGET`` per post: redis-py parses each reply
        of a pipeline under an asyncio timeout of its own, and for a page of 20 posts
        those 20-40 replies were ~15 % of the API's CPU per home read (py-spy,
        docs/performance.md)."""
        return await answered(self.redis, [GET_MANY],
                              lambda pipe: self.queue_get_many(pipe, post_ids, bodies_needed))

    def queue_get_many(self, pipe: Pipeline, post_ids: Sequence[int],
                       bodies_needed: Sequence[int]) -> Answer[
                           tuple[dict[int, PostBody], dict[int, Counts]]]:
        """``get_many``'s commands, queued on ``pipe`` (a bare ``EVALSHA``: run the
        pipeline under ``infra.lua.loading`` with ``GET_MANY``), for a caller that
        sends more in the same round trip; reads their replies."""
        wanted = set(bodies_needed)
        ids = list(dict.fromkeys([*post_ids, *bodies_needed]))
        groups = [group for group in by_slot(ids, self.keys.post, self.cluster) if group]
        for group in groups:
            keys = [key for i in group for key in (self.keys.post(i), self.keys.post_counts(i))]
            GET_MANY.queue(pipe, keys, [*("1" if i in wanted else "0" for i in group),
                                        *COUNT_FIELDS])
        counted = set(post_ids)

        def answer(replies: Sequence[Any]) -> tuple[dict[int, PostBody], dict[int, Counts]]:
            bodies: dict[int, PostBody] = {}
            counts: dict[int, Counts] = {}
            for group, reply in zip(groups, replies[:len(groups)], strict=True):
                for n, post_id in enumerate(group):
                    raw, *values = reply[n * _PER_POST:(n + 1) * _PER_POST]
                    if raw and post_id in wanted:
                        bodies[post_id] = orjson.loads(raw)
                    if post_id in counted and all(v is not None for v in values):
                        counts[post_id] = dict(zip(COUNT_FIELDS, map(int, values),
                                                   strict=True))
            return bodies, counts

        return Answer(len(groups), answer)

    async def fill(self, bodies: Mapping[int, PostBody], counts: Mapping[int, Counts]
                   ) -> None:
        """Store what a reader loaded from PostgreSQL (counts only where absent)."""
        def fill(pipe: Pipeline) -> None:  # again after NOSCRIPT: both are idempotent
            for post_id, body in bodies.items():
                pipe.set(self.keys.post(post_id), orjson.dumps(body), ex=self.ttl_s)
            for post_id, values in counts.items():
                flat = [part for field in COUNT_FIELDS for part in (field, values[field])]
                self._fill_counts.queue(pipe, [self.keys.post_counts(post_id)],
                                        [self.ttl_s, *flat])

        await pipelined(self.redis, [self._fill_counts], fill)

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
