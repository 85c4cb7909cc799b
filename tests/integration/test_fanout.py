"""Hybrid fan-out against real Redis and PostgreSQL: reposts, the Lua push, celebrities,
the home-timeline merge and rebuilt timelines.

Commands run through ``build_command_bus``; the stored envelopes are read back
with ``read_envelopes`` and applied to the projectors of ``build_projections``
(read models first, then timelines, event by event, as the agents would).
Readers are made kept with ``queries.timelines.keep_timeline``, as their first
home-timeline read would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from commands.bus import CommandBus
from commands.messages import Actor, DeletePost, SetBlock, SetFollow, SetMute
from infra.bootstrap import ProjectionServices, build_command_bus, build_projections
from infra.redis_keys import SENTINEL, RedisKeys, member
from infra.settings import Settings
from infra.timeline_store import RedisTimelineStore
from queries.context import QueryContext
from queries.shapes import Page, Post
from queries.timelines import home_timeline, rebuild_timeline
from tests.integration.conftest import SettingsFactory, close_bus, signup, store_max_position
from tests.integration.pipeline import (
    apply_all,
    dump_redis,
    flatten,
    home_ids,
    home_index,
    home_items,
    home_members,
    is_kept,
    keep,
    page_through,
    post,
    project_new,
    query_context,
    repost,
    stored_events,
    timelines,
    unrepost,
    zset_ids,
    zset_members,
)


@dataclass
class Env:
    settings: Settings
    bus: CommandBus
    services: ProjectionServices
    keys: RedisKeys
    ctx: QueryContext

    def signup(self, *names: str) -> list[Actor]:
        return [signup(self.bus, name) for name in names]

    async def project(self) -> None:
        await project_new(self.services)

    async def home(self, reader: Actor) -> list[tuple[int, int | None]]:
        return await home_items(self.services.redis, self.keys, reader.account_id)

    async def served(self, reader: Actor, limit: int = 100) -> list[str]:
        """Every item id the home timeline serves, paging with ``limit``."""
        async def fetch(cursor: str | None, size: int) -> Page[Post]:
            return await home_timeline(self.ctx, reader.account_id, cursor, size)
        return flatten(await page_through(fetch, limit))


async def make_env(settings: Settings) -> tuple[Env, ProjectionServices, CommandBus]:
    bus = build_command_bus(settings)
    services = await build_projections(settings)
    keys = RedisKeys(settings.redis_prefix)
    return Env(settings, bus, services, keys, query_context(services, settings)), services, bus


@pytest.fixture
async def env(settings: Settings) -> AsyncIterator[Env]:
    made, services, bus = await make_env(settings)
    try:
        yield made
    finally:
        close_bus(bus)
        await services.close()


@pytest.fixture
async def famous(settings_factory: SettingsFactory) -> AsyncIterator[Env]:
    """Celebrities from the third follower on (``celebrity_threshold=2``)."""
    made, services, bus = await make_env(settings_factory(celebrity_threshold=2))
    try:
        yield made
    finally:
        close_bus(bus)
        await services.close()


def follow(e: Env, follower: Actor, *followees: Actor) -> None:
    for followee in followees:
        e.bus.handle(SetFollow(actor=follower, username=followee.username, active=True))


def unfollow(e: Env, follower: Actor, followee: Actor) -> None:
    e.bus.handle(SetFollow(actor=follower, username=followee.username, active=False))


def delete(e: Env, author: Actor, post_id: int) -> None:
    e.bus.handle(DeletePost(actor=author, post_id=post_id))


# --- reposts -----------------------------------------------------------------------------


async def test_a_post_shows_once_per_timeline_however_often_it_is_reposted(env: Env) -> None:
    author, b, c, only_reposters, author_fan, b_fan = env.signup(
        "author", "b", "c", "r1", "r2", "r3")
    await keep(env.ctx, author, b, c, only_reposters, author_fan, b_fan)
    follow(env, only_reposters, b, c)
    follow(env, author_fan, author, b)
    follow(env, b_fan, b)
    p = post(env.bus, author, "the original")
    rb = repost(env.bus, b, p)
    rc = repost(env.bus, c, p)
    assert p < rb < rc
    await env.project()

    assert await env.home(only_reposters) == [(rb, p)]  # c's repost: another one is there
    assert await env.home(author_fan) == [(p, None)]  # the post itself is there already
    assert await env.home(b_fan) == [(rb, p)]
    assert await env.home(b) == [(rb, p)]  # a repost reaches the reposter's own timeline
    assert await env.home(c) == [(rc, p)]
    assert await env.home(author) == [(p, None)]
    index = await home_index(env.services.redis, env.keys, only_reposters.account_id)
    assert index == {member(p): member(rb, p)}

    # redelivery of everything changes nothing
    before = await dump_redis(env.services.redis, env.settings.redis_prefix)
    await apply_all(env.services, await stored_events(env.services.pool), times=2)
    assert await dump_redis(env.services.redis, env.settings.redis_prefix) == before

    # served as a repost item: its own id, the reposter as author, the original inside
    page = await home_timeline(env.ctx, only_reposters.account_id, None, 20)
    [item] = page["items"]
    assert (item["id"], item["author"]["username"]) == (str(rb), "b")
    original = item["repost_of"]
    assert original is not None
    assert original["id"] == str(p)
    assert original["author"]["username"] == "author"
    assert original["reposts_count"] == 2


async def test_undoing_a_repost_removes_it_and_reposting_again_shows_it_anew(env: Env) -> None:
    author, b, reader = env.signup("author", "b", "reader")
    await keep(env.ctx, b, reader)
    follow(env, reader, b)
    p = post(env.bus, author, "p")
    rb = repost(env.bus, b, p)
    await env.project()
    assert await env.home(reader) == [(rb, p)]

    unrepost(env.bus, b, p)
    await env.project()
    assert await env.home(reader) == []
    assert await env.home(b) == []
    assert await home_index(env.services.redis, env.keys, reader.account_id) == {}
    assert await zset_members(env.services.redis, env.keys.authored(b.account_id)) == []
    assert await env.served(reader) == []

    again = repost(env.bus, b, p)  # a fresh item id: it appears anew at the top
    newer = post(env.bus, author, "newer, not followed")
    assert again > rb and newer > again
    await env.project()
    assert await env.home(reader) == [(again, p)]
    assert await env.served(reader) == [str(again)]


async def test_deleting_a_post_removes_it_and_every_repost_of_it_from_every_timeline(
    env: Env,
) -> None:
    author, b, c, fan, b_fan, c_fan = env.signup("author", "b", "c", "fan", "bfan", "cfan")
    readers = (author, b, c, fan, b_fan, c_fan)
    await keep(env.ctx, *readers)
    follow(env, fan, author)
    follow(env, b_fan, b)
    follow(env, c_fan, c)
    doomed, spared = post(env.bus, author, "doomed"), post(env.bus, author, "spared")
    reposts = {b.account_id: repost(env.bus, b, doomed), c.account_id: repost(env.bus, c, doomed)}
    spared_rb = repost(env.bus, b, spared)
    await env.project()
    assert (reposts[b.account_id], doomed) in await env.home(b_fan)
    assert (reposts[c.account_id], doomed) in await env.home(c_fan)
    assert await env.services.redis.exists(env.keys.reposts_of(doomed))

    delete(env, author, doomed)
    await env.project()
    for reader in readers:
        for item, original in await env.home(reader):
            assert doomed not in (item, original), reader.username
        assert member(doomed) not in await home_index(
            env.services.redis, env.keys, reader.account_id)
    assert await env.home(b_fan) == [(spared_rb, spared)]
    assert await env.home(c_fan) == []
    assert await env.home(fan) == [(spared, None)]
    for reposter in (b, c):
        assert reposts[reposter.account_id] not in await zset_ids(
            env.services.redis, env.keys.authored(reposter.account_id))
    assert not await env.services.redis.exists(env.keys.reposts_of(doomed))
    assert await env.served(b_fan) == [str(spared_rb)]
    # a later follower of a reposter does not get it back by backfill
    [late] = env.signup("late")
    await keep(env.ctx, late)
    follow(env, late, c)
    await env.project()
    assert await env.home(late) == []


async def test_undoing_one_of_two_followed_reposts_leaves_the_other_shown(env: Env) -> None:
    author, b, c, reader = env.signup("author", "b", "c", "reader")
    await keep(env.ctx, reader)
    follow(env, reader, b, c)
    p = post(env.bus, author, "p")
    repost(env.bus, b, p)
    rc = repost(env.bus, c, p)
    unrepost(env.bus, b, p)
    await env.project()
    assert await env.home(reader) == [(rc, p)]


async def test_unfollowing_a_reposter_keeps_the_post_of_a_followed_author(env: Env) -> None:
    author, b, reader = env.signup("author", "b", "reader")
    await keep(env.ctx, reader)
    follow(env, reader, b)
    p = post(env.bus, author, "p")
    repost(env.bus, b, p)
    follow(env, reader, author)
    unfollow(env, reader, b)
    await env.project()
    assert await env.home(reader) == [(p, None)]


# --- the Lua push and removal -----------------------------------------------------------


async def test_push_skips_timelines_that_are_not_kept_trims_and_keeps_its_index(
    env: Env,
) -> None:
    redis, keys = env.services.redis, env.keys
    store = RedisTimelineStore(redis, keys, max_entries=4)
    kept, away = 101, 102
    await redis.zadd(keys.home(kept), {SENTINEL: 0})
    await store.push([kept, away], [(10, None)])
    assert await zset_members(redis, keys.home(kept)) == [SENTINEL, member(10)]
    assert not await redis.exists(keys.home(away), keys.home_index(away))  # not created
    await store.push([away], [(10, None)], only_kept=False)  # rebuilds may create
    assert await zset_members(redis, keys.home(away)) == [member(10)]

    # one item per original, the oldest: a repost of a shown post is skipped, a
    # newer repost of a reposted post too, and the post itself replaces its repost
    repost_20 = (30, 20)
    shown_20 = member(*repost_20)
    await store.push([kept], [repost_20, (31, 10), (32, 20)])
    assert await zset_members(redis, keys.home(kept)) == [SENTINEL, member(10), shown_20]
    assert await home_index(redis, keys, kept) == {member(20): shown_20}
    await store.push([kept], [repost_20])  # pushing the same item again: no change
    assert await zset_members(redis, keys.home(kept)) == [SENTINEL, member(10), shown_20]
    await store.push([kept], [(20, None)])
    assert await zset_members(redis, keys.home(kept)) == [SENTINEL, member(10), member(20)]
    assert await home_index(redis, keys, kept) == {}
    await store.push([kept], [repost_20])  # the post itself is shown: skipped
    assert await zset_members(redis, keys.home(kept)) == [SENTINEL, member(10), member(20)]

    # trimmed to 4 members, oldest first; a trimmed repost leaves the index too
    await store.push([kept], [(i, None) for i in (40, 50, 60)])
    assert await zset_members(redis, keys.home(kept)) == [
        member(20), member(40), member(50), member(60)]
    await store.push([kept], [(70, None)])
    assert await zset_members(redis, keys.home(kept)) == [
        member(40), member(50), member(60), member(70)]
    assert await home_index(redis, keys, kept) == {}
    # with its repost trimmed away, the post itself may show again
    await store.push([kept], [(80, 20)])
    assert await home_index(redis, keys, kept) == {member(20): member(80, 20)}

    # removal takes the item and, when it is the one shown, its index entry
    await store.remove([kept], [(80, 20), (40, None)])
    assert await zset_members(redis, keys.home(kept)) == [member(50), member(60), member(70)]
    assert await home_index(redis, keys, kept) == {}


async def test_a_timeline_emptied_by_removals_is_rebuilt_on_the_next_read(
    settings_factory: SettingsFactory,
) -> None:
    """Trimming can take the kept-marker; a timeline then emptied by removals no longer
    exists, so pushes skip it, and the reader's next read rebuilds it completely."""
    e, services, bus = await make_env(settings_factory(timeline_max_entries=3))
    try:
        author, reader = e.signup("author", "reader")
        await keep(e.ctx, reader)
        follow(e, reader, author)
        ps = [post(e.bus, author, f"p{i}") for i in range(3)]
        await e.project()
        assert await zset_members(e.services.redis, e.keys.home(reader.account_id)) == [
            member(i) for i in ps]  # the marker was the oldest member: trimmed first
        unfollow(e, reader, author)
        await e.project()
        assert not await is_kept(e.services.redis, e.keys, reader.account_id)
        q = post(e.bus, author, "q")
        follow(e, reader, author)  # the backfill finds no kept timeline
        await e.project()
        assert not await is_kept(e.services.redis, e.keys, reader.account_id)
        assert await e.served(reader, limit=2) == [str(q), str(ps[2]), str(ps[1])]
        assert await is_kept(e.services.redis, e.keys, reader.account_id)
    finally:
        close_bus(bus)
        await services.close()


