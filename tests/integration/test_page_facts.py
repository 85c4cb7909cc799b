"""The facts cache in Redis against the read models in PostgreSQL, on random histories.

``tests/unit/test_page_facts.py`` on the real adapters: random histories through the
read-model projector (``infra.read_model_store``) handing its facts to Redis
(``infra.page_facts``) and counts to the post cache before each commit, readers
filling both between batches (some with what they read before a batch). Then every
cached fact equals the read models', hydration through the caches gives exactly what
``page_rows`` gives (with a held page's two cache reads apart, and in one round
trip), and a warm page makes no PostgreSQL round trip.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from infra.bootstrap import ProjectionServices
from infra.database import AsyncPool
from infra.page_facts import RedisFactsCache
from infra.page_reads import RedisPageReads
from infra.post_cache import RedisPostCache
from infra.read_model_reader import PostgresReadModelReader
from infra.read_model_store import PostgresReadModelStore
from infra.redis_keys import RedisKeys
from ports.page_facts import FactKeys, Facts
from ports.read_model_reader import MediaRow, PageRows, PostRow
from queries.context import QueryContext
from tests.fakes.timelines import FakeTimelineStore
from tests.unit.test_page_facts import check_caches, run_history
from tests.unit.test_queries_on_fake import NoLog


class CountingReader(PostgresReadModelReader):
    """Counts the round trips hydration makes to PostgreSQL."""

    calls: list[str]

    def __init__(self, pool: AsyncPool) -> None:
        super().__init__(pool)
        self.calls = []

    async def facts(self, keys: FactKeys) -> Facts:
        self.calls.append("facts")
        return await super().facts(keys)

    async def posts(self, post_ids: Sequence[int]) -> list[PostRow]:
        self.calls.append("posts")
        return await super().posts(post_ids)

    async def media(self, media_ids: Sequence[int]) -> list[MediaRow]:
        self.calls.append("media")
        return await super().media(media_ids)

    async def page_rows(self, reader_id: int | None, author_ids: Collection[int],
                        repost_ids: Sequence[int], post_ids: Sequence[int],
                        parent_ids: Sequence[int]) -> PageRows:
        self.calls.append("page_rows")
        return await super().page_rows(reader_id, author_ids, repost_ids, post_ids,
                                       parent_ids)


@pytest.mark.parametrize("joint", [False, True], ids=["apart", "one-round-trip"])
@pytest.mark.parametrize("seed", range(4))
async def test_the_cached_facts_are_the_read_models_and_hydrate_the_same(
    seed: int, joint: bool, pool: AsyncPool, services: ProjectionServices, keys: RedisKeys,
) -> None:
    """``joint``: a page whose bodies the context holds (each page's second hydration)
    reads both caches in one round trip (``infra.page_reads``)."""
    rnd = random.Random(seed)
    facts = RedisFactsCache(services.redis, keys, ttl_s=120, reader_ttl_s=120)
    posts = RedisPostCache(services.redis, keys, ttl_s=120)
    page_reads = RedisPageReads(posts, facts) if joint else None
    store = PostgresReadModelStore(pool)

    def context(cached: bool) -> tuple[QueryContext, CountingReader]:
        reader = CountingReader(pool)
        return QueryContext(reader, FakeTimelineStore(), NoLog(),
                            post_cache=posts if cached else None,
                            facts=facts if cached else None,
                            page_reads=page_reads if cached else None), reader

    history = await run_history(rnd, store, facts, posts, lambda: context(True))
    joint_reads: list[int] = []
    if page_reads is not None:
        read_both = page_reads.get

        async def counted(*args: Any) -> Any:
            joint_reads.append(1)
            return await read_both(*args)

        page_reads.get = counted  # type: ignore[method-assign,assignment]
    await check_caches(rnd, history, store, facts, context)
    assert bool(joint_reads) == joint  # the held pages were read in one round trip
