"""The contract of ``ports.post_cache.PostCache``."""

from __future__ import annotations

import pytest

from ports.errors import DependencyUnavailable
from ports.post_cache import COUNT_FIELDS, Counts, PostBody, PostCache


def body(post_id: int, reply_to_id: int | None = None) -> PostBody:
    return {"id": post_id, "author_id": 1, "text": "h\u00e9llo \U0001f426",
            "created_at": "2026-11-25T00:00:00.000Z", "reply_to_id": reply_to_id,
            "quote_of_id": None, "mentions": ["bob"], "hashtags": []}


def counts(likes: int = 0, replies: int = 0, reposts: int = 0, deleted: int = 0) -> Counts:
    return dict(zip(COUNT_FIELDS, (likes, replies, reposts, deleted), strict=True))


class PostCacheContract:
    """Fixtures: ``cache`` (an empty ``PostCache``) and ``unreachable`` (one whose store
    is down)."""

    async def test_an_empty_cache_has_nothing(self, cache: PostCache) -> None:
        assert await cache.get_many([1, 2], [1, 2]) == ({}, {})
        assert await cache.get_many([], []) == ({}, {})

    async def test_a_fill_is_read_back(self, cache: PostCache) -> None:
        await cache.fill({1: body(1), 2: body(2, reply_to_id=1)},
                         {1: counts(likes=3), 2: counts(replies=1)})
        assert await cache.get_many([1, 2, 3], [1, 2, 3]) == (
            {1: body(1), 2: body(2, reply_to_id=1)}, {1: counts(likes=3), 2: counts(replies=1)})

    async def test_bodies_are_read_only_where_asked_for(self, cache: PostCache) -> None:
        await cache.fill({1: body(1), 2: body(2)}, {1: counts(), 2: counts()})
        assert await cache.get_many([1, 2], [2]) == ({2: body(2)}, {1: counts(), 2: counts()})
        assert await cache.get_many([1], []) == ({}, {1: counts()})
        assert await cache.get_many([], [1]) == ({1: body(1)}, {})

    async def test_a_page_of_posts_gets_what_is_cached_of_each(self, cache: PostCache
                                                                  ) -> None:
        ids = list(range(100, 125))
        await cache.fill({i: body(i) for i in ids[::2]}, {i: counts(likes=i) for i in ids[::3]})
        assert await cache.get_many(ids, ids[:20]) == (
            {i: body(i) for i in ids[:20:2]}, {i: counts(likes=i) for i in ids[::3]})
        assert await cache.get_many(ids[:3], ids[5:9]) == (
            {i: body(i) for i in ids[6:9:2]}, {100: counts(likes=100)})

    async def test_a_body_and_its_counts_are_cached_apart(self, cache: PostCache) -> None:
        await cache.fill({1: body(1)}, {})
        await cache.fill({}, {2: counts(likes=1)})
        assert await cache.get_many([1, 2], [1, 2]) == ({1: body(1)}, {2: counts(likes=1)})

    async def test_a_read_returns_a_copy(self, cache: PostCache) -> None:
        await cache.fill({1: body(1)}, {1: counts()})
        bodies, found = await cache.get_many([1], [1])
        bodies[1]["text"], found[1]["likes_count"] = "changed", 99
        assert await cache.get_many([1], [1]) == ({1: body(1)}, {1: counts()})

    async def test_a_fill_never_overwrites_counts_already_there(self, cache: PostCache) -> None:
        newer, stale = counts(likes=5, replies=1, reposts=2), counts(likes=3)
        await cache.set_counts({7: newer})  # the projector, just before its commit
        await cache.fill({7: body(7)}, {7: stale})  # a reader who loaded before that
        assert await cache.get_many([7], [7]) == ({7: body(7)}, {7: newer})
        await cache.fill({}, {7: stale, 8: stale})  # where nothing is cached, it counts
        assert (await cache.get_many([7, 8], []))[1] == {7: newer, 8: stale}

    async def test_set_counts_replaces_what_is_there(self, cache: PostCache) -> None:
        await cache.fill({}, {8: counts(likes=3)})
        await cache.set_counts({8: counts(likes=4), 9: counts(reposts=1)})
        assert (await cache.get_many([8, 9], []))[1] == {8: counts(likes=4),
                                                         9: counts(reposts=1)}
        await cache.set_counts({8: counts(likes=2)})  # absolute values, not increments
        assert (await cache.get_many([8], []))[1] == {8: counts(likes=2)}

    async def test_a_post_marked_deleted_loses_its_body(self, cache: PostCache) -> None:
        await cache.fill({7: body(7), 8: body(8)}, {7: counts(), 8: counts()})
        await cache.set_counts({7: counts(likes=1, deleted=1)})
        assert await cache.get_many([7, 8], [7, 8]) == (
            {8: body(8)}, {7: counts(likes=1, deleted=1), 8: counts()})

    async def test_a_store_that_is_down_fails_set_counts_as_unavailable(
        self, unreachable: PostCache,
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            await unreachable.set_counts({1: counts(likes=1)})