# --- celebrities ------------------------------------------------------------------------------


async def test_a_celebritys_posts_are_pulled_at_read_time_not_pushed(famous: Env) -> None:
    e = famous
    star, f1, f2, f3 = e.signup("star", "f1", "f2", "f3")
    await keep(e.ctx, star, f1, f2, f3)
    follow(e, f1, star)
    follow(e, f2, star)
    before = post(e.bus, star, "while ordinary")
    await e.project()
    assert await e.home(f1) == [(before, None)]
    assert not await e.services.redis.sismember(e.keys.celebrities(), str(star.account_id))

    follow(e, f3, star)  # 3 > 2 followers: a celebrity from now on
    await e.project()
    assert await e.services.redis.sismember(e.keys.celebrities(), str(star.account_id))
    assert await e.services.redis.get(e.keys.celebrity_since(star.account_id)) == member(
        before).encode()
    assert await e.home(f3) == []  # no backfill from a celebrity: pulled instead

    famous_posts = [post(e.bus, star, f"famous {i}") for i in range(3)]
    await e.project()
    for fan in (f1, f2, f3):  # nothing pushed to followers...
        assert (famous_posts[0], None) not in await e.home(fan)
    assert await e.home(star) == [(before, None), *((i, None) for i in famous_posts)]
    expected = [str(i) for i in reversed(famous_posts)] + [str(before)]
    for fan in (f1, f2, f3):  # ...but every follower reads them, merged, each post once
        for limit in (2, 3, 100):
            assert await e.served(fan, limit) == expected, (fan.username, limit)


