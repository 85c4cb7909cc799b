"""A page's post-cache and facts-cache reads in one pipeline (port
``ports.page_facts.PageReads``).

Each Redis round trip costs the API a fixed share of CPU in redis-py (a pool
checkout, a task to send, a timeout per reply: 10-13 % of a warm home read each,
docs/performance.md). Hydration of a page whose bodies the process holds knows its
authors, parents and the reader's pairs before it reads the counts, so both
caches' commands go in one pipeline: each adapter queues its own and reads its own
replies (``queue_get_many``, ``queue_get``), so neither's key layout leaks here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.client import Pipeline

from infra.lua import Answer, answered
from infra.page_facts import RedisFactsCache
from infra.post_cache import GET_MANY, RedisPostCache
from ports.page_facts import FactKeys, Facts
from ports.post_cache import Counts, PostBody

Page = tuple[dict[int, PostBody], dict[int, Counts], Facts]
"""Bodies and counts by post id, and the reader's facts."""


class RedisPageReads:
    """``PageReads`` over a ``RedisPostCache`` and a ``RedisFactsCache`` of one client."""

    def __init__(self, posts: RedisPostCache, facts: RedisFactsCache) -> None:
        if posts.redis is not facts.redis:
            raise ValueError("the post cache and the facts cache must share a client")
        self.posts = posts
        self.facts = facts
        self.redis = posts.redis

    def serves(self, posts: object, facts: object) -> bool:
        return posts is self.posts and facts is self.facts

    async def get(self, post_ids: Sequence[int], bodies_needed: Sequence[int],
                  keys: FactKeys) -> Page:
        def queue(pipe: Pipeline) -> Answer[Page]:
            posts = self.posts.queue_get_many(pipe, post_ids, bodies_needed)
            facts = self.facts.queue_get(pipe, keys)

            def read(replies: Sequence[Any]) -> Page:
                bodies, counts = posts.read(replies[:posts.replies])
                return bodies, counts, facts.read(replies[posts.replies:])

            return Answer(posts.replies + facts.replies, read)

        return await answered(self.redis, [GET_MANY], queue)
