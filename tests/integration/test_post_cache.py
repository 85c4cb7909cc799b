"""The Redis post cache and hydration: counts written after each commit, reader fills
that never overwrite newer counts, deleted posts gone, and one PostgreSQL load however
many readers miss the same post at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

import queries.hydration_cache as hydration_cache
from commands.bus import CommandBus
from commands.messages import Actor, DeletePost, SetLike
from domain.errors import NotFound
from infra.bootstrap import ProjectionServices
from infra.post_cache import RedisPostCache
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from ports.post_cache import PostBody
from projections.failures import is_transient
from queries.context import QueryContext
from queries.hydration import hydrate, load_from_postgres, post_bodies
from queries.posts import get_post
from tests.integration.conftest import signup, wait_until
from tests.integration.pipeline import (
    cached_counts,
    post,
    post_counts,
    project_new,
    query_context,
    read_models,
    repost,
    stored_events,
)

Loaded = dict[int, hydration_cache.Loaded]


def like(bus: CommandBus, actor: Actor, post_id: int, active: bool = True) -> None:
    bus.handle(SetLike(actor=actor, post_id=post_id, active=active))


class CountingLoads:
    """The query context's post loader (``QueryContext.load_posts``), wrapping the read
    model's (``queries.hydration.load_from_postgres``): counts calls and the ids asked
    for, and can hold each load until ``release`` is set."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.after_load: Any = None

    def into(self, ctx: QueryContext) -> QueryContext:
        """``ctx`` loading its posts through this wrapper."""
        return replace(ctx, load_posts=self)

    async def __call__(self, ctx: QueryContext, post_ids: list[int]) -> Loaded:
        self.calls.append(list(post_ids))
        loaded = await load_from_postgres(ctx, post_ids)
        if self.after_load is not None:  # e.g. a write that commits meanwhile
            await self.after_load()
        await self.release.wait()
        return loaded


def count_misses(monkeypatch: pytest.MonkeyPatch, ctx: QueryContext) -> list[int]:
    """Count the readers' cache lookups that have returned. Once all have, every reader
    is past its lookup: loading, or waiting for the load under way (the step from the
    lookup to either needs no I/O)."""
    cache = ctx.post_cache
    assert cache is not None
    done = [0]
    original = cache.get_many

    async def counted(post_ids: Any, bodies_needed: Any) -> Any:
        found = await original(post_ids, bodies_needed)
        done[0] += 1
        return found

    monkeypatch.setattr(cache, "get_many", counted)
    return done


# --- counts written by the projector ------------------------------------------------------