async def test_falling_back_below_the_threshold_pushes_what_was_only_pulled(
    famous: Env,
) -> None:
    e = famous
    star, f1, f2, f3, other = e.signup("star", "f1", "f2", "f3", "other")
    await keep(e.ctx, star, f1, f2, f3)
    follow(e, f2, other)
    for fan in (f1, f2, f3):
        follow(e, fan, star)
    await e.project()
    assert await e.services.redis.sismember(e.keys.celebrities(), str(star.account_id))
    while_famous = [post(e.bus, star, f"famous {i}") for i in range(3)]
    mixed_in = post(e.bus, other, "other's")
    await e.project()
    assert await home_ids(e.services.redis, e.keys, f2.account_id) == [mixed_in]

    unfollow(e, f1, star)  # back to 2 followers: pushed again, and what was missed too
    await e.project()
    assert not await e.services.redis.sismember(e.keys.celebrities(), str(star.account_id))
    assert not await e.services.redis.exists(e.keys.celebrity_since(star.account_id))
    assert await home_ids(e.services.redis, e.keys, f2.account_id) == sorted(
        [*while_famous, mixed_in])
    assert await home_ids(e.services.redis, e.keys, f3.account_id) == while_famous
    assert await home_ids(e.services.redis, e.keys, f1.account_id) == []  # unfollowed
    after = post(e.bus, star, "ordinary again")
    await e.project()
    for fan in (f2, f3):
        assert (await home_ids(e.services.redis, e.keys, fan.account_id))[-1] == after
    assert await e.served(f1) == []
    assert await e.served(f2) == [str(i) for i in sorted([*while_famous, mixed_in, after],
                                                          reverse=True)]


async def test_a_follower_who_followed_a_celebrity_keeps_its_older_posts_after_demotion(
    famous: Env,
) -> None:
    e = famous
    star, f1, f2, f3 = e.signup("star", "f1", "f2", "f3")
    await keep(e.ctx, f1, f2, f3)
    p1 = post(e.bus, star, "p1")
    for fan in (f1, f2, f3):
        follow(e, fan, star)
    p2 = post(e.bus, star, "p2")
    await e.project()
    assert await e.served(f3) == [str(p2), str(p1)]  # pulled while a celebrity
    unfollow(e, f1, star)
    await e.project()
    assert await e.served(f3) == [str(p2), str(p1)]


async def test_the_merge_of_pushed_and_pulled_items_pages_exactly(famous: Env) -> None:
    e = famous
    reader, a, b, s1, s2, x, y = e.signup("reader", "a", "b", "s1", "s2", "x", "y")
    await keep(e.ctx, reader)
    follow(e, reader, a, b, s1)
    follow(e, x, s1)
    posts: list[int] = [post(e.bus, s1, "s1 before it was famous")]  # pushed, then pulled too
    posts.append(post(e.bus, s2, "s2 before reader followed"))
    follow(e, y, s1)  # s1: 3 followers
    follow(e, x, s2)
    follow(e, y, s2)
    follow(e, reader, s2)  # s2: 3 followers, no backfill
    authors = [a, s1, b, s2, s1, a, reader, s2, b, s1]
    written: dict[int, Actor] = {}
    for round_ in range(4):
        for i, author in enumerate(authors):
            written[post(e.bus, author, f"round {round_} post {i}")] = author
    posts.extend(written)
    deleted = {posts[5], posts[17], posts[24], posts[31]}
    assert {written[i] for i in deleted} == {s2, a, b, s1}  # pushed and pulled ones
    for victim in deleted:
        delete(e, written[victim], victim)
    await e.project()
    celebrities = {int(c) for c in await e.services.redis.smembers(e.keys.celebrities())}
    assert celebrities == {s1.account_id, s2.account_id}
    home = set(await home_ids(e.services.redis, e.keys, reader.account_id))
    assert posts[0] in home and posts[1] not in home  # pushed before s1's promotion only
    expected = [str(i) for i in sorted(set(posts) - deleted, reverse=True)]
    assert len(expected) == 38
    for limit in (3, 4, 5, 7, 10, 20, 100):  # 38 is a multiple of none of them
        pages = await page_through(
            lambda cursor, size: home_timeline(e.ctx, reader.account_id, cursor, size), limit)
        assert flatten(pages) == expected, f"limit={limit}"
        assert all(len(page) == limit for page in pages[:-1])