async def test_the_cache_holds_the_counts_postgresql_committed(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    author, fan, other = (signup(bus, n) for n in ("author", "fan", "other"))
    p = post(bus, author, "p")
    await project_new(services)
    like(bus, fan, p)
    await project_new(services)
    assert await cached_counts(services, keys, p) == await post_counts(services, p) == {
        "likes_count": 1, "replies_count": 0, "reposts_count": 0, "deleted": 0}
    assert 0 < await services.redis.ttl(keys.post_counts(p)) <= 3600

    like(bus, other, p)
    repost(bus, other, p)
    post(bus, fan, "a reply", reply_to_id=p)  # the parent's replies_count
    await project_new(services)
    assert await cached_counts(services, keys, p) == await post_counts(services, p) == {
        "likes_count": 2, "replies_count": 1, "reposts_count": 1, "deleted": 0}
    like(bus, fan, p, active=False)
    await project_new(services)
    assert (await cached_counts(services, keys, p))["likes_count"] == 1

    ctx = query_context(services, settings)
    shown = await get_post(ctx, p, fan.account_id)
    assert (shown["likes_count"], shown["replies_count"], shown["reposts_count"]) == (1, 1, 1)
    assert shown["liked"] is False
    by_other = await get_post(ctx, p, other.account_id)
    assert (by_other["liked"], by_other["reposted"]) == (True, True)
    assert await services.redis.exists(keys.post(p))  # the reader cached the body

    bus.handle(DeletePost(actor=author, post_id=p))
    await project_new(services)
    assert (await cached_counts(services, keys, p))["deleted"] == 1
    assert not await services.redis.exists(keys.post(p))  # the body is dropped with it


async def test_a_cache_that_cannot_be_told_the_counts_rolls_the_apply_back(
    bus: CommandBus, services: ProjectionServices, keys: RedisKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The post cache learns a post's counts before the read models' position moves
    past the event that changed them: Redis gone (or out of memory) rolls the
    apply back to be retried, never parks the event, and never leaves the cache
    stale behind a committed position (a read with Roost-Min-Position would then
    show an old count)."""
    author, fan = signup(bus, "author"), signup(bus, "fan")
    p = post(bus, author, "p")
    await project_new(services)
    projector = read_models(services)
    assert isinstance(projector.counts_sink, RedisPostCache)
    like(bus, fan, p)
    before = await projector.position()
    events = await stored_events(services.pool, before)
    with monkeypatch.context() as patch:
        patch.setattr(projector.counts_sink.redis, "pipeline", lambda **_: _Failing())
        with pytest.raises(Exception) as raised:
            await projector.apply_batch(events)
        assert is_transient(raised.value)  # the runner retries it, parks nothing
    assert await projector.position() == before  # nothing committed
    assert (await post_counts(services, p))["likes_count"] == 0

    await projector.apply_batch(events)  # Redis is back: the retry
    assert await projector.position() == events[-1].position
    assert (await cached_counts(services, keys, p))["likes_count"] == 1


class _Failing:
    """A Redis pipeline whose every call fails as an unreachable server does."""

    async def __aenter__(self) -> _Failing:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def __getattr__(self, _name: str) -> Any:
        return lambda *args, **kwargs: None

    async def execute(self) -> None:
        raise RedisConnectionError("Connection refused")


async def test_a_reader_fill_never_overwrites_newer_counts(
    services: ProjectionServices, keys: RedisKeys
) -> None:
    cache = RedisPostCache(services.redis, keys, ttl_s=60)
    body: PostBody = {"id": 7, "author_id": 1, "text": "t",
                      "created_at": "2026-11-25T00:00:00.000Z",
            "reply_to_id": None, "quote_of_id": None, "mentions": [], "hashtags": []}
    newer = {"likes_count": 5, "replies_count": 1, "reposts_count": 2, "deleted": 0}
    stale = {"likes_count": 3, "replies_count": 0, "reposts_count": 0, "deleted": 0}

    await cache.set_counts({7: newer})  # the projector, after its commit
    await cache.fill({7: body}, {7: stale})  # a reader who loaded before that commit
    bodies, counts = await cache.get_many([7], [7])
    assert counts == {7: newer}
    assert bodies == {7: body}  # the body is filled all the same: it never changes

    await cache.fill({}, {8: stale})  # nothing there yet: the reader's fill counts
    assert (await cache.get_many([8], []))[1] == {8: stale}
    assert 0 < await services.redis.ttl(keys.post_counts(8)) <= 60
    await cache.set_counts({8: newer})  # and the projector's counts replace it
    assert (await cache.get_many([8], []))[1] == {8: newer}

    await cache.set_counts({7: {**newer, "deleted": 1}})
    assert not await services.redis.exists(keys.post(7))
    assert (await cache.get_many([7], [7])) == ({}, {7: {**newer, "deleted": 1}})


async def test_a_read_racing_a_like_does_not_put_the_old_count_back(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys,
) -> None:
    author, fan = signup(bus, "author"), signup(bus, "fan")
    p = post(bus, author, "p")
    await project_new(services)
    loads = CountingLoads()
    ctx = loads.into(query_context(services, settings))

    async def like_commits_meanwhile() -> None:
        like(bus, fan, p)
        await project_new(services)  # the projector writes likes_count=1 to the cache

    loads.after_load = like_commits_meanwhile
    first = await post_bodies(ctx, [p])
    assert first[p][1]["likes_count"] == 0  # this reader loaded before the like
    assert loads.calls == [[p]]
    loads.after_load = None
    assert await cached_counts(services, keys, p) == {
        "likes_count": 1, "replies_count": 0, "reposts_count": 0, "deleted": 0}
    again = await post_bodies(ctx, [p])
    assert again[p][1]["likes_count"] == 1
    assert loads.calls == [[p]]  # served from the cache


# --- deleted posts ------------------------------------------------------------------------


async def test_deleted_posts_vanish_from_hydration_wherever_they_were_cached(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys
) -> None:
    author, fan = signup(bus, "author"), signup(bus, "fan")
    doomed, kept = post(bus, author, "doomed"), post(bus, author, "kept")
    rp = repost(bus, fan, doomed)
    await project_new(services)
    ctx = query_context(services, settings)
    items: list[tuple[int, int | None]] = [(doomed, None), (rp, doomed), (kept, None)]
    assert [i["id"] for i in await hydrate(ctx, items, fan.account_id)] == [
        str(doomed), str(rp), str(kept)]
    assert doomed in ctx.hydration.bodies  # cached in this process and in Redis
    assert await services.redis.exists(keys.post(doomed))

    bus.handle(DeletePost(actor=author, post_id=doomed))
    await project_new(services)
    for reader in (fan.account_id, None):
        assert [i["id"] for i in await hydrate(ctx, items, reader)] == [str(kept)]
    with pytest.raises(NotFound):
        await get_post(ctx, doomed, None)
    # with the counts evicted it is read from PostgreSQL again: still gone
    await services.redis.unlink(keys.post_counts(doomed))
    assert [i["id"] for i in await hydrate(ctx, items, None)] == [str(kept)]
    # and with no cache at all (a context of its own has its own, empty, local cache)
    bare = QueryContext(services.pool, ctx.timelines, ctx.event_log)
    assert not bare.hydration.bodies
    assert [i["id"] for i in await hydrate(bare, items, None)] == [str(kept)]


async def test_each_query_context_keeps_its_own_hot_bodies(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    author = signup(bus, "author")
    p = post(bus, author, "hot")
    await project_new(services)
    one, other = query_context(services, settings), query_context(services, settings)
    assert set(await post_bodies(one, [p])) == {p}
    assert p in one.hydration.bodies
    assert p not in other.hydration.bodies and one.hydration is not other.hydration


# --- single flight ------------------------------------------------------------------------


async def test_concurrent_reads_of_an_uncached_post_load_it_from_postgresql_once(
    bus: CommandBus, services: ProjectionServices, settings: Settings, keys: RedisKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    author = signup(bus, "author")
    p, q = post(bus, author, "hot"), post(bus, author, "also read")
    await project_new(services)
    await services.redis.unlink(keys.post_counts(p), keys.post_counts(q))  # nothing cached
    loads = CountingLoads()
    ctx = loads.into(query_context(services, settings))
    loads.release.clear()  # hold the first load until every reader has missed the cache

    misses = count_misses(monkeypatch, ctx)
    readers = 25
    tasks = [asyncio.create_task(post_bodies(ctx, [p] if i % 2 else [p, q]))
             for i in range(readers)]
    await wait_until(lambda: misses[0] == readers, message="every reader to miss the cache")
    assert len(loads.calls) == 1  # the others wait for the load under way
    loads.release.set()
    results = await asyncio.gather(*tasks)
    assert len(loads.calls) == 1 and sorted(loads.calls[0]) == sorted([p, q])
    for i, result in enumerate(results):
        assert set(result) == ({p} if i % 2 else {p, q})
        assert result[p][0]["text"] == "hot"
    assert ctx.hydration.in_flight == {}
    # filled for everyone: a later reader in another process (no local cache) needs no load
    ctx.hydration.bodies.clear()
    assert set(await post_bodies(ctx, [p, q])) == {p, q}
    assert len(loads.calls) == 1


async def test_a_failed_load_fails_every_waiting_reader_and_is_not_remembered(
    bus: CommandBus, services: ProjectionServices, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    author = signup(bus, "author")
    p = post(bus, author, "p")
    await project_new(services)
    loads = CountingLoads()
    ctx = loads.into(query_context(services, settings))
    misses = count_misses(monkeypatch, ctx)
    outage = asyncio.Event()

    async def broken() -> None:
        await outage.wait()
        raise ConnectionError("the database went away")

    loads.after_load = broken
    tasks = [asyncio.create_task(post_bodies(ctx, [p])) for _ in range(5)]
    await wait_until(lambda: misses[0] == 5, message="every reader to miss the cache")
    assert len(loads.calls) == 1
    outage.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results), results
    assert ctx.hydration.in_flight == {}
    loads.after_load = None
    assert set(await post_bodies(ctx, [p])) == {p}  # the next read loads afresh
    assert len(loads.calls) == 2