async def star_and_reader(e: Env) -> tuple[Actor, Actor, Actor]:
    """A kept reader who follows ``a`` and ``star``, a celebrity (three followers)."""
    reader, a, star, x, y = e.signup("reader", "a", "star", "x", "y")
    await keep(e.ctx, reader)
    follow(e, reader, a, star)
    follow(e, x, star)
    follow(e, y, star)
    return reader, a, star


async def test_the_merge_shows_a_post_once_per_page_when_pushed_and_pulled(
    famous: Env,
) -> None:
    e = famous
    reader, a, star = await star_and_reader(e)
    p = post(e.bus, a, "pushed")
    q = post(e.bus, a, "pushed too")
    rp = repost(e.bus, star, p)  # pulled at read time
    await e.project()
    assert await e.home(reader) == [(p, None), (q, None)]
    page = await home_timeline(e.ctx, reader.account_id, None, 10)
    # One item per post, its oldest: the pushed post, not the celebrity's later repost.
    assert [item["id"] for item in page["items"]] == [str(q), str(p)]
    assert all(item["repost_of"] is None for item in page["items"])
    assert rp > p
    assert page["next_cursor"] is None


async def test_the_merge_shows_a_post_once_across_pages(famous: Env) -> None:
    e = famous
    reader, a, star = await star_and_reader(e)
    p = post(e.bus, a, "pushed")
    post(e.bus, a, "pushed too")
    repost(e.bus, star, p)
    await e.project()
    for limit in (1, 2):
        pages = await page_through(
            lambda cursor, size: home_timeline(e.ctx, reader.account_id, cursor, size), limit)
        originals = [await original_of(e, int(i)) for i in flatten(pages)]
        assert len(originals) == len(set(originals)), f"limit={limit}: {originals}"


async def test_a_pulled_post_wins_over_a_pushed_repost_of_it_on_any_page(
        famous: Env) -> None:
    """The celebrity's own post (pulled) is older than a followed reposter's repost
    (pushed): the post shows once, as itself, at its own place, whatever the limit."""
    e = famous
    reader, a, star = await star_and_reader(e)
    s = post(e.bus, star, "the star's post")
    a1 = post(e.bus, a, "a1")
    repost(e.bus, a, s)  # pushed to the reader, newer than a1
    await e.project()
    for limit in (1, 2, 10):
        served = await e.served(reader, limit=limit)
        assert served == [str(a1), str(s)], f"limit={limit}"


async def original_of(e: Env, item_id: int) -> int:
    async with e.services.pool.connection() as conn:
        cur = await conn.execute("SELECT post_id FROM rm_reposts WHERE repost_id = %s",
                                 (item_id,))
        row = await cur.fetchone()
    return int(row[0]) if row else item_id


async def test_many_muted_items_do_not_end_the_home_timeline(env: Env) -> None:
    reader, a, loud = env.signup("reader", "a", "loud")
    await keep(env.ctx, reader)
    follow(env, reader, a, loud)
    visible = post(env.bus, a, "worth reading")
    for i in range(12):
        post(env.bus, loud, f"noise {i}")
    env.bus.handle(SetMute(actor=reader, username="loud", active=True))
    await env.project()
    # more hidden items than one request examines (MAX_ROUNDS rounds of limit + 1): the
    # page may come back short or empty, but with a cursor to go on below them
    for limit in (1, 2, 20):
        assert await env.served(reader, limit=limit) == [str(visible)], limit
    env.bus.handle(SetMute(actor=reader, username="loud", active=False))
    await env.project()
    assert len(await env.served(reader, limit=5)) == 13


async def test_blocked_and_muted_authors_are_hidden_also_inside_reposts(env: Env) -> None:
    reader, a, b, m, x = env.signup("reader", "a", "b", "m", "x")
    await keep(env.ctx, reader)
    follow(env, reader, a, b, m)
    pa = post(env.bus, a, "from a")
    px = post(env.bus, x, "from x, whom the reader will block")
    rbx = repost(env.bus, b, px)
    pm = post(env.bus, m, "from m, whom the reader will mute")
    rbm = repost(env.bus, b, pm)  # skipped: pm itself is shown
    rma = repost(env.bus, m, pa)  # skipped: pa itself is shown
    pb = post(env.bus, b, "from b")
    await env.project()
    assert await env.served(reader) == [str(pb), str(pm), str(rbx), str(pa)]
    shown = {i for i, _ in await env.home(reader)}
    assert rbm not in shown and rma not in shown

    env.bus.handle(SetMute(actor=reader, username="m", active=True))
    env.bus.handle(SetBlock(actor=reader, username="x", active=True))
    await env.project()
    assert await env.served(reader) == [str(pb), str(pa)]
    for limit in (1, 2, 3):
        assert await env.served(reader, limit) == [str(pb), str(pa)]


# --- rebuilt timelines ------------------------------------------------------------------------


async def rebuilt(e: Env, reader: Actor) -> tuple[list[str], dict[str, str]]:
    """The reader's timeline and index as rebuild_timeline makes them from the read models."""
    redis = e.services.redis
    await redis.delete(e.keys.home(reader.account_id), e.keys.home_index(reader.account_id))
    await rebuild_timeline(e.ctx, reader.account_id)
    return (await home_members(redis, e.keys, reader.account_id),
            await home_index(redis, e.keys, reader.account_id))


async def test_a_rebuilt_timeline_equals_the_pushed_one(env: Env) -> None:
    reader, a, b, c, d, e_ = env.signup("reader", "a", "b", "c", "d", "e")
    await keep(env.ctx, reader)
    follow(env, reader, a, b, c)
    a1 = post(env.bus, a, "a1")
    b1 = post(env.bus, b, "b1")
    d1 = post(env.bus, d, "d1 (the reader never follows d)")
    rb = repost(env.bus, b, d1)  # shown as b's repost
    repost(env.bus, c, d1)  # skipped: already shown
    repost(env.bus, c, a1)  # skipped: a1 itself is there
    own = post(env.bus, reader, "mine")
    doomed = post(env.bus, a, "doomed")
    delete(env, a, doomed)
    gone = post(env.bus, c, "c1, then the reader unfollows c")
    unfollow(env, reader, c)
    b2 = post(env.bus, b, "b2")
    ra = repost(env.bus, a, b2)  # skipped: b2 itself is there...
    unrepost(env.bus, a, b2)  # ...so undoing it changes nothing
    e1, e2 = post(env.bus, e_, "e1"), post(env.bus, e_, "e2")
    follow(env, reader, e_)  # backfill
    await env.project()

    assert await env.home(reader) == [(a1, None), (b1, None), (rb, d1), (own, None),
                                      (b2, None), (e1, None), (e2, None)]
    assert {doomed, gone, ra}.isdisjoint(await home_ids(env.services.redis, env.keys,
                                                        reader.account_id))
    pushed = (await home_members(env.services.redis, env.keys, reader.account_id),
              await home_index(env.services.redis, env.keys, reader.account_id))
    served = await env.served(reader, limit=3)
    assert served == [str(i) for i in (e2, e1, b2, own, rb, b1, a1)]
    assert await rebuilt(env, reader) == pushed
    assert await env.served(reader, limit=3) == served


async def test_following_the_author_of_a_reposted_post_rebuilds_the_same(env: Env) -> None:
    reader, a, b = env.signup("reader", "a", "b")
    await keep(env.ctx, reader)
    follow(env, reader, b)
    p = post(env.bus, a, "p")
    repost(env.bus, b, p)
    follow(env, reader, a)
    await env.project()
    pushed = (await home_members(env.services.redis, env.keys, reader.account_id),
              await home_index(env.services.redis, env.keys, reader.account_id))
    assert await rebuilt(env, reader) == pushed


async def test_a_rebuilt_timeline_has_no_reposts_of_deleted_posts(env: Env) -> None:
    reader, a, b = env.signup("reader", "a", "b")
    await keep(env.ctx, reader)
    follow(env, reader, b)
    p = post(env.bus, a, "p")
    repost(env.bus, b, p)
    delete(env, a, p)
    await env.project()
    assert await env.home(reader) == []
    assert await rebuilt(env, reader) == ([], {})


async def test_a_rebuilt_timeline_serves_the_same_pages_with_celebrities(famous: Env) -> None:
    e = famous
    reader, a, star, x, y = e.signup("reader", "a", "star", "x", "y")
    await keep(e.ctx, reader)
    follow(e, reader, a, star)
    early = post(e.bus, star, "pushed before the promotion")
    follow(e, x, star)
    follow(e, y, star)
    posts = [post(e.bus, author, f"post {i}") for i, author in enumerate([a, star] * 4)]
    await e.project()
    served = await e.served(reader, limit=3)
    assert served == [str(i) for i in sorted([early, *posts], reverse=True)]
    await rebuilt(e, reader)  # celebrities' posts are left to the read-time merge
    assert early not in await home_ids(e.services.redis, e.keys, reader.account_id)
    assert await e.served(reader, limit=3) == served


async def test_follows_applied_in_one_batch_leave_what_one_at_a_time_leaves(
        famous: Env) -> None:
    """Consecutive follows are applied as a run (one pipeline, one push per follower):
    backfills, the promotion at the follow that crosses the threshold, and no
    backfill from the celebrity after it must be those of one event at a time."""
    r1, r2, r3, r4, a, b, c = famous.signup("r1", "r2", "r3", "r4", "a", "b", "c")
    a1, b1 = post(famous.bus, a, "a1"), post(famous.bus, b, "b1")
    repost(famous.bus, b, a1)  # r1 reaches a1 through a and through b's repost
    c1 = post(famous.bus, c, "c1")
    mark = store_max_position(famous.settings)
    follow(famous, r1, a, b, c)
    follow(famous, r2, a, b)
    follow(famous, r3, a)  # a's third follower: a becomes a celebrity here
    follow(famous, r4, a, c)  # so r4 gets c's items, not a's
    events = await stored_events(famous.services.pool)
    before = [e for e in events if e.position <= mark]
    follows = [e for e in events if e.position > mark]
    assert {e.type for e in follows} == {"Followed"} and len(follows) == 8
    projector = timelines(famous.services)

    async def state(batch: int) -> dict[str, Any]:
        await projector.reset()
        await keep(famous.ctx, r1, r2, r3, r4)
        for event in before:
            await projector.apply(event)
        for start in range(0, len(follows), batch):
            await projector.apply_batch(follows[start:start + batch])
        return await dump_redis(famous.services.redis, famous.settings.redis_prefix)

    one_at_a_time = await state(1)
    assert await state(len(follows)) == one_at_a_time
    assert await state(3) == one_at_a_time
    assert await famous.home(r1) == [(a1, None), (b1, None), (c1, None)]  # not rb
    assert await famous.home(r4) == [(c1, None)]  # nothing of the celebrity's
    assert await famous.services.redis.sismember(famous.keys.celebrities(), str(a.account_id))
